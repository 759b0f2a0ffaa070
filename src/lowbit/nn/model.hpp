// A Model is a named Sequential with a fixed per-sample input shape and the JSON
// topology that rebuilds it. Parameters and buffers get stable dotted names
// ("conv2d_1.weight", "batchnorm_3.running_mean") used by checkpoints and export.
#pragma once
#include <memory>

#include "lowbit/nn/sequential.hpp"
#include "lowbit/nn/weighted_layer.hpp"

namespace lowbit::nn {

struct NamedParam {
  std::string name;
  Param* param;
};
struct NamedBuffer {
  std::string name;
  Tensor* tensor;
};

class Model {
 public:
  Model(std::string name, Shape input_shape, std::unique_ptr<Sequential> net);

  const std::string& name() const { return name_; }
  const Shape& input_shape() const { return input_shape_; }
  Shape output_shape() const { return net_->output_shape(input_shape_); }
  Sequential& net() { return *net_; }

  // Forward a batch (N, input_shape...) and return the logits (N, K).
  const Tensor& forward(const Tensor& x, const Context& ctx);
  // Backward from dL/dlogits of the last forward; fills parameter gradients.
  void backward(const Tensor& dlogits);

  void init(uint64_t seed);
  std::vector<NamedParam> named_params();
  std::vector<NamedBuffer> named_buffers();
  std::vector<Param*> params() { return net_->params(); }
  // Leaf layers in execution order (containers flattened), for summaries and export.
  std::vector<Layer*> leaf_layers();
  // Dense/Conv2d layers in execution order (weights, their quantizers, fans).
  std::vector<WeightedLayer*> weighted_layers();
  // Every quantizer of every layer, in execution order.
  std::vector<quant::Quantizer*> quantizers();
  // Tells every quantizer the fraction of training done (progressive binarization).
  void set_training_progress(double t);
  int64_t macs() const { return net_->macs(input_shape_); }
  // The fewest images a training batch may hold (Layer::min_training_batch).
  int64_t min_training_batch() const { return net_->min_training_batch(input_shape_); }
  int64_t num_params();

  // {"name": ..., "input": [C, H, W], "layers": [...]}: build_model() of it rebuilds this model.
  json topology() const;

 private:
  static void wire_input_grids(Sequential& net, const quant::Quantizer* source = nullptr,
                               std::vector<const Layer*> between = {});

  std::string name_;
  Shape input_shape_;
  std::unique_ptr<Sequential> net_;
  const Tensor* last_input_ = nullptr;
  Tensor logits_;
};

}  // namespace lowbit::nn
