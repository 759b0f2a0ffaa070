#include "lowbit/nn/model.hpp"

#include "lowbit/nn/quant_act.hpp"
#include "lowbit/quant/quantizer.hpp"

#include "lowbit/core/error.hpp"

namespace lowbit::nn {

Model::Model(std::string name, Shape input_shape, std::unique_ptr<Sequential> net)
    : name_(std::move(name)), input_shape_(std::move(input_shape)), net_(std::move(net)) {
  LOWBIT_CHECK(net_ != nullptr, "model ", name_, ": no layers");
  net_->output_shape(input_shape_);  // validates the whole chain of shapes
  wire_input_grids(*net_);
}

// Tells each Dense/Conv2d which quantizer produced its input and which layers between map
// its grid (Layer::map_grid: average pooling sums windows; BatchNorm, ReLU... leave it),
// skipping those that keep values on it (max pooling, flattening, dropout), so that
// evaluation can run on integer codes (LayerQuantizers::to_codes). `source` and `between`:
// the path that reaches the first layer of `net`. A residual block's body and shortcut
// both start from the block's input (its path); their float sum ends the path. Another
// container in between ends it too; its own layers are wired inside it.
void Model::wire_input_grids(Sequential& net, const quant::Quantizer* source, std::vector<const Layer*> between) {
  for (size_t i = 0; i < net.size(); ++i) {
    Layer& l = net.at(i);
    if (auto* q = dynamic_cast<QuantAct*>(&l)) {
      source = &q->quantizer();
      between.clear();
    } else if (auto* w = dynamic_cast<WeightedLayer*>(&l)) {
      w->quant().set_input_grid_source(source, between);
      source = nullptr;
      between.clear();
    } else if (auto* r = dynamic_cast<Residual*>(&l)) {
      wire_input_grids(r->body(), source, between);
      if (r->shortcut()) wire_input_grids(*r->shortcut(), source, between);
      source = nullptr;
      between.clear();
    } else if (!l.children().empty()) {
      source = nullptr;
      between.clear();
      if (auto* inner = dynamic_cast<Sequential*>(&l)) wire_input_grids(*inner);
    } else if (!l.keeps_grid()) {
      between.push_back(&l);
    }
  }
}

const Tensor& Model::forward(const Tensor& x, const Context& ctx) {
  check_batch_shape(*net_, x, input_shape_);
  last_input_ = &x;
  net_->forward(x, logits_, ctx);
  return logits_;
}

void Model::backward(const Tensor& dlogits) {
  LOWBIT_CHECK(last_input_ != nullptr, "model ", name_, ": backward() before forward()");
  LOWBIT_CHECK(dlogits.shape() == logits_.shape(), "model ", name_, ": gradient shape ", shape_str(dlogits.shape()),
               " does not match logits ", shape_str(logits_.shape()));
  net_->backward(*last_input_, logits_, dlogits, nullptr);
}

void Model::init(uint64_t seed) {
  Rng rng(seed, 0x1417);
  net_->init(rng);
}

static void collect_leaves(Layer* layer, std::vector<Layer*>& out) {
  auto kids = layer->children();
  if (kids.empty()) {
    out.push_back(layer);
    return;
  }
  for (Layer* k : kids) collect_leaves(k, out);
}

std::vector<Layer*> Model::leaf_layers() {
  std::vector<Layer*> leaves;
  collect_leaves(net_.get(), leaves);
  return leaves;
}

std::vector<NamedParam> Model::named_params() {
  std::vector<NamedParam> out;
  for (Layer* l : leaf_layers())
    for (Param* p : l->params()) out.push_back({l->name() + "." + p->name, p});
  return out;
}

std::vector<NamedBuffer> Model::named_buffers() {
  std::vector<NamedBuffer> out;
  for (Layer* l : leaf_layers())
    for (auto& [n, t] : l->buffers()) out.push_back({l->name() + "." + n, t});
  return out;
}

int64_t Model::num_params() {
  int64_t n = 0;
  for (Param* p : params()) n += p->value.size();
  return n;
}

std::vector<WeightedLayer*> Model::weighted_layers() {
  std::vector<WeightedLayer*> out;
  for (Layer* l : leaf_layers())
    if (auto* w = dynamic_cast<WeightedLayer*>(l)) out.push_back(w);
  return out;
}

std::vector<quant::Quantizer*> Model::quantizers() {
  std::vector<quant::Quantizer*> out;
  for (Layer* l : leaf_layers())
    for (quant::Quantizer* q : l->quantizers()) out.push_back(q);
  return out;
}

void Model::set_training_progress(double t) {
  for (quant::Quantizer* q : quantizers()) q->set_progress(t);
}

json Model::topology() const {
  return {{"name", name_}, {"input", input_shape_}, {"layers", net_->layers_spec()}};
}

}  // namespace lowbit::nn
