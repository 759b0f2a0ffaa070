#include "lowbit/optim/schedule.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <numbers>
#include <vector>

#include "lowbit/core/error.hpp"

namespace lowbit::optim {

namespace {

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (true) {
    size_t pos = s.find(sep, start);
    parts.push_back(s.substr(start, pos == std::string::npos ? std::string::npos : pos - start));
    if (pos == std::string::npos) return parts;
    start = pos + 1;
  }
}

[[noreturn]] void bad_spec(const std::string& spec, const std::string& why) {
  fail("bad learning-rate schedule '", spec, "': ", why, " (valid forms: ", schedule_forms(), ")");
}

int64_t parse_positive_int(const std::string& spec, const std::string& text, const char* what) {
  int64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() || value <= 0)
    bad_spec(spec, cat(what, " must be a positive integer, got '", text, "'"));
  return value;
}

float parse_positive_float(const std::string& spec, const std::string& text, const char* what) {
  float value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() || !std::isfinite(value) ||
      value <= 0.f)
    bad_spec(spec, cat(what, " must be a number > 0, got '", text, "'"));
  return value;
}

std::string float_str(float v) {
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);  // shortest round-trip form
  return std::string(buf, end);
}

}  // namespace

const std::string& schedule_forms() {
  static const std::string forms = "constant, step:N:GAMMA, exp:GAMMA, cosine";
  return forms;
}

LrSchedule::LrSchedule(ScheduleConfig config) : config_(std::move(config)) {
  const ScheduleConfig& c = config_;
  LOWBIT_CHECK(c.kind == "constant" || c.kind == "step" || c.kind == "exp" || c.kind == "cosine",
               "unknown learning-rate schedule kind '", c.kind, "' (valid forms: ", schedule_forms(), ")");
  LOWBIT_CHECK(std::isfinite(c.base_lr) && c.base_lr >= 0.f, "lr schedule: base lr must be finite and >= 0, got ",
               c.base_lr);
  LOWBIT_CHECK(c.epochs >= 1, "lr schedule: epochs must be >= 1, got ", c.epochs);
  LOWBIT_CHECK(std::isfinite(c.warmup_epochs) && c.warmup_epochs >= 0.f,
               "lr schedule: warm-up epochs must be finite and >= 0, got ", c.warmup_epochs);
  if (c.kind == "step")
    LOWBIT_CHECK(c.step_epochs >= 1, "lr schedule step: N (epochs between decays) must be >= 1, got ", c.step_epochs);
  if (c.kind == "step" || c.kind == "exp")
    LOWBIT_CHECK(std::isfinite(c.gamma) && c.gamma > 0.f, "lr schedule ", c.kind,
                 ": gamma must be finite and > 0, got ", c.gamma);
  if (c.kind == "cosine") {
    LOWBIT_CHECK(std::isfinite(c.min_lr) && c.min_lr >= 0.f && c.min_lr <= c.base_lr,
                 "lr schedule cosine: min lr must be in [0, base lr = ", c.base_lr, "], got ", c.min_lr);
    LOWBIT_CHECK(c.warmup_epochs < static_cast<float>(c.epochs), "lr schedule cosine: warm-up (",
                 c.warmup_epochs, " epochs) must be shorter than the run (", c.epochs, " epochs)");
  }
}

int64_t LrSchedule::warmup_steps(int64_t steps_per_epoch) const {
  LOWBIT_CHECK(steps_per_epoch >= 1, "lr schedule: steps per epoch must be >= 1, got ", steps_per_epoch);
  if (config_.warmup_epochs <= 0.f) return 0;
  // The small tolerance keeps e.g. 0.1f * 10 (= 1.0000000149) at 1 step, not 2.
  const double x = static_cast<double>(config_.warmup_epochs) * static_cast<double>(steps_per_epoch);
  return std::max<int64_t>(1, static_cast<int64_t>(std::ceil(x - 1e-3)));
}

float LrSchedule::at(int64_t epoch, int64_t step_in_epoch, int64_t steps_per_epoch) const {
  const ScheduleConfig& c = config_;
  LOWBIT_CHECK(steps_per_epoch >= 1, "lr schedule: steps per epoch must be >= 1, got ", steps_per_epoch);
  LOWBIT_CHECK(epoch >= 0, "lr schedule: epoch must be >= 0, got ", epoch);
  LOWBIT_CHECK(step_in_epoch >= 0 && step_in_epoch < steps_per_epoch, "lr schedule: step ", step_in_epoch,
               " is outside an epoch of ", steps_per_epoch, " steps");
  const int64_t s = epoch * steps_per_epoch + step_in_epoch;
  const int64_t w = warmup_steps(steps_per_epoch);
  const double base = c.base_lr;
  if (s < w) return static_cast<float>(base * static_cast<double>(s + 1) / static_cast<double>(w));

  double lr = base;
  if (c.kind == "step") {
    lr = base * std::pow(static_cast<double>(c.gamma), static_cast<double>(epoch / c.step_epochs));
  } else if (c.kind == "exp") {
    lr = base * std::pow(static_cast<double>(c.gamma), static_cast<double>(epoch));
  } else if (c.kind == "cosine") {
    const int64_t total = c.epochs * steps_per_epoch;
    const double p = std::min(1.0, static_cast<double>(s - w) / static_cast<double>(std::max<int64_t>(1, total - w)));
    const double lo = c.min_lr;
    lr = lo + (base - lo) * 0.5 * (1.0 + std::cos(std::numbers::pi * p));
  }
  return static_cast<float>(lr);
}

ScheduleConfig parse_schedule(const std::string& spec, ScheduleConfig defaults) {
  const std::vector<std::string> parts = split(spec, ':');
  const std::string& kind = parts[0];
  ScheduleConfig c = std::move(defaults);
  if (kind == "constant" || kind == "cosine") {
    if (parts.size() != 1) bad_spec(spec, cat("'", kind, "' takes no arguments"));
  } else if (kind == "step") {
    if (parts.size() != 3) bad_spec(spec, "expected step:N:GAMMA, e.g. step:30:0.1");
    c.step_epochs = parse_positive_int(spec, parts[1], "N (epochs between decays)");
    c.gamma = parse_positive_float(spec, parts[2], "GAMMA");
  } else if (kind == "exp") {
    if (parts.size() != 2) bad_spec(spec, "expected exp:GAMMA, e.g. exp:0.95");
    c.gamma = parse_positive_float(spec, parts[1], "GAMMA");
  } else {
    fail("unknown learning-rate schedule '", spec, "' (valid forms: ", schedule_forms(), ")");
  }
  c.kind = kind;
  return c;
}

std::string schedule_spec(const ScheduleConfig& c) {
  if (c.kind == "step") return cat("step:", c.step_epochs, ":", float_str(c.gamma));
  if (c.kind == "exp") return cat("exp:", float_str(c.gamma));
  return c.kind;
}

}  // namespace lowbit::optim
