// What `eval` and `run` add to the accuracy: per-class results and the --scores file.
#include <cstdio>
#include <string>

#include "lowbit/cli/commands.hpp"
#include "lowbit/core/error.hpp"

namespace lowbit::cli {

std::string scores_csv(const data::Dataset& ds, const int32_t* predictions, const float* scores, int classes) {
  std::string out = "image,label,predicted";
  for (int c = 0; c < classes; ++c) out += ",score_" + std::to_string(c);
  out += "\n";
  char buf[32];
  for (int64_t i = 0; i < ds.size(); ++i) {
    out += std::to_string(i) + "," + std::to_string(ds.labels[static_cast<size_t>(i)]) + "," +
           std::to_string(predictions[i]);
    for (int c = 0; c < classes; ++c) {
      // %.9g: a float's shortest exact decimal form needs at most 9 digits.
      std::snprintf(buf, sizeof buf, ",%.9g", static_cast<double>(scores[i * classes + c]));
      out += buf;
    }
    out += "\n";
  }
  return out;
}

void add_class_result_options(CLI::App* cmd, ClassResultArgs& args) {
  cmd->add_option("--scores", args.scores,
                  "Write each image's scores as CSV: image,label,predicted,score_0..score_K-1 (dataset order)")
      ->check(non_empty());
  cmd->add_flag("--no-per-class", args.no_per_class, "Leave out the per-class table and confusion matrix");
}

}  // namespace lowbit::cli
