// `lowbit export --weight-coding`: a ternary model exported with compressed weights runs
// to the same predictions as the dense export, is smaller, and `lowbit summary` reports
// the encodings and sizes; bad values are usage errors.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "cli/cli_util.hpp"

namespace lowbit {
namespace {

using testing::run_lowbit;

std::string slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(f)), {});
}

TEST(WeightCodingCli, CompressedExportRunsLikeTheDenseOne) {
  testing::CliWorkspace w("coding");
  const std::string out = w.path("run"), ckpt = out + "/last.ckpt";
  const auto t = run_lowbit("train --model tfc --weights ternary:0.5 --acts binary --input-bits 8 --data " +
                            w.path("data") + " --epochs 1 --batch 50 --seed 3 --threads 2 --out " + out +
                            " --progress lines");
  ASSERT_EQ(t.code, 0) << t.out;
  const auto dense = run_lowbit("export " + ckpt + " -o " + w.path("dense.lbm"));
  ASSERT_EQ(dense.code, 0) << dense.out;
  for (const std::string coding : {"rle", "huffman", "auto"}) {
    SCOPED_TRACE(coding);
    const std::string file = w.path(coding + ".lbm");
    const auto x = run_lowbit("export " + ckpt + " -o " + file + " --weight-coding " + coding);
    ASSERT_EQ(x.code, 0) << x.out;
    EXPECT_NE(x.out.find(", weights "), std::string::npos) << x.out;  // the encodings written
    EXPECT_LT(std::filesystem::file_size(file), std::filesystem::file_size(w.path("dense.lbm")));
    const auto r = run_lowbit("run " + file + " --data " + w.path("data") + " --predictions " + w.path(coding + ".txt"));
    ASSERT_EQ(r.code, 0) << r.out;
  }
  const auto r = run_lowbit("run " + w.path("dense.lbm") + " --data " + w.path("data") + " --predictions " +
                            w.path("dense.txt"));
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_FALSE(slurp(w.path("dense.txt")).empty());
  for (const char* coding : {"rle", "huffman", "auto"})
    EXPECT_EQ(slurp(w.path(std::string(coding) + ".txt")), slurp(w.path("dense.txt"))) << coding;

  const auto s = run_lowbit("summary " + w.path("huffman.lbm"));
  ASSERT_EQ(s.code, 0) << s.out;
  EXPECT_NE(s.out.find("weights 0: huffman"), std::string::npos) << s.out;
  EXPECT_NE(s.out.find("entropy bound"), std::string::npos) << s.out;
  const auto sj = run_lowbit("summary " + w.path("auto.lbm") + " --json");
  ASSERT_EQ(sj.code, 0) << sj.out;
  const nlohmann::json j = nlohmann::json::parse(sj.out);
  ASSERT_TRUE(j.at("weights").is_array());
  EXPECT_TRUE(j.at("weights").at(0).contains("entropy_bits")) << sj.out;

  const auto bad = run_lowbit("export " + ckpt + " -o " + w.path("x.lbm") + " --weight-coding zip");
  EXPECT_EQ(bad.code, 2) << bad.out;
  EXPECT_NE(bad.out.find("zip"), std::string::npos) << bad.out;
  const auto onnx = run_lowbit("export " + ckpt + " -o " + w.path("x.onnx") + " --format onnx --weight-coding rle");
  EXPECT_EQ(onnx.code, 2) << onnx.out;
  EXPECT_NE(onnx.out.find("--weight-coding applies to --format lbm"), std::string::npos) << onnx.out;
}

}  // namespace
}  // namespace lowbit
