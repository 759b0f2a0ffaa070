// lowbit plot RUN... -o curves.svg|png: learning curves of training runs (loss, accuracy,
// learning rate, flip ratio per epoch; several runs overlaid), drawn by gnuplot
// (train/learning_curves.hpp, docs/TRAINING.md "Learning curves: lowbit plot").
#include <charconv>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include "lowbit/cli/commands.hpp"
#include "lowbit/core/error.hpp"
#include "lowbit/train/learning_curves.hpp"

namespace lowbit::cli {

namespace {

struct PlotArgs {
  std::vector<std::string> runs, panels = {"loss", "accuracy", "lr", "flip"};
  std::string output, size = "1200x900", title;
};

// "WxH" -> width, height; UsageError naming --size otherwise (the range is the library's).
void parse_size(const std::string& s, int& width, int& height) {
  const size_t x = s.find_first_of("xX");
  auto whole = [](const char* b, const char* e, int& v) {
    const auto [end, ec] = std::from_chars(b, e, v);
    return ec == std::errc() && end == e && b != e;
  };
  if (x == std::string::npos || !whole(s.data(), s.data() + x, width) ||
      !whole(s.data() + x + 1, s.data() + s.size(), height))
    usage_fail("--size '", s, "': give WIDTHxHEIGHT in pixels, e.g. 1200x900");
}

}  // namespace

Action add_plot_command(CLI::App& app) {
  auto args = std::make_shared<PlotArgs>();
  CLI::App* cmd = app.add_subcommand(
      "plot",
      "Draw learning curves from training runs' metrics.jsonl files: loss (train solid, test dashed), accuracy "
      "(train and test, %), the learning rate (log scale when it spans more than 10x) and the flip ratio (the share "
      "of 1-bit weights whose sign changed in each epoch; log scale), per epoch, in a 2x2 grid. Several runs are "
      "overlaid, one colour each, with a legend naming each run by its folder (with parent folders when two have "
      "the same name). Drawn by gnuplot (Debian's gnuplot-nox) into an SVG or PNG file");
  cmd->add_option("runs", args->runs,
                  "Run folders (lowbit train --out; their metrics.jsonl is read) or metrics.jsonl files themselves")
      ->required();
  cmd->add_option("-o,--output", args->output,
                  "The image to write: .svg (gnuplot's svg terminal) or .png (pngcairo), by the name's ending; "
                  "replaced atomically if it exists")
      ->required()
      ->check(non_empty());
  cmd->add_option("--size", args->size, "Image size WIDTHxHEIGHT in pixels, each 200..10000")->capture_default_str();
  cmd->add_option("--title", args->title, "A title above the panels (default: none)");
  cmd->add_option("--panels", args->panels,
                  "Which panels, comma-separated: loss, accuracy, lr, flip (always drawn in that order; 1 panel: "
                  "one plot, 2: side by side, 3 or 4: 2x2)")
      ->delimiter(',')
      ->capture_default_str();
  cmd->footer(cat(
      "The flip panel draws the runs that have 1-bit weights (flip_ratio >= 0 in metrics.jsonl); when none has, it "
      "says \"no 1-bit weights\". A log axis needs positive values: a learning rate or flip ratio of 0 (an epoch "
      "without a flip, a schedule that ends at 0) makes that panel linear. Colours repeat after ten runs.\n"
      "Example: lowbit plot runs/w1a1 runs/float -o curves.png --size 1600x1000 --title 'LFC on Fashion-MNIST'\n",
      kExitCodesHelp));
  return [args]() {
    train::PlotOptions opt;
    parse_size(args->size, opt.width, opt.height);
    opt.title = args->title;
    opt.panels = args->panels;
    // The files read: the image must not replace one of them (a folder stands for its metrics.jsonl only, so
    // the image may go into a run's own folder).
    std::vector<std::string> inputs;
    for (const std::string& run : args->runs) {
      std::error_code ec;
      inputs.push_back(std::filesystem::is_directory(run, ec) ? (std::filesystem::path(run) / "metrics.jsonl").string()
                                                              : run);
    }
    check_output("-o", args->output, inputs);
    const std::vector<std::string> names = train::plot_learning_curves(args->runs, args->output, opt);
    std::cout << "wrote " << args->output << ": " << names.size() << (names.size() == 1 ? " run (" : " runs (");
    for (size_t i = 0; i < names.size(); ++i) std::cout << (i ? ", " : "") << names[i];
    std::cout << ")\n";
    return kExitOk;
  };
}

}  // namespace lowbit::cli
