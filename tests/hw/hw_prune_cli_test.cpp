// `lowbit hw plan` with --pruning, --prune-what-if, --prune-target and --zero-skip end to end:
// the eq 4.5-4.7 table and the ranking of CNV from preset flags, the what-if and Algorithm 3
// sections, the zero-skip report of a hand-built sparse .lbm, and the flag errors.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "cli/cli_util.hpp"
#include "lowbit/format/model_desc.hpp"

namespace lowbit {
namespace {

using testing::run_lowbit;

const char* kCnv = "--model cnv --input 3 32 32 --weights binary --acts binary --input-bits 8";

TEST(CliHwPrune, PruningTableAndRankingOfCnv) {
  const auto t = run_lowbit(std::string("hw plan ") + kCnv + " --board pynq-z1 --pruning");
  ASSERT_EQ(t.code, 0) << t.out;
  EXPECT_NE(t.out.find("Pruning costs (thesis eqs 4.5-4.7)"), std::string::npos) << t.out;
  EXPECT_NE(t.out.find("Binding resource: "), std::string::npos) << t.out;
  EXPECT_NE(t.out.find("Layers to prune, in order"), std::string::npos) << t.out;
  EXPECT_NE(t.out.find("28901376"), std::string::npos) << t.out;  // conv 1's OPS (eq 4.5)

  const auto r = run_lowbit(std::string("hw plan ") + kCnv + " --board pynq-z1 --pruning --json");
  ASSERT_EQ(r.code, 0) << r.out;
  const auto j = nlohmann::json::parse(r.out);
  const auto& pr = j["pruning"];
  ASSERT_EQ(pr["layers"].size(), 9u);
  ASSERT_EQ(pr["ranking"].size(), 8u);  // not the score layer
  for (size_t i = 1; i < pr["ranking"].size(); ++i)
    EXPECT_GE(pr["ranking"][i - 1]["used"].get<int64_t>(), pr["ranking"][i]["used"].get<int64_t>());
  // Reuse (eq 4.6) is each MVAU's cycles in the plan.
  size_t layer = 0;
  for (const auto& u : j["units"]) {
    if (u["op_type"] == "MVAU_hls") {
      EXPECT_EQ(pr["layers"][layer++]["reuse"], u["cycles"]) << u["name"];
    }
  }
  for (const auto& c : pr["ranking"]) EXPECT_EQ(c["filters"].get<int64_t>() % c["filter_step"].get<int64_t>(), 0);
}

TEST(CliHwPrune, WhatIfAndAlgorithm3) {
  const auto r = run_lowbit(std::string("hw plan ") + kCnv +
                            " --board pynq-z1 --prune-what-if 0.5 --prune-target 1.1 --filter-rounding nearest --json");
  ASSERT_EQ(r.code, 0) << r.out;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["prune_what_if"]["variants"].size(), 8u + 2u);  // 8 layers alone, top 2 and top 3
  EXPECT_DOUBLE_EQ(j["prune_what_if"]["base_fps"].get<double>(), j["fps"].get<double>());
  EXPECT_FALSE(j["prune_greedy"]["stopped"].get<std::string>().empty());
  EXPECT_EQ(j["prune_greedy"]["filters"].size(), 9u);
  const auto t = run_lowbit(std::string("hw plan ") + kCnv + " --prune-what-if 0.25 --prune-target 1.05");
  ASSERT_EQ(t.code, 0) << t.out;
  EXPECT_NE(t.out.find("Filter-cut what-ifs"), std::string::npos) << t.out;
  EXPECT_NE(t.out.find("top 2 -25%"), std::string::npos) << t.out;
  EXPECT_NE(t.out.find("Algorithm 3 on hardware alone"), std::string::npos) << t.out;
}

TEST(CliHwPrune, ZeroSkipOfASparseModel) {
  testing::CliWorkspace w("hwzs");
  format::ModelDesc d;
  d.name = "sparse";
  const auto b = format::CodeFormat::plus_minus_one();
  format::LayerDesc l;
  l.kind = format::LayerKind::kDense, l.name = "dense@0";
  l.in_c = 8, l.out = 4, l.input = b;
  l.weights = {1, -1, 1, -1, 1, -1, 1, -1, 0, 1, 0, 0, 0, 0, -1, 0, 1, 0, 1, 0, -1, 0, -1, 0, 0, 0, 0, 0, 0, 0, 0, 0};
  l.negated.assign(4, 0);
  l.output = b, l.levels = 1, l.thresholds = {0, 0, 0, 0};
  format::LayerDesc s;
  s.kind = format::LayerKind::kDense, s.name = "dense@1";
  s.in_c = 4, s.out = 2, s.input = b;
  s.weights = {1, 1, -1, 1, -1, 1, 1, 1};
  s.negated.assign(2, 0);
  s.scores = true, s.score.scale = {1.f, 1.f};
  d.layers = {l, s};
  d.input.shape = {8};
  d.input.codes = b;
  for (int p = 0; p < 256; ++p) d.input.table[static_cast<size_t>(p)] = static_cast<uint8_t>(p >= 128);
  const std::string file = w.path("sparse.lbm");
  const std::vector<uint8_t> bytes = format::model_desc_bytes(d);
  std::ofstream(file, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()),
                                              static_cast<std::streamsize>(bytes.size()));
  // Without --zero-skip the plan points at it.
  auto t = run_lowbit("hw plan " + file);
  ASSERT_EQ(t.code, 0) << t.out;
  EXPECT_NE(t.out.find("--zero-skip shows"), std::string::npos) << t.out;
  t = run_lowbit("hw plan " + file + " --zero-skip --zs-batch 4 --zs-decoder-luts 56");
  ASSERT_EQ(t.code, 0) << t.out;
  EXPECT_NE(t.out.find("Zero skipping (thesis 3.4)"), std::string::npos) << t.out;
  EXPECT_NE(t.out.find("C_dec 56 LUT"), std::string::npos) << t.out;
  const auto r = run_lowbit("hw plan " + file + " --zero-skip --json");
  ASSERT_EQ(r.code, 0) << r.out;
  const auto j = nlohmann::json::parse(r.out)["zero_skip"];
  EXPECT_EQ(j["units"][0]["nonzeros"], 14);
  EXPECT_EQ(j["units"][0]["row_max_nonzeros"], 8);
  EXPECT_DOUBLE_EQ(j["units"][0]["gamma"].get<double>(), 14.0 / 32);
  EXPECT_LE(j["units"][0]["zero_skip_cycles"].get<int64_t>(), j["units"][0]["dense_cycles"].get<int64_t>());
}

