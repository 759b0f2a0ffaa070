// Learning-rate schedules: a pure function of (epoch, step in epoch), so a resumed run
// gets exactly the learning rates the uninterrupted run would have had.
//
// Time is counted in optimizer steps: s = epoch * steps_per_epoch + step_in_epoch
// (epoch and step both 0-based), T = epochs * steps_per_epoch, and the warm-up lasts
// W = ceil(warmup_epochs * steps_per_epoch) steps (0 when warmup_epochs == 0).
//   s < W (warm-up):  lr = base_lr * (s + 1) / W        (linear, from base_lr/W up to base_lr)
//   otherwise, by kind:
//     constant   lr = base_lr
//     step:N:G   lr = base_lr * G^floor(epoch / N)      (epochs counted from 0, warm-up included)
//     exp:G      lr = base_lr * G^epoch                 (per epoch, a staircase like Keras
//                                                        ExponentialDecay(staircase=True))
//     cosine     lr = min_lr + (base_lr - min_lr) * (1 + cos(pi * p)) / 2, per step, with
//                p = min(1, (s - W) / max(1, T - W)): base_lr right after warm-up, min_lr at T
// Formulas and sources: docs/OPTIMIZERS.md.
#pragma once
#include <cstdint>
#include <string>

namespace lowbit::optim {

struct ScheduleConfig {
  std::string kind = "constant";  // "constant", "step", "exp", "cosine"
  float base_lr = 1e-3f;
  int64_t epochs = 1;             // length of the run (cosine reaches min_lr at its end)
  float warmup_epochs = 0;        // fractional allowed
  int64_t step_epochs = 10;       // step: decay every step_epochs epochs
  float gamma = 0.1f;             // step, exp: decay factor
  float min_lr = 0.f;             // cosine: final learning rate
};

class LrSchedule {
 public:
  // Throws lowbit::Error on an unknown kind or out-of-range values.
  explicit LrSchedule(ScheduleConfig config);

  // Learning rate for step step_in_epoch (0-based, < steps_per_epoch) of epoch epoch
  // (0-based). Epochs past config.epochs are allowed (cosine stays at min_lr).
  float at(int64_t epoch, int64_t step_in_epoch, int64_t steps_per_epoch) const;
  // W above: the number of warm-up steps for a given epoch length.
  int64_t warmup_steps(int64_t steps_per_epoch) const;

  const ScheduleConfig& config() const { return config_; }

 private:
  ScheduleConfig config_;
};

// The spec forms parse_schedule() accepts, for help texts and error messages:
// "constant, step:N:GAMMA, exp:GAMMA, cosine".
const std::string& schedule_forms();

// Parse a CLI spec into defaults with kind (and step_epochs/gamma) replaced:
//   "constant" | "step:N:GAMMA" (N > 0 integer, GAMMA > 0) | "exp:GAMMA" | "cosine".
// An unknown form -> lowbit::Error listing the valid forms; malformed numbers -> Error.
ScheduleConfig parse_schedule(const std::string& spec, ScheduleConfig defaults);

// The spec that parse_schedule() turns back into config's kind/step_epochs/gamma.
std::string schedule_spec(const ScheduleConfig& config);

}  // namespace lowbit::optim
