// The layer contract. A layer maps a batch x (N, ...) to y (N, ...), and given the
// upstream gradient dy writes its parameter gradients and, when asked, dx.
//
// - Shapes passed to output_shape()/macs() are per-sample (no batch dimension).
// - forward() may cache what backward() needs (masks, normalised values, im2col
//   buffers); backward() is called with the same x and y, right after forward().
// - backward() OVERWRITES parameter gradients (one optimizer step per backward).
// - dx == nullptr means the caller does not need the input gradient (first layer):
//   layers skip that work.
// - Layers own their scratch tensors and reuse them between batches.
#pragma once
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "lowbit/core/param.hpp"

namespace lowbit::quant {
class Quantizer;
struct Grid;
}

namespace lowbit::nn {

using json = nlohmann::json;

// Context (train/eval + random stream) and Param (a trainable tensor) are shared with
// quantizers and optimizers; see core/param.hpp.
using lowbit::Context;
using lowbit::Param;

class Layer {
 public:
  virtual ~Layer() = default;

  virtual std::string type() const = 0;              // "dense", "conv2d", ...
  virtual Shape output_shape(const Shape& in) const = 0;  // per sample; throws on mismatch
  virtual void forward(const Tensor& x, Tensor& y, const Context& ctx) = 0;
  virtual void backward(const Tensor& x, const Tensor& y, const Tensor& dy, Tensor* dx) = 0;

  virtual std::vector<Param*> params() { return {}; }
  // Non-trainable state kept in checkpoints (e.g. BatchNorm running statistics).
  virtual std::vector<std::pair<std::string, Tensor*>> buffers() { return {}; }
  // (Re)initialise parameters from rng.
  virtual void init(Rng& rng) {}
  // Multiply-accumulates per sample, for summaries.
  virtual int64_t macs(const Shape& in) const { return 0; }
  // The fewest samples a training batch of per-sample shape `in` may hold (BatchNorm needs
  // two values per channel: 2 when a channel has one value per sample). The trainer checks
  // it before training, so a last batch of one image is merged, not a failure after an epoch.
  virtual int64_t min_training_batch(const Shape& in) const { return 1; }
  // The spec that rebuilds this layer (the JSON topology entry, without input shape).
  virtual json spec() const = 0;
  // Sub-layers, for containers (Sequential, Residual).
  virtual std::vector<Layer*> children() { return {}; }
  // The quantizers this layer applies (weights, inputs, activations), for the trainer's
  // progress updates and for summaries. Containers return none (walk children()).
  virtual std::vector<quant::Quantizer*> quantizers() { return {}; }

  // How evaluation treats values on an integer grid (docs/DEPLOYMENT.md): what the model's
  // exact evaluation and export ask of a layer, instead of lists of type names.
  // The identity in evaluation (dropout; flatten, a reshape the deployment IR's canonical
  // weight order absorbs): export skips it.
  virtual bool identity_in_evaluation() const { return false; }
  // Output values are input values (identity, max pooling): a grid upstream still holds
  // after it, so the next weighted layer can multiply that quantizer's codes.
  virtual bool keeps_grid() const { return identity_in_evaluation(); }
  // The grid of the output values in evaluation when the input values lie on grid `g`
  // (quant::Grid: value = code * step): "" with `g` updated to it, else why the outputs
  // lie on no grid (the next weighted layer then computes in float; the words follow
  // "its input is float: layer NAME (type): "). Unchanged when keeps_grid(), else (the
  // default) no grid; AvgPool2d without padding: the window sums on step / n.
  virtual std::string map_grid(quant::Grid& g) const;
  // A non-decreasing map of each value in evaluation (ReLU, HardTanh): export folds it into
  // the thresholds of the quantizer that follows.
  virtual bool monotone_in_evaluation() const { return identity_in_evaluation(); }

  const std::string& name() const { return name_; }
  void set_name(std::string n) { name_ = std::move(n); }

 protected:
  std::string name_;
};

using LayerPtr = std::unique_ptr<Layer>;

// Error-message prefix naming a layer: "layer dense_2 (dense): ".
std::string where(const Layer& layer);

// Helpers for checking shapes in layers.
void check_batch_shape(const Layer& layer, const Tensor& x, const Shape& per_sample);

}  // namespace lowbit::nn
