// `lowbit plot`: learning curves of two runs trained here (a float TFC and a binary one, whose
// folders share a last name with a space and quotes in it) as SVG and PNG; the refusals.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "cli/cli_util.hpp"
#include "lowbit/core/error.hpp"
#include "train/curve_images.hpp"

namespace lowbit {
namespace {

namespace fs = std::filesystem;

std::string read_text(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

// A shell word.
std::string sh(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

size_t count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t p = text.find(what); p != std::string::npos; p = text.find(what, p + 1)) ++n;
  return n;
}

// The two runs, trained once for the suite (3 epochs each, ~0.2 s).
class PlotCli : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    w_ = new testing::CliWorkspace("plot");
    const std::string data = cat(" --data ", w_->path("data"));
    const testing::CommandResult f = testing::run_lowbit(
        "train --model tfc --epochs 3 --lr 0.002 --optimizer adam --seed 1" + data + " --out " + sh(run(0)));
    const testing::CommandResult b = testing::run_lowbit(
        "train --model tfc --weights binary --acts binary --input-bits 8 --epochs 3 --seed 1" + data + " --out " +
        sh(run(1)));
    trained_ = f.code == 0 && b.code == 0;
    if (!trained_) std::cerr << f.out << b.out;
  }
  static void TearDownTestSuite() {
    delete w_;
    w_ = nullptr;
  }
  void SetUp() override { ASSERT_TRUE(trained_); }
  // Both folders are named `it's a "run"`: the legend names them float/... and binary/...
  static std::string run(int i) { return w_->path(i == 0 ? "float/it's a \"run\"" : "binary/it's a \"run\""); }
  static std::string runs() { return sh(run(0)) + " " + sh(run(1)); }

  static testing::CliWorkspace* w_;
  static bool trained_;
};
testing::CliWorkspace* PlotCli::w_ = nullptr;
bool PlotCli::trained_ = false;

TEST_F(PlotCli, SvgOfTwoTrainedRuns) {
  const std::string out = w_->path("curves.svg");
  const testing::CommandResult r = testing::run_lowbit(cat("plot ", runs(), " -o ", sh(out), " --size 800x600"));
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find(cat("wrote ", out, ": 2 runs (float/it's a \"run\", binary/it's a \"run\")")), std::string::npos)
      << r.out;
  const std::string svg = read_text(out);
  EXPECT_EQ(testing::svg_problem(out, svg), "");
  EXPECT_NE(svg.find("width=\"800\" height=\"600\""), std::string::npos);
  EXPECT_EQ(count(svg, "<text>float/it's a \"run\"</text>"), 1u);  // in the legend, once
  EXPECT_EQ(count(svg, "<text>binary/it's a \"run\"</text>"), 1u);
  // Plot elements: loss 2 runs x (train, test) + 2 legend samples, accuracy 2 x 2, learning
  // rate 2, flip ratio 1 (the binary run's); every run's curve has its 3 epochs.
  auto panels = testing::svg_plot_groups(svg);
  ASSERT_EQ(panels.size(), 4u);
  EXPECT_EQ(panels['a'].size(), 6u);
  EXPECT_EQ(panels['b'].size(), 4u);
  EXPECT_EQ(panels['c'].size(), 2u);
  ASSERT_EQ(panels['d'].size(), 1u);
  for (const auto& [panel, groups] : panels)
    for (size_t g = 0; g < std::min<size_t>(groups.size(), 4); ++g) {
      ASSERT_FALSE(groups[g].paths.empty()) << groups[g].id;
      EXPECT_EQ(groups[g].curve().points.size(), 3u) << groups[g].id;
    }
  // The flip curve is the binary run's colour (its loss curve, the third element).
  EXPECT_EQ(panels['d'][0].curve().stroke, panels['a'][2].curve().stroke);
  EXPECT_NE(panels['a'][0].curve().stroke, panels['a'][2].curve().stroke);
  EXPECT_NE(svg.find("no 1-bit weights: float/it's a \"run\""), std::string::npos);
}

TEST_F(PlotCli, PngOfTwoTrainedRunsHasTheRequestedSize) {
  const std::string out = w_->path("curves.png");
  const testing::CommandResult r =
      testing::run_lowbit(cat("plot ", runs(), " -o ", sh(out), " --size 900x500 --title 'TFC: float vs binary'"));
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(testing::png_size(read_text(out)), (std::pair<uint32_t, uint32_t>{900, 500}));
  // Into a run's own folder, twice (the folder's other files are not inputs; the image is replaced).
  const std::string inside = run(1) + "/curves.png";
  for (int i = 0; i < 2; ++i) {
    const testing::CommandResult again = testing::run_lowbit(cat("plot ", sh(run(1)), " -o ", sh(inside)));
    ASSERT_EQ(again.code, 0) << again.out;
  }
  EXPECT_EQ(testing::png_size(read_text(inside)), (std::pair<uint32_t, uint32_t>{1200, 900}));
}

TEST_F(PlotCli, Refusals) {
  const std::string out = w_->path("x.svg");
  fs::create_directories(w_->path("empty_run"));
  std::ofstream(w_->path("empty_run/metrics.jsonl")).close();
  struct Case {
    std::string args;
    int code;
    std::string needle;
  };
  const std::string metrics = run(0) + "/metrics.jsonl";
  for (const Case& c : {
           Case{sh(w_->path("missing")) + " -o " + sh(out), 1, "missing: no such run folder"},
           Case{sh(w_->path("empty_run")) + " -o " + sh(out), 1, "empty_run/metrics.jsonl: no epoch"},
           Case{runs() + " -o " + sh(w_->path("x.pdf")), 2, "x.pdf: the image's name must end in .svg or .png"},
           Case{runs() + " -o " + sh(metrics), 2, "is an input of this command"},
           Case{sh(metrics) + " -o " + sh(metrics), 2, "is an input of this command"},
           Case{runs() + " -o " + sh(out) + " --size 800", 2, "--size '800': give WIDTHxHEIGHT"},
           Case{runs() + " -o " + sh(out) + " --size 100x100", 2, "each side must be 200..10000"},
           Case{runs() + " -o " + sh(out) + " --panels loss,bogus", 2, "panel 'bogus'"},
           Case{sh(run(0)) + " " + sh(metrics) + " -o " + sh(out), 2, "are the same run"},
           Case{runs() + " -o " + sh(w_->path("no/folder/x.svg")), 1, "does not exist"},
       }) {
    SCOPED_TRACE(c.args);
    const std::string before = read_text(metrics);
    const testing::CommandResult r = testing::run_lowbit(cat("plot ", c.args));
    EXPECT_EQ(r.code, c.code) << r.out;
    EXPECT_NE(r.out.find(c.needle), std::string::npos) << r.out;
    EXPECT_EQ(count(r.out, "\n"), c.code == 2 ? 2u : 1u) << r.out;  // one line (+ the --help hint)
    EXPECT_EQ(read_text(metrics), before);
    EXPECT_FALSE(fs::exists(out));
  }
  const testing::CommandResult help = testing::run_lowbit("plot --help");
  EXPECT_EQ(help.code, 0);
  for (const char* s : {"gnuplot", ".svg", ".png", "--size", "--panels", "flip", "Example:"})
    EXPECT_NE(help.out.find(s), std::string::npos) << s;
}

}  // namespace
}  // namespace lowbit
