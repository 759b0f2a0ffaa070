// Per-class results (data/class_report.hpp): counts, ratios, undefined ratios, errors, and
// the text and JSON forms that `eval` and `run` print.
#include <gtest/gtest.h>

#include <cmath>
#include <sstream>
#include <string>
#include <vector>

#include "lowbit/core/error.hpp"
#include "lowbit/data/class_report.hpp"

namespace lowbit {
namespace {

TEST(ClassReport, CountsAndRatiosByHand) {
  // 3 classes; class 2 is never the truth, class 1 never predicted.
  const std::vector<int32_t> labels = {0, 0, 0, 1, 1, 0};
  const std::vector<int32_t> predicted = {0, 0, 2, 0, 0, 0};
  const data::ClassReport r = data::class_report(labels.data(), predicted.data(), 6, 3);
  EXPECT_EQ(r.images, 6);
  EXPECT_EQ(r.correct, 3);
  EXPECT_DOUBLE_EQ(r.accuracy(), 0.5);
  EXPECT_EQ(r.count(0, 0), 3);
  EXPECT_EQ(r.count(0, 2), 1);
  EXPECT_EQ(r.count(1, 0), 2);
  EXPECT_EQ(r.support(0), 4);
  EXPECT_EQ(r.support(1), 2);
  EXPECT_EQ(r.support(2), 0);
  EXPECT_EQ(r.predicted_as(0), 5);
  EXPECT_DOUBLE_EQ(r.class_accuracy(0), 0.75);
  EXPECT_DOUBLE_EQ(r.class_accuracy(1), 0.0);
  EXPECT_TRUE(std::isnan(r.class_accuracy(2)));  // no image of class 2
  EXPECT_DOUBLE_EQ(r.precision(0), 0.6);
  EXPECT_TRUE(std::isnan(r.precision(1)));  // nothing predicted as 1
  EXPECT_DOUBLE_EQ(r.precision(2), 0.0);
}

TEST(ClassReport, OutOfRangeLabelsAndPredictionsAreNamed) {
  const std::vector<int32_t> ok = {0, 1}, bad_label = {0, 3}, bad_pred = {-1, 0};
  try {
    data::class_report(bad_label.data(), ok.data(), 2, 3);
    FAIL() << "accepted label 3 of 3 classes";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("image 1: label 3 is not a class in 0..2"), std::string::npos) << e.what();
  }
  try {
    data::class_report(ok.data(), bad_pred.data(), 2, 3);
    FAIL() << "accepted prediction -1";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("image 0: prediction -1"), std::string::npos) << e.what();
  }
  EXPECT_THROW(data::class_report(ok.data(), ok.data(), 2, 0), Error);
}

TEST(ClassReport, TextHasTheTableAndTheMatrixWithNames) {
  const std::vector<int32_t> labels = {0, 1, 1}, predicted = {1, 1, 0};
  const data::ClassReport r = data::class_report(labels.data(), predicted.data(), 3, 2);
  const std::string text = data::format_class_report(r, {"cat", "dog"});
  EXPECT_NE(text.find("cat"), std::string::npos) << text;
  EXPECT_NE(text.find("0.5000"), std::string::npos) << text;   // dog: 1 of 2
  EXPECT_NE(text.find("0.0000"), std::string::npos) << text;   // cat: 0 of 1
  EXPECT_NE(text.find("confusion matrix"), std::string::npos) << text;
  // The matrix's row of "dog": one predicted as 0, one as 1.
  std::istringstream lines(text.substr(text.find("confusion matrix")));
  std::vector<std::string> dog_row;
  for (std::string line; std::getline(lines, line);) {
    std::istringstream words(line);
    std::vector<std::string> w;
    for (std::string t; words >> t;) w.push_back(t);
    if (!w.empty() && w[0] == "dog") dog_row = w;
  }
  EXPECT_EQ(dog_row, (std::vector<std::string>{"dog", "1", "1"})) << text;
  // Names that do not fit the class count are not used.
  EXPECT_NE(data::format_class_report(r, {"only one"}).find("  0 "), std::string::npos);
  // Too many classes: the matrix is left to --json.
  const std::string big = data::format_class_report(r, {}, 1);
  EXPECT_EQ(big.find("confusion matrix (rows"), std::string::npos) << big;
  EXPECT_NE(big.find("--json"), std::string::npos) << big;
}

TEST(ClassReport, JsonHasEveryClassAndNullForUndefinedRatios) {
  const std::vector<int32_t> labels = {0, 0}, predicted = {0, 1};
  const data::ClassReport r = data::class_report(labels.data(), predicted.data(), 2, 3);
  const nlohmann::json j = data::class_report_json(r, {});
  ASSERT_EQ(j["classes"].size(), 3u);
  EXPECT_EQ(j["classes"][0]["images"], 2);
  EXPECT_EQ(j["classes"][0]["correct"], 1);
  EXPECT_DOUBLE_EQ(j["classes"][0]["accuracy"].get<double>(), 0.5);
  EXPECT_TRUE(j["classes"][1]["accuracy"].is_null());
  EXPECT_DOUBLE_EQ(j["classes"][1]["precision"].get<double>(), 0.0);
  EXPECT_TRUE(j["classes"][2]["precision"].is_null());
  EXPECT_EQ(j["confusion"], nlohmann::json::parse("[[1,1,0],[0,0,0],[0,0,0]]"));
}

}  // namespace
}  // namespace lowbit
