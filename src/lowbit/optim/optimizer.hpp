// Optimizers: the update rules that turn parameter gradients into new parameter values.
// Formulas, sources and CLI names are in docs/OPTIMIZERS.md.
//
// Contract of step(lr), per parameter p in the list given at construction:
// - p is skipped when p->group != group() (another optimizer owns it: the main optimizers
//   own group "", Bop owns "binary");
// - the effective learning rate is lr * p->lr_scale;
// - weight decay applies only when p->decay;
// - after the update, if p->clip > 0, p->value is clamped to [-clip, clip]
//   (BinaryNet's clipping of the latent real-valued weights); update_range() does this in the
//   same pass as the update (clip_bounds()), saving a pass over the weights.
// State tensors (momentum, Adam moments) are allocated once, at construction, with the
// shape each parameter's value has then; step() throws if a value or gradient no longer
// matches. Every input is checked before anything is written, so a failed step() leaves
// parameters and state untouched.
//
// Checkpoints: state_tensors() names the state tensors ("adam.m.3": 3 is the index into
// the parameter list) and state_json() carries the scalar state (step count). Loading
// both into a fresh optimizer built over the same parameters continues bit-for-bit.
#pragma once
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "lowbit/core/parallel.hpp"
#include "lowbit/core/tensor.hpp"
#include "lowbit/nn/layer.hpp"

namespace lowbit::optim {

using json = nlohmann::json;

class Optimizer {
 public:
  // params must be non-null and distinct; the optimizer does not own them. It updates
  // those whose Param::group equals `group`.
  explicit Optimizer(std::vector<nn::Param*> params, std::string group = "");
  virtual ~Optimizer();
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

  virtual std::string name() const = 0;  // "sgd", "adam", "adamw"

  // Work a caller runs on each slice of a parameter's update, on the thread that updates it,
  // while the slice is in cache (low-precision training's rounding, optim/low_precision_update.hpp).
  // Slices partition each owned parameter's elements; the update is elementwise, so the
  // result is the same as one whole-tensor update between whole-tensor passes.
  struct SliceHooks {
    virtual ~SliceHooks() = default;
    // Before and after elements [begin, end) of params()[index] are updated.
    virtual void before(size_t index, nn::Param& p, int64_t begin, int64_t end) = 0;
    virtual void after(size_t index, nn::Param& p, int64_t begin, int64_t end) = 0;
  };
  // Elements per slice (16 KiB of floats per tensor: a slice's value, gradient and state
  // stay in L1/L2 between the hooks and the update).
  static constexpr int64_t kSlice = 4096;

  // One update with learning rate lr (already scheduled; finite and >= 0); with hooks,
  // slice by slice as SliceHooks says.
  void step(float lr, SliceHooks* hooks = nullptr);

  // Pruning (nn::Param::mask): sets every masked parameter's pruned elements, and their
  // optimizer state (momentum, Adam moments), to exactly 0 now. step() keeps them there
  // (it zeroes their gradients before the update and value and state after it), so call
  // this once when masks are set or change.
  void apply_masks();

  // Named state tensors for checkpoints, e.g. "adam.m.3". Empty for plain SGD.
  virtual std::vector<std::pair<std::string, Tensor*>> state_tensors();
  // Those of params()[index] (named "<...>.<index>"), elementwise partners of its value.
  std::vector<std::pair<std::string, Tensor*>> state_of(size_t index);
  // Scalar state: {"optimizer": name(), "params": count, "steps": steps()}.
  virtual json state_json() const;
  // Restores state_json(); throws lowbit::Error on a different optimizer, a different
  // parameter count or malformed input (and then changes nothing).
  virtual void load_state_json(const json& state);

  int64_t steps() const { return steps_; }  // completed step() calls
  const std::vector<nn::Param*>& params() const { return params_; }
  // True when this optimizer updates params()[index] (its group is group()).
  bool owns(size_t index) const { return params_.at(index)->group == group_; }
  const std::string& group() const { return group_; }

 protected:
  // Update elements [begin, end) of one owned parameter with its effective learning rate,
  // on the calling thread (step() splits the elements over threads); steps() already
  // counts the current step (1 on the first call). Elementwise: element i's new value and
  // state depend only on element i. Must clamp new values to clip_bounds(p).
  virtual void update_range(size_t index, nn::Param& p, float lr, int64_t begin, int64_t end) = 0;
  // [-clip, clip], or [-inf, inf] when p.clip == 0.
  static std::pair<float, float> clip_bounds(const nn::Param& p);
  // Called for every owned parameter before any update: throw if its state does not fit.
  virtual void check_state(size_t index, const nn::Param& p) const {}
  // Throws unless state has as many elements as p.value (shared by subclasses).
  void check_state_tensor(const Tensor& state, const char* what, size_t index,
                          const nn::Param& p) const;
  // Display name of a parameter for error messages: "param 3 (dense_1.weight)".
  std::string describe(size_t index) const;

  std::vector<nn::Param*> params_;

 private:
  static void mask_gradient(nn::Param& p, int64_t begin, int64_t end);
  static void apply_mask(nn::Param& p, const std::vector<float*>& state, int64_t begin, int64_t end);

  std::string group_;
  int64_t steps_ = 0;
};

// Hyper-parameters for make_optimizer(). Fields an optimizer does not use are ignored
// (momentum/nesterov by Adam, betas/eps by SGD).
struct OptimizerConfig {
  std::string name = "adam";
  float momentum = 0.9f;
  bool nesterov = false;
  float weight_decay = 0.f;
  float beta1 = 0.9f, beta2 = 0.999f, eps = 1e-8f;
};

// Names accepted by make_optimizer(): {"sgd", "adam", "adamw"}.
const std::vector<std::string>& optimizer_names();

// Unknown name -> lowbit::Error listing the valid names; bad hyper-parameters -> Error.
std::unique_ptr<Optimizer> make_optimizer(const OptimizerConfig& config,
                                          std::vector<nn::Param*> params);

// x clamped to [lo, hi], written with value selects: GCC vectorises this form inside
// `omp simd` loops but not std::min/std::max/std::clamp (which it sees as control flow).
inline float clamp_to(float x, float lo, float hi) {
  x = x < lo ? lo : x;
  return x > hi ? hi : x;
}

// Parallelise element loops over threads only from this many elements on (core/parallel.hpp's
// grain for a few operations per element); below it the thread start-up costs more.
inline constexpr int64_t kOptimParallelMin = Grain::kArithmetic;

}  // namespace lowbit::optim
