#include "lowbit/core/json_get.hpp"

#include <gtest/gtest.h>

#include "test_util.hpp"

namespace lowbit {
namespace {

using nlohmann::json;

TEST(JsonGet, IntegersAreTypedAndBounded) {
  const json j = json::parse(R"({"a": 7, "big": 9223372036854775807, "wrap": 18446744073709551615, "frac": 10.5,
                                 "neg": -3, "text": "7", "flag": true, "whole_float": 7.0})");
  EXPECT_EQ(json_int(j, "a", 1, 10, "w"), 7);
  EXPECT_EQ(json_int(j, "neg", -5, 5, "w"), -3);
  for (const char* bad : {"big", "wrap", "frac", "text", "flag", "whole_float"})
    testing::expect_error_naming([&] { json_int(j, bad, 1, 1000, "layer 2"); },
                                 std::string("layer 2: '") + bad + "' must be an integer in 1..1000, got");
  testing::expect_error_naming([&] { json_int(j, "a", 8, 10, "w"); }, "'a' must be an integer in 8..10, got 7");
  testing::expect_error_naming([&] { json_int(j, "neg", 0, 10, "w"); }, "got -3");
  testing::expect_error_naming([&] { json_int(j, "missing", 0, 10, "layer 3"); }, "layer 3: missing key 'missing'");
  EXPECT_EQ(json_int_or(j, "missing", 4, 0, 10, "w"), 4);
  testing::expect_error_naming([&] { json_int(json::array(), "a", 0, 1, "model"); }, "model must be a JSON object");
}

TEST(JsonGet, NumbersStringsBoolsAndArrays) {
  const json j = json::parse(R"({"x": 0.5, "n": "NaN", "s": "hi", "b": false, "v": [1, 2, 3], "bad": [1, 2.5]})");
  EXPECT_EQ(json_number(j, "x", 0, 1, "w"), 0.5);
  testing::expect_error_naming([&] { json_number(j, "x", 0.6, 1, "w"); }, "'x' must be a finite number in [0.6, 1]");
  testing::expect_error_naming([&] { json_number(j, "n", 0, 1, "w"); }, "'n' must be a finite number");
  EXPECT_EQ(json_string(j, "s", "w"), "hi");
  testing::expect_error_naming([&] { json_string(j, "x", "w"); }, "'x' must be a string, got 0.5");
  EXPECT_FALSE(json_bool(j, "b", "w"));
  testing::expect_error_naming([&] { json_bool(j, "x", "w"); }, "'x' must be true or false");
  EXPECT_EQ(json_ints(j, "v", 3, 0, 9, "w"), (std::vector<int64_t>{1, 2, 3}));
  testing::expect_error_naming([&] { json_ints(j, "v", 2, 0, 9, "w"); }, "at most 2 integers");
  testing::expect_error_naming([&] { json_ints(j, "bad", 3, 0, 9, "w"); }, "'bad'[1] must be an integer in 0..9, got 2.5");
}

}  // namespace
}  // namespace lowbit
