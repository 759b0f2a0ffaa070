#include "lowbit/train/progress.hpp"

#include <unistd.h>

#include <cstdio>
#include <iomanip>

namespace lowbit::train {

bool Progress::stdout_is_terminal() { return ::isatty(STDOUT_FILENO) == 1; }

void Progress::start_epoch(int64_t epoch, int64_t epochs, int64_t steps) {
  epoch_ = epoch;
  epochs_ = epochs;
  steps_ = steps;
  last_draw_ = {};
}

void Progress::update(int64_t step, double loss, double acc, double images_per_second) {
  if (!live_) return;
  auto now = std::chrono::steady_clock::now();
  if (step < steps_ && now - last_draw_ < std::chrono::milliseconds(100)) return;
  last_draw_ = now;
  const int width = 30;
  int filled = steps_ ? static_cast<int>(width * step / steps_) : width;
  os_ << "\repoch " << epoch_ << "/" << epochs_ << " [" << std::string(static_cast<size_t>(filled), '=')
      << std::string(static_cast<size_t>(width - filled), ' ') << "] " << step << "/" << steps_ << std::fixed
      << std::setprecision(4) << "  loss " << loss << "  acc " << acc << std::setprecision(0) << "  "
      << images_per_second << " img/s   " << std::flush;
}

void Progress::end_epoch(const EpochMetrics& m) {
  if (live_) os_ << "\r\033[K";
  os_ << "epoch " << m.epoch << "/" << epochs_ << std::fixed << std::setprecision(4) << "  loss " << m.loss
      << "  train_acc " << m.train_acc << "  test_loss " << m.test_loss << "  test_acc " << m.test_acc
      << std::setprecision(2) << "  " << m.seconds << " s" << std::setprecision(0) << "  ("
      << m.images_per_second << " img/s)" << std::setprecision(6) << std::defaultfloat << "  lr " << m.lr;
  if (m.flip_ratio >= 0) os_ << "  flips " << std::setprecision(3) << m.flip_ratio * 100 << std::setprecision(6) << "%";
  if (m.allreduce_seconds >= 0) os_ << "  allreduce " << std::setprecision(3) << m.allreduce_seconds << std::setprecision(6) << " s";
  if (m.weight_zeros >= 0) os_ << "  zeros " << std::setprecision(4) << m.weight_zeros * 100 << std::setprecision(6) << "%";
  os_ << "\n" << std::flush;
}

}  // namespace lowbit::train
