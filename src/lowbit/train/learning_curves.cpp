#include "lowbit/train/learning_curves.hpp"

#include <stdlib.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <locale>
#include <map>
#include <sstream>

#include "lowbit/core/error.hpp"
#include "lowbit/core/file_io.hpp"
#include "lowbit/core/json_get.hpp"
#include "lowbit/hw/eda_tools.hpp"
#include "lowbit/train/trainer.hpp"

namespace lowbit::train {

namespace fs = std::filesystem;

namespace {

constexpr const char* kPanels[] = {"loss", "accuracy", "lr", "flip"};
// Matplotlib's "tab10" colours: distinct, and legible on white. They repeat after ten runs.
constexpr const char* kColours[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
                                    "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};

struct RunCurves {
  std::string name;
  std::vector<EpochMetrics> epochs;
  bool has_flips() const { return !epochs.empty() && epochs.front().flip_ratio >= 0; }
};

// A private folder under the system's temporary folder, removed with everything in it when
// the object goes (also when plotting throws).
class TempFolder {
 public:
  TempFolder() {
    std::string tmpl = (fs::temp_directory_path() / "lowbit-plot.XXXXXX").string();
    LOWBIT_CHECK(::mkdtemp(tmpl.data()) != nullptr, fs::temp_directory_path().string(),
                 ": cannot create a temporary folder for gnuplot's files");
    path_ = tmpl;
  }
  ~TempFolder() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  TempFolder(const TempFolder&) = delete;
  TempFolder& operator=(const TempFolder&) = delete;
  std::string file(const std::string& name) const { return (fs::path(path_) / name).string(); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

void write_text(const std::string& path, const std::string& text) {
  std::ofstream f(path, std::ios::binary);
  f << text;
  f.close();
  LOWBIT_CHECK(f, path, ": cannot write gnuplot's input file");
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// A number as gnuplot reads it, whatever the process's locale.
std::string num(double v) {
  std::ostringstream os;
  os.imbue(std::locale::classic());
  os.precision(10);
  os << v;
  return os.str();
}

// The path's components, absolute and normalised ("runs/./a/" -> "/.../runs", "a").
std::vector<std::string> components(const fs::path& p) {
  std::vector<std::string> parts;
  for (const fs::path& c : fs::absolute(p).lexically_normal().relative_path())
    if (!c.empty()) parts.push_back(c.string());
  return parts;
}

// The file's extension picks the format: "svg" or "png"; UsageError otherwise.
std::string image_format(const std::string& output) {
  LOWBIT_CHECK_USAGE(!output.empty(), "the image's file name is empty");
  const std::string ext = lower(fs::path(output).extension().string());
  if (ext == ".svg") return "svg";
  if (ext == ".png") return "png";
  usage_fail(output, ": the image's name must end in .svg or .png (that chooses its format)");
}

void check_options(const PlotOptions& o) {
  LOWBIT_CHECK_USAGE(o.width >= 200 && o.width <= 10000 && o.height >= 200 && o.height <= 10000,
                     "plot size ", o.width, "x", o.height, ": each side must be 200..10000 pixels");
  LOWBIT_CHECK_USAGE(!o.panels.empty(), "no panel chosen: choose from loss, accuracy, lr, flip");
  for (size_t i = 0; i < o.panels.size(); ++i) {
    LOWBIT_CHECK_USAGE(std::find(std::begin(kPanels), std::end(kPanels), o.panels[i]) != std::end(kPanels),
                       "panel '", o.panels[i], "': choose from loss, accuracy, lr, flip");
    for (size_t j = 0; j < i; ++j)
      LOWBIT_CHECK_USAGE(o.panels[j] != o.panels[i], "panel '", o.panels[i], "' is chosen twice");
  }
}

// Tick step on the epoch axis: whole epochs, at most about ten labels.
int64_t epoch_step(int64_t span) {
  for (int64_t step = 1;; step *= 10)
    for (int64_t f : {1, 2, 5})
      if (span <= 10 * f * step) return f * step;
}

// The extent of the values a panel plots, and whether all are positive (a log axis needs that).
struct Range {
  double lo = 0, hi = 0;
  bool all_positive = true, any = false;
  void add(double v) {
    lo = any ? std::min(lo, v) : v;
    hi = any ? std::max(hi, v) : v;
    any = true;
    all_positive = all_positive && v > 0;
  }
};

struct Panel {
  std::string title, ylabel;
  int column_train = 0, column_test = 0;  // data file columns; test 0: one curve per run
};

// The value a data file column holds (data_file).
double plotted(const EpochMetrics& m, int column) {
  switch (column) {
    case 2: return m.loss;
    case 3: return m.test_loss;
    case 4: return 100 * m.train_acc;
    case 5: return 100 * m.test_acc;
    case 6: return m.lr;
    default: return m.flip_ratio;
  }
}

// One run's data file: epoch, then columns 2..7 as `plotted` gives them.
std::string data_file(const RunCurves& run) {
  std::string s = "# epoch loss test_loss train_acc% test_acc% lr flip_ratio\n";
  for (const EpochMetrics& m : run.epochs) {
    s += std::to_string(m.epoch);
    for (int column = 2; column <= 7; ++column) s += cat(" ", num(plotted(m, column)));
    s += "\n";
  }
  return s;
}

Panel panel_of(const std::string& name) {
  if (name == "loss") return {"Loss", "loss (mean per image)", 2, 3};
  if (name == "accuracy") return {"Accuracy", "accuracy (%)", 4, 5};
  if (name == "lr") return {"Learning rate", "learning rate", 6, 0};
  return {"Flip ratio (1-bit weights)", "fraction flipped per epoch", 7, 0};
}

std::string script(const std::vector<RunCurves>& runs, const std::string& format, const std::string& image,
                   const PlotOptions& o) {
  std::vector<std::string> panels;
  for (const char* p : kPanels)
    if (std::find(o.panels.begin(), o.panels.end(), p) != o.panels.end()) panels.emplace_back(p);
  const int font = std::clamp(static_cast<int>(std::lround(std::min(o.width, o.height) / 75.0)), 8, 16);
  std::ostringstream s;
  s.imbue(std::locale::classic());
  s << "set encoding utf8\n";
  if (format == "svg")
    s << "set terminal svg size " << o.width << "," << o.height << " noenhanced font 'sans," << font
      << "' background rgb 'white'\n";
  else
    s << "set terminal pngcairo size " << o.width << "," << o.height << " noenhanced font 'sans," << font
      << "' background rgb 'white'\n";
  s << "set output " << gnuplot_quote(image) << "\n";
  for (size_t i = 0; i < runs.size(); ++i)
    s << "set style line " << i + 1 << " lc rgb '" << kColours[i % std::size(kColours)] << "' lw 2 pt 7 ps 0.7\n";

  int64_t first = runs.front().epochs.front().epoch, last = first;
  size_t most = 0;
  for (const RunCurves& r : runs) {
    first = std::min(first, r.epochs.front().epoch);
    last = std::max(last, r.epochs.back().epoch);
    most = std::max(most, r.epochs.size());
  }
  const std::string with = most <= 30 ? "linespoints" : "lines";  // points while they stay apart
  const std::string xtics = cat("set xtics ", epoch_step(last - first), "\n");
  s << "set xlabel 'epoch'\n" << xtics << "set grid lc rgb '#d0d0d0'\n";
  // A little room either side, so that the first and last points clear the frame.
  const double pad = std::max(0.25, 0.02 * static_cast<double>(last - first));
  s << "set xrange [" << num(static_cast<double>(first) - pad) << ":" << num(static_cast<double>(last) + pad) << "]\n";
  s << "set format y '%g'\nset key top right reverse Left opaque box samplen 5 spacing 1.2\n";
  const int rows = panels.size() <= 2 ? 1 : 2, cols = panels.size() == 1 ? 1 : 2;
  s << "set multiplot layout " << rows << "," << cols;
  if (!o.title.empty()) s << " title " << gnuplot_quote(o.title) << " font 'sans," << font + 2 << "'";
  s << "\n";

  for (size_t k = 0; k < panels.size(); ++k) {
    const std::string& name = panels[k];
    const Panel p = panel_of(name);
    const bool key = k == 0;  // the first panel holds the legend
    s << "\n# " << name << "\nset title " << gnuplot_quote(p.title) << " font 'sans," << font + 2
      << "'\nset ylabel " << gnuplot_quote(p.ylabel)
      << "\nunset logscale y\nset autoscale y\nunset label\nset ytics\n" << xtics
      << (key ? "set key\n" : "unset key\n");
    std::vector<const RunCurves*> drawn;
    for (const RunCurves& r : runs)
      if (name != "flip" || r.has_flips()) drawn.push_back(&r);
    if (drawn.empty()) {  // the flip panel when no run has 1-bit weights (the legend's names, if it is first)
      s << "set label 1 'no 1-bit weights' at graph 0.5, 0.5 center\nunset ytics\nset yrange [0:1]\nplot NaN notitle";
      for (size_t i = 0; key && i < runs.size(); ++i)
        s << ", keyentry with lines ls " << i + 1 << " title " << gnuplot_quote(runs[i].name);
      s << "\n";
      continue;
    }
    Range range;
    for (const RunCurves* r : drawn)
      for (const EpochMetrics& m : r->epochs) {
        range.add(plotted(m, p.column_train));
        if (p.column_test) range.add(plotted(m, p.column_test));
      }
    const bool log =
        (name == "lr" && range.all_positive && range.hi > 10 * range.lo) || (name == "flip" && range.all_positive);
    if (log) s << "set logscale y\n";
    if (range.lo == range.hi) {  // one value (a constant learning rate, one epoch): a range around it
      const double v = range.lo, d = v == 0 ? 1 : std::abs(v) / 2;
      s << "set yrange [" << num(log ? v / 10 : v - d) << ":" << num(log ? v * 10 : v + d) << "]\n";
    }
    // Room above the curves for the legend (drawn opaque, it would hide what it covers).
    if (key && !log) {
      const double lines = static_cast<double>(runs.size() + (p.column_test ? 2 : 0));
      // Measured on gnuplot 5.4's output: a cell's plot area is its height less about 10 font
      // sizes (title, tick labels, axis label); a legend line takes about 1.9, plus its box.
      const double area = static_cast<double>(o.height) / rows - 10.0 * font;
      const double f = std::clamp((lines * 1.9 + 1.5) * font / std::max(area, 1.0), 0.0, 0.6);
      s << "set offsets 0, 0, graph " << num(f / (1 - f)) << ", 0\n";
    } else {
      s << "set offsets 0, 0, 0, 0\n";
    }
    std::vector<std::string> items;
    for (size_t i = 0; i < runs.size(); ++i) {
      const RunCurves& r = runs[i];
      const std::string file = gnuplot_quote(cat("run", i, ".dat"));
      const std::string title = key ? cat("title ", gnuplot_quote(r.name)) : std::string("notitle");
      if (name == "flip" && !r.has_flips()) {
        if (key)
          items.push_back(cat("keyentry with lines ls ", i + 1, " title ", gnuplot_quote(cat(r.name, " (no 1-bit weights)"))));
        continue;
      }
      items.push_back(cat(file, " using 1:", p.column_train, " with ", with, " ls ", i + 1, " dt 1 ", title));
      if (p.column_test)
        items.push_back(cat(file, " using 1:", p.column_test, " with ", with, " ls ", i + 1, " dt 2 notitle"));
    }
    if (p.column_test && key) {
      items.push_back("keyentry with lines lc rgb 'black' lw 2 dt 1 title 'train'");
      items.push_back("keyentry with lines lc rgb 'black' lw 2 dt 2 title 'test'");
    }
    if (name == "flip" && drawn.size() < runs.size() && !key) {
      std::string without;
      for (const RunCurves& r : runs)
        if (!r.has_flips()) without += cat(without.empty() ? "" : ", ", r.name);
      s << "set label 1 " << gnuplot_quote(cat("no 1-bit weights: ", without)) << " at graph 0.98, 0.95 right front\n";
    }
    s << "plot ";
    for (size_t i = 0; i < items.size(); ++i) s << (i ? ", \\\n     " : "") << items[i];
    s << "\n";
  }
  s << "unset multiplot\nset output\n";
  return s.str();
}

}  // namespace

std::string gnuplot_quote(const std::string& s) {
  std::string q = "'";
  const auto* b = reinterpret_cast<const unsigned char*>(s.data());
  const size_t n = s.size();
  for (size_t i = 0; i < n;) {
    const unsigned char c = b[i];
    if (c < 0x80) {
      q += c < 0x20 || c == 0x7f ? std::string("?") : c == '\'' ? std::string("''") : std::string(1, char(c));
      ++i;
      continue;
    }
    // A well-formed UTF-8 sequence (no overlong forms, surrogates or values above U+10FFFF)
    // is kept; any other byte becomes '?'.
    size_t len = c >= 0xC2 && c <= 0xDF ? 2 : c >= 0xE0 && c <= 0xEF ? 3 : c >= 0xF0 && c <= 0xF4 ? 4 : 0;
    bool ok = len > 0 && i + len <= n;
    for (size_t k = 1; ok && k < len; ++k) ok = (b[i + k] & 0xC0) == 0x80;
    if (ok && len >= 3) {
      const unsigned char c1 = b[i + 1];
      ok = !(c == 0xE0 && c1 < 0xA0) && !(c == 0xED && c1 >= 0xA0) && !(c == 0xF0 && c1 < 0x90) &&
           !(c == 0xF4 && c1 >= 0x90);
    }
    if (!ok) {
      q += '?';
      ++i;
      continue;
    }
    q.append(s, i, len);
    i += len;
  }
  return q + "'";
}

std::string metrics_path(const std::string& run) {
  std::error_code ec;
  const fs::file_status st = fs::status(run, ec);
  LOWBIT_CHECK(fs::exists(st), run, ": no such run folder or metrics.jsonl file");
  if (!fs::is_directory(st)) return run;
  const std::string path = (fs::path(run) / "metrics.jsonl").string();
  LOWBIT_CHECK(fs::exists(path, ec), run, " holds no metrics.jsonl: not a training run folder (lowbit train --out), or "
               "no epoch has finished yet");
  return path;
}

std::vector<EpochMetrics> read_metrics_file(const std::string& path) {
  const std::vector<uint8_t> bytes = read_file(path);
  const std::string text(bytes.begin(), bytes.end());
  std::vector<EpochMetrics> epochs;
  std::istringstream in(text);
  std::string line;
  for (int64_t n = 1; std::getline(in, line); ++n) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const std::string where = cat(path, " line ", n);
    const nlohmann::json j = parse_json_strict(line, where);
    EpochMetrics m;
    try {
      m = metrics_from_json(j);
    } catch (const Error& e) {
      // metrics_from_json names its source as a checkpoint's history; here it is this file.
      std::string what = e.what();
      const std::string from = "epoch metrics in checkpoint";
      if (what.compare(0, from.size(), from) == 0) what = cat("epoch metrics", what.substr(from.size()));
      fail(where, ": ", what);
    }
    if (!epochs.empty())
      LOWBIT_CHECK(m.epoch > epochs.back().epoch, where, ": epoch ", m.epoch, " follows epoch ", epochs.back().epoch,
                   " (epochs must increase)");
    epochs.push_back(m);
  }
  LOWBIT_CHECK(!epochs.empty(), path, ": no epoch in it (an empty metrics.jsonl): nothing to plot");
  return epochs;
}

std::vector<std::string> run_names(const std::vector<std::string>& runs) {
  std::vector<std::string> files;
  std::vector<std::vector<std::string>> parts;
  for (const std::string& run : runs) {
    files.push_back(metrics_path(run));
    fs::path p = fs::absolute(files.back()).lexically_normal();
    if (p.filename() == "metrics.jsonl") p = p.parent_path();  // the run's folder names it
    parts.push_back(components(p));
    if (parts.back().empty()) parts.back().push_back("/");
  }
  for (size_t i = 0; i < files.size(); ++i)
    for (size_t j = 0; j < i; ++j) {
      std::error_code ec;
      if (fs::equivalent(files[i], files[j], ec) && !ec)
        usage_fail(runs[j], " and ", runs[i], " are the same run (", files[i], "): give each run once");
    }
  // Lengthen the names that collide, a parent folder at a time, until all differ.
  std::vector<size_t> depth(runs.size(), 1);
  auto name = [&](size_t i) {
    const std::vector<std::string>& c = parts[i];
    std::string s;
    for (size_t k = c.size() - std::min(depth[i], c.size()); k < c.size(); ++k) s += (s.empty() ? "" : "/") + c[k];
    return s;
  };
  for (bool changed = true; changed;) {
    changed = false;
    std::map<std::string, std::vector<size_t>> seen;
    for (size_t i = 0; i < runs.size(); ++i) seen[name(i)].push_back(i);
    for (const auto& [n, group] : seen)
      if (group.size() > 1)
        for (size_t i : group)
          if (depth[i] < parts[i].size()) {
            ++depth[i];
            changed = true;
          }
  }
  std::vector<std::string> names;
  for (size_t i = 0; i < runs.size(); ++i) names.push_back(name(i));
  return names;
}

std::vector<std::string> plot_learning_curves(const std::vector<std::string>& runs, const std::string& output,
                                              const PlotOptions& options) {
  const std::string format = image_format(output);
  check_options(options);
  LOWBIT_CHECK_USAGE(!runs.empty(), "no run to plot: give one or more run folders (or metrics.jsonl files)");
  const std::vector<std::string> names = run_names(runs);
  std::vector<RunCurves> curves;
  for (size_t i = 0; i < runs.size(); ++i) curves.push_back({names[i], read_metrics_file(metrics_path(runs[i]))});

  const fs::path out(output);
  const fs::path folder = out.has_parent_path() ? out.parent_path() : fs::path(".");
  std::error_code ec;
  LOWBIT_CHECK(fs::is_directory(folder, ec), output, ": its folder ", folder.string(), " does not exist");
  std::string gnuplot;
  try {
    gnuplot = hw::find_tool("gnuplot", "gnuplot-nox");
  } catch (const Error&) {
    fail("gnuplot not found on PATH: lowbit plot draws with it; install Debian's package gnuplot-nox "
         "(scripts/install-deps.sh installs it)");
  }

  TempFolder tmp;
  for (size_t i = 0; i < curves.size(); ++i) write_text(tmp.file(cat("run", i, ".dat")), data_file(curves[i]));
  const std::string image = cat("curves.", format);
  write_text(tmp.file("curves.gp"), script(curves, format, image, options));
  const std::string log = tmp.file("gnuplot.log");
  const int status = hw::run_tool(hw::shell_quote(gnuplot) + " curves.gp", tmp.path(), log);
  // check_tool's message would name the log, which goes with the temporary folder: quote it instead.
  if (status != 0)
    fail("gnuplot failed drawing ", output, " (exit ", status, "); its last lines:\n", hw::tail_lines(log, 15));
  const std::vector<uint8_t> bytes = read_file(tmp.file(image));
  LOWBIT_CHECK(!bytes.empty(), "gnuplot wrote an empty image for ", output);
  remove_stale_temp_files(folder.string(), out.filename().string());
  write_file_atomic(output, bytes);
  return names;
}

}  // namespace lowbit::train
