// A folded dataflow design and what it costs (docs/HARDWARE.md): per unit the cycles per
// frame (finn_model.hpp exp_cycles) and the resources under the chosen model (FINN's
// formulas or lowbit's structural model); the bottleneck unit sets the throughput,
//   fps = f_clk / max_i cycles_i,
// and a frame's latency is the sum of the units' cycles (FINN's dataflow_performance on a
// chain: every unit is on the critical path). The design fits when every resource total is
// within `utilization` of the device's.
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "lowbit/hw/calibrated_model.hpp"
#include "lowbit/hw/dataflow.hpp"
#include "lowbit/hw/device.hpp"
#include "lowbit/hw/finn_model.hpp"

namespace lowbit::hw {

enum class ResourceModel { kFinn, kCalibrated };

// What resources are counted with and against.
struct CostModel {
  ResourceModel model = ResourceModel::kFinn;
  Device device;
  Calibration calibration;    // the calibrated model's coefficients
  double utilization = 1.0;   // the share of each device resource a design may use, (0, 1]
  double clock_mhz = 100;

  Resources of(const Node& n) const {
    return model == ResourceModel::kFinn ? finn_resources(n) : calibrated_resources(n, device, calibration);
  }
  // The budget: utilization x the device's counts (floored).
  Resources budget() const;
  std::string model_name() const;  // "FINN (analytical, FINN-R)" or "lowbit structural (uncalibrated: ...)"
};

struct UnitReport {
  int64_t cycles = 0;
  Resources res;
  double share = 0;  // cycles / the bottleneck's cycles
};

struct Plan {
  std::vector<UnitReport> units;  // one per graph node
  Resources total;
  int64_t max_cycles = 0;         // the bottleneck's cycles per frame
  int bottleneck = -1;            // its node index
  int64_t latency_cycles = 0;     // sum of cycles
  double fps = 0;                 // f_clk / max_cycles
  double latency_us = 0;
  bool fits = false;
  std::vector<std::string> over;  // "LUT 61234 > 53200 (115%)" per exceeded resource
};

// Evaluates a folded graph (the folding must be valid: check_folding).
Plan evaluate(const Graph& g, const CostModel& cm);

// The report `lowbit hw plan` prints: a header (model, device, clock, resource model), one
// row per unit (name, layer, MW, MH, PE, SIMD, cycles, LUT, BRAM18, share of the
// bottleneck), totals against the budget, fps, latency, memory, and a warning line per
// resource over budget.
std::string plan_text(const Graph& g, const Plan& p, const CostModel& cm);
nlohmann::json plan_json(const Graph& g, const Plan& p, const CostModel& cm);

// v with `digits` decimals ("%.*f"), the number format of the reports (plan, roofline,
// pruning, zero skipping).
std::string fixed_point(double v, int digits);
// s padded with spaces to at least w characters: on the right (pad, left-aligned columns)
// or on the left (rpad, right-aligned numbers). The reports' table columns.
std::string pad(const std::string& s, size_t w);
std::string rpad(const std::string& s, size_t w);

}  // namespace lowbit::hw
