// Learning curves of training runs (`lowbit plot`, the Python module's `lowbit.plot`): one
// image of up to four panels, every run overlaid in its own colour, a legend naming each run.
//
//   loss           training loss (solid) and test loss (dashed) per epoch
//   accuracy       training and test accuracy (%) per epoch, solid and dashed
//   lr             the learning rate at each epoch's last step; log scale when it spans more
//                  than 10x and every value is positive
//   flip           the flip ratio: the fraction of 1-bit weights whose sign changed during
//                  the epoch, log scale when every value is positive (an epoch without a
//                  flip, 0, has no place on a log axis: then linear). Runs without 1-bit
//                  weights (flip_ratio -1) have no curve; when no run has any, the panel
//                  says "no 1-bit weights".
//
// Panels are laid out 1x1, 1x2 or 2x2 (2x2 for three or four), in the order above.
//
// Files read: each run's metrics.jsonl (docs/FORMAT.md), RUN/metrics.jsonl for a folder or
// the file itself. A run is named in the legend by its folder's name; runs whose folder names
// are equal are named by as many trailing path components as tell them apart.
//
// External program: gnuplot (Debian's gnuplot-nox), found on PATH (hw/eda_tools.hpp
// find_tool). Its script, data files and image go into a private temporary folder (removed
// afterwards, also on failure); the image is then written to `output` atomically
// (core/file_io.hpp write_file_atomic: a temporary file beside it, renamed over it).
//
// Errors:
//   lowbit::UsageError  an output name ending in neither .svg nor .png; no runs; the same run
//                       given twice; a size or panel out of range (PlotOptions)
//   lowbit::Error       a run that does not exist or holds no metrics.jsonl; a metrics.jsonl
//                       with no epoch, a malformed line or epochs that do not increase (the
//                       message names the file and the line); the output's folder missing;
//                       gnuplot missing or failing (with the last lines it printed); the
//                       image not writable
#pragma once
#include <string>
#include <vector>

#include "lowbit/train/progress.hpp"

namespace lowbit::train {

struct PlotOptions {
  int width = 1200, height = 900;  // image size in pixels (SVG: its viewBox), each in 200..10000
  std::string title;               // above the panels; "" for none
  // Which panels, in any order (drawn in the order loss, accuracy, lr, flip); each at most once.
  std::vector<std::string> panels = {"loss", "accuracy", "lr", "flip"};
};

// The epochs of one metrics.jsonl file, in order (blank lines skipped). lowbit::Error naming
// the file: missing or unreadable, no epoch; and the line too: not JSON, a value missing or
// out of range (train/trainer.hpp metrics_from_json), an epoch not above the one before.
std::vector<EpochMetrics> read_metrics_file(const std::string& path);

// The metrics.jsonl path a run argument stands for (RUN/metrics.jsonl for a folder, RUN for
// a file); lowbit::Error when RUN does not exist. Does not read it.
std::string metrics_path(const std::string& run);

// Legend names for the runs: each folder's name, lengthened by parent folders where two
// would be equal. `runs` are metrics.jsonl paths or run folders. UsageError when two name
// the same file.
std::vector<std::string> run_names(const std::vector<std::string>& runs);

// Reads every run and draws its curves into `output` (.svg: gnuplot's `svg` terminal, .png:
// `pngcairo`; by the extension, in any letter case). Returns the legend's run names, in the
// order of `runs`. Writes nothing to `output` when it throws.
std::vector<std::string> plot_learning_curves(const std::vector<std::string>& runs, const std::string& output,
                          const PlotOptions& options = {});

// A string as a gnuplot single-quoted literal: ' doubled; control characters and invalid
// UTF-8 bytes become '?', so the SVG stays well-formed.
std::string gnuplot_quote(const std::string& s);

}  // namespace lowbit::train
