// `lowbit export --format qonnx|onnx|onnx-int8` and `lowbit import` as a new user meets them
// (the faults a review found): an ONNX file given to run / summary / hw / export names
// itself and points to `lowbit import`; ONNX is never written under a .lbm name; a standard
// ONNX file given to import says what it is; an input scale that maps every pixel to one
// level is refused instead of writing a model that ignores its input.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "cli/cli_util.hpp"
#include "interop/onnx_models.hpp"
#include "lowbit/format/model_desc.hpp"
#include "lowbit/format/lbm.hpp"

namespace lowbit {
namespace {

struct InteropCli : ::testing::Test {
  testing::CliWorkspace ws{"interop_cli"};
  std::string lbm = ws.path("m.lbm");
  void SetUp() override {
    format::LbmWriter w;
    format::write_model_desc(testing::interop_models()[0].second, w);
    w.write(lbm);
  }
};

TEST_F(InteropCli, AnOnnxFileWhereALowbitFileGoesPointsToImport) {
  const std::string q = ws.path("m.qonnx.onnx");
  ASSERT_EQ(testing::run_lowbit(cat("export ", lbm, " --format qonnx -o ", q)).code, 0);
  for (const std::string& cmd : {cat("run ", q, " --data ", ws.path("data")), cat("summary ", q),
                                 cat("hw plan ", q, " --fps 100"), cat("export ", q, " --format onnx -o ", ws.path("x.onnx")),
                                 cat("hw rtl ", q, " --fps 100 -o ", ws.path("rtl"))}) {
    auto r = testing::run_lowbit(cmd);
    EXPECT_EQ(r.code, 1) << cmd << "\n" << r.out;
    EXPECT_NE(r.out.find("an ONNX model"), std::string::npos) << cmd << "\n" << r.out;
    EXPECT_NE(r.out.find("lowbit import " + q), std::string::npos) << cmd << "\n" << r.out;
  }
}

TEST_F(InteropCli, OnnxIsNeverWrittenUnderALowbitName) {
  for (const char* f : {"qonnx", "onnx", "onnx-int8"}) {
    auto r = testing::run_lowbit(cat("export ", lbm, " --format ", f, " -o ", ws.path("out.lbm")));
    EXPECT_EQ(r.code, 2) << r.out;
    EXPECT_NE(r.out.find("name it .onnx"), std::string::npos) << r.out;
    EXPECT_FALSE(std::filesystem::exists(ws.path("out.lbm")));
  }
}

TEST_F(InteropCli, ImportNamesAStandardOnnxFileAndAnInputScaleThatErasesTheInput) {
  const std::string s = ws.path("m.onnx"), q = ws.path("m.qonnx.onnx");
  ASSERT_EQ(testing::run_lowbit(cat("export ", lbm, " --format onnx -o ", s)).code, 0);
  auto r = testing::run_lowbit(cat("import ", s, " -o ", ws.path("a.lbm")));
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find("a standard ONNX file"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("--format qonnx"), std::string::npos) << r.out;
  // The Brevitas scale 1/255 given to lowbit's own file (which reads raw pixels): every
  // pixel lands below the binary input's threshold.
  ASSERT_EQ(testing::run_lowbit(cat("export ", lbm, " --format qonnx -o ", q)).code, 0);
  r = testing::run_lowbit(cat("import ", q, " --input-scale 0.00392156863 -o ", ws.path("b.lbm")));
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find("the model would ignore its input"), std::string::npos) << r.out;
  EXPECT_FALSE(std::filesystem::exists(ws.path("b.lbm")));
  EXPECT_EQ(testing::run_lowbit(cat("import ", q, " -o ", ws.path("c.lbm"))).code, 0);
}

TEST_F(InteropCli, EmptyFilesAreCalledEmpty) {
  std::ofstream(ws.path("empty.ckpt")).close();
  auto r = testing::run_lowbit(cat("export ", ws.path("empty.ckpt"), " --format onnx -o ", ws.path("e.onnx")));
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find("empty file"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace lowbit