TEST(CliHwPrune, FlagErrors) {
  auto r = run_lowbit(std::string("hw plan ") + kCnv + " --prune-what-if 1.5");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("--prune-what-if"), std::string::npos) << r.out;
  r = run_lowbit(std::string("hw plan ") + kCnv + " --prune-what-if 0.25 --fps 1000");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("excludes"), std::string::npos) << r.out;
  r = run_lowbit(std::string("hw plan ") + kCnv + " --prune-target 1.5 --mvau-wwidth-max 72");
  EXPECT_EQ(r.code, 2) << r.out;
  r = run_lowbit(std::string("hw plan ") + kCnv + " --prune-target 0.5");
  EXPECT_EQ(r.code, 2) << r.out;
  r = run_lowbit(std::string("hw plan ") + kCnv + " --filter-rounding up --pruning");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("--filter-rounding"), std::string::npos) << r.out;
  r = run_lowbit(std::string("hw plan ") + kCnv + " --zero-skip --zs-batch 0");
  EXPECT_EQ(r.code, 2) << r.out;
  const auto h = run_lowbit("hw plan --help");
  ASSERT_EQ(h.code, 0) << h.out;
  for (const char* flag : {"--pruning", "--prune-what-if", "--prune-target", "--filter-rounding", "--zero-skip",
                           "--zs-batch", "--zs-op-luts", "--zs-decoder-luts"})
    EXPECT_NE(h.out.find(flag), std::string::npos) << flag;
}

}  // namespace
}  // namespace lowbit
