// Learning curves (train/learning_curves.hpp): metrics.jsonl files written here by hand are
// read back and drawn by gnuplot; the SVG's plot elements are read back (curve_images.hpp)
// and compared with the data: which curves, in which colours and dashes, with how many
// points, in which order on the page, and on which axis scale. Errors name the file and
// line; temporary files go, also when gnuplot fails.
#include "lowbit/train/learning_curves.hpp"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "lowbit/core/error.hpp"
#include "lowbit/train/trainer.hpp"
#include "test_util.hpp"
#include "train/curve_images.hpp"

namespace lowbit {
namespace {

namespace fs = std::filesystem;
using testing::expect_error_naming;

// TEMP/lowbit_curves_TAG_PID, with TMPDIR pointing at its tmp/ while the object lives (so
// that the tests see every temporary file plotting makes); removed afterwards.
struct CurvesDir {
  fs::path dir;
  std::string old_tmpdir;
  bool had_tmpdir = false;
  explicit CurvesDir(const std::string& tag)
      : dir(fs::temp_directory_path() / cat("lowbit_curves_", tag, "_", ::getpid())) {
    fs::remove_all(dir);
    fs::create_directories(dir / "tmp");
    if (const char* t = std::getenv("TMPDIR")) {
      had_tmpdir = true;
      old_tmpdir = t;
    }
    ::setenv("TMPDIR", (dir / "tmp").c_str(), 1);
  }
  ~CurvesDir() {
    if (had_tmpdir)
      ::setenv("TMPDIR", old_tmpdir.c_str(), 1);
    else
      ::unsetenv("TMPDIR");
    fs::remove_all(dir);
  }
  std::string path(const std::string& rel) const { return (dir / rel).string(); }
  bool tmp_empty() const { return fs::is_empty(dir / "tmp"); }
};

std::string read_text(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

void write_text(const std::string& path, const std::string& text) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream(path, std::ios::binary) << text;
}

struct Series {
  std::vector<double> loss, test_loss, train_acc, test_acc, lr, flip;
};

// A metrics.jsonl as lowbit train writes it (metrics_to_json), epochs 1..n.
std::string metrics_jsonl(const Series& s) {
  std::string out;
  for (size_t i = 0; i < s.loss.size(); ++i) {
    train::EpochMetrics m;
    m.epoch = static_cast<int64_t>(i + 1);
    m.loss = s.loss[i];
    m.test_loss = s.test_loss[i];
    m.train_acc = s.train_acc[i];
    m.test_acc = s.test_acc[i];
    m.lr = s.lr[i];
    m.flip_ratio = s.flip.empty() ? -1 : s.flip[i];
    out += train::metrics_to_json(m).dump() + "\n";
  }
  return out;
}

// A float run of 4 epochs (no 1-bit weights, constant learning rate) and a binary run of 5
// (learning rate and flip ratio falling by sqrt(10) per epoch: evenly spaced on a log axis).
const Series kFloat = {{2.0, 1.5, 1.2, 1.0}, {2.1, 1.7, 1.5, 1.4}, {0.3, 0.5, 0.6, 0.7}, {0.25, 0.45, 0.55, 0.6},
                       {0.01, 0.01, 0.01, 0.01}, {}};
const Series kBinary = {{2.5, 2.0, 1.8, 1.7, 1.65},
                        {2.4, 2.1, 1.9, 1.85, 1.8},
                        {0.2, 0.4, 0.5, 0.55, 0.6},
                        {0.22, 0.38, 0.48, 0.5, 0.52},
                        {0.1, 0.1 / std::sqrt(10.0), 0.01, 0.01 / std::sqrt(10.0), 0.001},
                        {0.2, 0.2 / std::sqrt(10.0), 0.02, 0.02 / std::sqrt(10.0), 0.002}};

// gnuplot's svg terminal writes colours as rgb(r, g, b) with each part right-aligned in 3.
const std::string kBlue = "rgb( 31, 119, 180)", kRed = "rgb(214,  39,  40)";

void expect_curve(const testing::SvgPlotGroup& g, const std::string& colour, bool dashed, size_t points) {
  SCOPED_TRACE(g.id);
  ASSERT_FALSE(g.paths.empty());
  const testing::SvgPath p = g.curve();
  EXPECT_EQ(p.stroke, colour);
  EXPECT_EQ(p.dashed, dashed);
  EXPECT_EQ(p.points.size(), points);
  for (size_t i = 1; i < p.points.size(); ++i) EXPECT_GT(p.points[i].first, p.points[i - 1].first) << i;
}

// Pixel rows of a curve step evenly (a geometric series on a log axis).
void expect_even_steps(const testing::SvgPath& p) {
  ASSERT_GE(p.points.size(), 3u);
  const double step = p.points[1].second - p.points[0].second;
  EXPECT_GT(std::abs(step), 10.0);
  for (size_t i = 2; i < p.points.size(); ++i) EXPECT_NEAR(p.points[i].second - p.points[i - 1].second, step, 0.05) << i;
}

TEST(LearningCurves, SvgDrawsEveryRunsCurvesWithTheirData) {
  CurvesDir d("svg");
  write_text(d.path("float/x/metrics.jsonl"), metrics_jsonl(kFloat));
  write_text(d.path("binary/x/metrics.jsonl"), metrics_jsonl(kBinary));
  train::PlotOptions opt;
  opt.width = 640;
  opt.height = 480;
  opt.title = "two runs";
  const std::string out = d.path("curves.svg");
  const std::vector<std::string> names = train::plot_learning_curves({d.path("float/x"), d.path("binary/x")}, out, opt);
  // The same last folder name: told apart by their parents.
  EXPECT_EQ(names, (std::vector<std::string>{"float/x", "binary/x"}));
  const std::string svg = read_text(out);
  EXPECT_EQ(testing::svg_problem(out, svg), "");
  EXPECT_NE(svg.find("width=\"640\" height=\"480\""), std::string::npos);
  for (const char* text : {">float/x<", ">binary/x<", ">train<", ">test<", ">two runs<", ">Loss<", ">Accuracy<",
                           ">Learning rate<", ">Flip ratio (1-bit weights)<", ">epoch<", ">accuracy (%)<",
                           ">no 1-bit weights: float/x<"})
    EXPECT_NE(svg.find(text), std::string::npos) << text;

  auto panels = testing::svg_plot_groups(svg);
  ASSERT_EQ(panels.size(), 4u);
  // Loss: each run's train (solid) and test (dashed) curve, then the legend's train/test samples.
  ASSERT_EQ(panels['a'].size(), 6u);
  expect_curve(panels['a'][0], kBlue, false, 4);
  expect_curve(panels['a'][1], kBlue, true, 4);
  expect_curve(panels['a'][2], kRed, false, 5);
  expect_curve(panels['a'][3], kRed, true, 5);
  // Loss falls: lower on the page (larger pixel row) epoch by epoch.
  const auto loss = panels['a'][0].curve().points;
  for (size_t i = 1; i < loss.size(); ++i) EXPECT_GT(loss[i].second, loss[i - 1].second);
  // The first panel's legend names both runs; the others have none.
  EXPECT_NE(panels['a'][0].text.find(">float/x<"), std::string::npos);
  EXPECT_NE(panels['a'][2].text.find(">binary/x<"), std::string::npos);
  EXPECT_EQ(panels['b'][0].text.find("<text>"), std::string::npos);
  // Accuracy rises: higher on the page.
  ASSERT_EQ(panels['b'].size(), 4u);
  expect_curve(panels['b'][0], kBlue, false, 4);
  expect_curve(panels['b'][3], kRed, true, 5);
  const auto acc = panels['b'][0].curve().points;
  for (size_t i = 1; i < acc.size(); ++i) EXPECT_LT(acc[i].second, acc[i - 1].second);
  // Learning rate: one curve per run, log scale (100x span): the binary run's steps are even.
  ASSERT_EQ(panels['c'].size(), 2u);
  expect_curve(panels['c'][0], kBlue, false, 4);
  expect_curve(panels['c'][1], kRed, false, 5);
  expect_even_steps(panels['c'][1].curve());
  // Flip ratio: the binary run only, log scale.
  ASSERT_EQ(panels['d'].size(), 1u);
  expect_curve(panels['d'][0], kRed, false, 5);
  expect_even_steps(panels['d'][0].curve());
  EXPECT_TRUE(d.tmp_empty());
}

TEST(LearningCurves, PngHasTheRequestedSize) {
  CurvesDir d("png");
  write_text(d.path("a/metrics.jsonl"), metrics_jsonl(kBinary));
  train::PlotOptions opt;
  opt.width = 500;
  opt.height = 300;
  train::plot_learning_curves({d.path("a/metrics.jsonl")}, d.path("c.PNG"), opt);
  EXPECT_EQ(testing::png_size(read_text(d.path("c.PNG"))), (std::pair<uint32_t, uint32_t>{500, 300}));
  EXPECT_TRUE(d.tmp_empty());
}

TEST(LearningCurves, FlipPanelWithoutOneBitWeightsSaysSo) {
  CurvesDir d("noflip");
  write_text(d.path("f/metrics.jsonl"), metrics_jsonl(kFloat));
  train::PlotOptions opt;
  opt.panels = {"flip", "loss"};  // drawn loss first
  train::plot_learning_curves({d.path("f")}, d.path("c.svg"), opt);
  const std::string svg = read_text(d.path("c.svg"));
  EXPECT_NE(svg.find(">no 1-bit weights<"), std::string::npos);
  auto panels = testing::svg_plot_groups(svg);
  ASSERT_EQ(panels.size(), 2u);
  EXPECT_EQ(panels['a'].size(), 4u);  // loss: train, test, and the train/test legend samples
  for (const auto& g : panels['b'])
    for (const auto& p : g.paths) EXPECT_LT(p.points.size(), 2u) << g.id;  // no curve
  // Alone, the panel still names the run in its legend.
  opt.panels = {"flip"};
  train::plot_learning_curves({d.path("f")}, d.path("c.svg"), opt);
  const std::string alone = read_text(d.path("c.svg"));
  EXPECT_NE(alone.find(">no 1-bit weights<"), std::string::npos);
  EXPECT_NE(alone.find("<text>f</text>"), std::string::npos);
}

TEST(LearningCurves, ZeroFlipRatioKeepsALinearAxis) {
  CurvesDir d("zeroflip");
  Series s = kBinary;
  s.flip = {0.1, 0.0, 0.05, 0.02, 0.0};
  write_text(d.path("z/metrics.jsonl"), metrics_jsonl(s));
  train::PlotOptions opt;
  opt.panels = {"flip"};
  train::plot_learning_curves({d.path("z")}, d.path("c.svg"), opt);
  auto panels = testing::svg_plot_groups(read_text(d.path("c.svg")));
  ASSERT_EQ(panels['a'].size(), 1u);
  // Every epoch drawn, the zeros too (a log axis would leave them out), on one baseline.
  const auto pts = panels['a'][0].curve().points;
  ASSERT_EQ(pts.size(), 5u);
  EXPECT_DOUBLE_EQ(pts[1].second, pts[4].second);
}

TEST(LearningCurves, RunNamesWithQuotesSpacesAndMarkup) {
  CurvesDir d("quote");
  const std::string run = d.path("it's a \"run\" & <x>");
  write_text(run + "/metrics.jsonl", metrics_jsonl(kBinary));
  const std::string out = d.path("q.svg");
  EXPECT_EQ(train::plot_learning_curves({run}, out), std::vector<std::string>{"it's a \"run\" & <x>"});
  const std::string svg = read_text(out);
  EXPECT_EQ(testing::svg_problem(out, svg), "");
  EXPECT_NE(svg.find(">it's a \"run\" &amp; &lt;x><"), std::string::npos);
}

TEST(LearningCurves, RunNames) {
  CurvesDir d("names");
  for (const char* f : {"p/a/x/metrics.jsonl", "q/a/x/metrics.jsonl", "r/y/metrics.jsonl", "w/other.jsonl"})
    write_text(d.path(f), metrics_jsonl(kFloat));
  EXPECT_EQ(train::run_names({d.path("p/a/x"), d.path("q/a/x/"), d.path("r/y/metrics.jsonl"), d.path("w/other.jsonl")}),
            (std::vector<std::string>{"p/a/x", "q/a/x", "y", "other.jsonl"}));
  EXPECT_EQ(train::run_names({d.path("r/./y")}), std::vector<std::string>{"y"});
  // A folder and its own metrics.jsonl are one run.
  EXPECT_THROW(train::run_names({d.path("r/y"), d.path("r/y/metrics.jsonl")}), UsageError);
  expect_error_naming([&] { train::run_names({d.path("r/y"), d.path("r/y/metrics.jsonl")}); }, "same run");
}

TEST(LearningCurves, GnuplotQuote) {
  EXPECT_EQ(train::gnuplot_quote("plain"), "'plain'");
  EXPECT_EQ(train::gnuplot_quote("it's \"x\" \\n"), "'it''s \"x\" \\n'");  // backslashes are literal in '...'
  EXPECT_EQ(train::gnuplot_quote("a\nb\tc\x7f"), "'a?b?c?'");
  EXPECT_EQ(train::gnuplot_quote("caf\xc3\xa9 \xe2\x82\xac"), "'caf\xc3\xa9 \xe2\x82\xac'");  // UTF-8 kept
  // Invalid UTF-8: a lone continuation byte, a truncated sequence, an overlong form, a surrogate.
  EXPECT_EQ(train::gnuplot_quote("a\x80z"), "'a?z'");
  EXPECT_EQ(train::gnuplot_quote("a\xe2\x82"), "'a?" "?'");  // (split: "??'" would be a trigraph)
  EXPECT_EQ(train::gnuplot_quote("\xc0\xaf"), "'?" "?'");
  EXPECT_EQ(train::gnuplot_quote("\xed\xa0\x80"), "'?" "?" "?'");
}

TEST(LearningCurves, MetricsFileErrorsNameFileAndLine) {
  CurvesDir d("errors");
  const std::string ok = metrics_jsonl(kFloat);
  const std::string first = ok.substr(0, ok.find('\n') + 1);
  struct Case {
    std::string text, needle;
  };
  for (const Case& c : {Case{"", "no epoch"}, Case{"\n  \n", "no epoch"},
                        Case{first + "{\"epoch\": 2, oops\n", "line 2: invalid JSON"},
                        Case{first + "\n" + "[1, 2]\n", "line 3: epoch metrics must be a JSON object"},
                        Case{first + "{\"epoch\": 2, \"train_acc\": 0.5, \"test_acc\": 1.5}\n", "line 2: epoch metrics: 'test_acc'"},
                        Case{first + "{\"epoch\": 2, \"test_acc\": 0.5}\n", "line 2: epoch metrics: missing key 'train_acc'"},
                        Case{first + first, "line 2: epoch 1 follows epoch 1 (epochs must increase)"}}) {
    SCOPED_TRACE(c.needle);
    const std::string f = d.path("m.jsonl");
    write_text(f, c.text);
    const std::string msg = testing::error_of([&] { train::read_metrics_file(f); });
    EXPECT_EQ(msg.rfind(f, 0), 0u) << msg;  // the file first
    EXPECT_NE(msg.find(c.needle), std::string::npos) << msg;
    // plot_learning_curves reports the same, and writes nothing.
    expect_error_naming([&] { train::plot_learning_curves({f}, d.path("c.svg")); }, c.needle);
    EXPECT_FALSE(fs::exists(d.path("c.svg")));
  }
  // Blank lines (a trailing one, CR-LF endings) are fine.
  write_text(d.path("m.jsonl"), first + "\r\n" + first.substr(0, first.size() - 1) + "\r\n");
  expect_error_naming([&] { train::read_metrics_file(d.path("m.jsonl")); }, "line 3: epoch 1 follows");
  write_text(d.path("m.jsonl"), ok + "\n");
  EXPECT_EQ(train::read_metrics_file(d.path("m.jsonl")).size(), 4u);
  EXPECT_DOUBLE_EQ(train::read_metrics_file(d.path("m.jsonl"))[2].test_acc, 0.55);
}

TEST(LearningCurves, RunAndOptionErrors) {
  CurvesDir d("runerrors");
  write_text(d.path("r/metrics.jsonl"), metrics_jsonl(kFloat));
  fs::create_directories(d.path("empty_folder"));
  const std::string out = d.path("c.svg");
  expect_error_naming([&] { train::plot_learning_curves({d.path("nothere")}, out); }, "nothere: no such run folder");
  expect_error_naming([&] { train::plot_learning_curves({d.path("empty_folder")}, out); },
                      "empty_folder holds no metrics.jsonl");
  expect_error_naming([&] { train::plot_learning_curves({d.path("r")}, d.path("no/such/folder/c.svg")); },
                      "does not exist");
  // Usage errors: the output's format, the options, no run.
  EXPECT_THROW(train::plot_learning_curves({d.path("r")}, d.path("c.pdf")), UsageError);
  expect_error_naming([&] { train::plot_learning_curves({d.path("r")}, d.path("c.pdf")); }, "c.pdf: the image's name must end in .svg or .png");
  EXPECT_THROW(train::plot_learning_curves({d.path("r")}, d.path("svg")), UsageError);
  EXPECT_THROW(train::plot_learning_curves({}, out), UsageError);
  train::PlotOptions opt;
  opt.width = 199;
  EXPECT_THROW(train::plot_learning_curves({d.path("r")}, out, opt), UsageError);
  opt = {};
  opt.panels = {"loss", "loss"};
  EXPECT_THROW(train::plot_learning_curves({d.path("r")}, out, opt), UsageError);
  opt.panels = {"bogus"};
  expect_error_naming([&] { train::plot_learning_curves({d.path("r")}, out, opt); }, "panel 'bogus'");
  opt.panels = {};
  EXPECT_THROW(train::plot_learning_curves({d.path("r")}, out, opt), UsageError);
  EXPECT_FALSE(fs::exists(out));
  EXPECT_TRUE(d.tmp_empty());
}

// PATH set for the object's lifetime.
struct PathGuard {
  std::string old = std::getenv("PATH") ? std::getenv("PATH") : "";
  explicit PathGuard(const std::string& path) { ::setenv("PATH", path.c_str(), 1); }
  ~PathGuard() { ::setenv("PATH", old.c_str(), 1); }
};

TEST(LearningCurves, GnuplotFailingOrMissingLeavesNothingBehind) {
  CurvesDir d("gnuplotfails");
  write_text(d.path("r/metrics.jsonl"), metrics_jsonl(kFloat));
  const std::string out = d.path("c.svg");
  write_text(out, "the old image");
  // A gnuplot that writes half an image, complains and fails.
  write_text(d.path("bin/gnuplot"), "#!/bin/sh\necho '<svg' > curves.svg\necho 'line 7: boom' >&2\nexit 3\n");
  fs::permissions(d.path("bin/gnuplot"), fs::perms::owner_all);
  {
    PathGuard path(d.path("bin") + ":/usr/bin:/bin");
    const std::string msg = testing::error_of([&] { train::plot_learning_curves({d.path("r")}, out); });
    EXPECT_NE(msg.find(cat("gnuplot failed drawing ", out, " (exit 3)")), std::string::npos) << msg;
    EXPECT_NE(msg.find("line 7: boom"), std::string::npos) << msg;
  }
  {
    fs::create_directories(d.path("nobin"));
    PathGuard path(d.path("nobin"));
    expect_error_naming([&] { train::plot_learning_curves({d.path("r")}, out); }, "install Debian's package gnuplot-nox");
  }
  EXPECT_EQ(read_text(out), "the old image");  // untouched
  EXPECT_TRUE(d.tmp_empty());
  for (const auto& e : fs::directory_iterator(d.dir)) EXPECT_EQ(e.path().filename().string().find(".c.svg.tmp"), std::string::npos);
  // The real gnuplot replaces it.
  train::plot_learning_curves({d.path("r")}, out);
  EXPECT_NE(read_text(out).find("</svg>"), std::string::npos);
}

}  // namespace
}  // namespace lowbit
