// Progress reporting: a live bar redrawn in place on a terminal, and one plain line per
// epoch otherwise (logs, CI, pipes).
#pragma once
#include <chrono>
#include <cstdint>
#include <ostream>
#include <string>

namespace lowbit::train {

struct EpochMetrics {
  int64_t epoch = 0;  // 1-based
  double loss = 0, train_acc = 0;
  double test_loss = 0, test_acc = 0;
  double seconds = 0;  // training time of the epoch (evaluation excluded)
  double eval_seconds = 0;
  double lr = 0;
  double images_per_second = 0;
  // Fraction of 1-bit weights whose sign changed during the epoch; -1 when the model has none.
  double flip_ratio = -1;
  // Fraction of the quantized weights of prunable layers (ternary, syq:ternary, int:k
  // symmetric; nn/pruning.hpp) that are zero at the end of the epoch; -1 when it has none.
  double weight_zeros = -1;
  // Data-parallel training: seconds of the epoch spent in the gradient and metric
  // all-reduces (waiting for the slowest rank included; sync BN's are in the layers' time);
  // -1 when training alone.
  double allreduce_seconds = -1;
};

class Progress {
 public:
  Progress(bool live, std::ostream& os) : live_(live), os_(os) {}
  void start_epoch(int64_t epoch, int64_t epochs, int64_t steps);
  void update(int64_t step, double loss, double acc, double images_per_second);
  void end_epoch(const EpochMetrics& m);

  static bool stdout_is_terminal();

 private:
  bool live_;
  std::ostream& os_;
  int64_t epoch_ = 0, epochs_ = 0, steps_ = 0;
  std::chrono::steady_clock::time_point last_draw_{};
};

}  // namespace lowbit::train
