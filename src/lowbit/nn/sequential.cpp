#include "lowbit/nn/sequential.hpp"

#include <algorithm>

#include "lowbit/core/error.hpp"
#include "lowbit/quant/low_precision.hpp"

namespace lowbit::nn {

// A Residual's output is a new sum, so it is rounded too; the rounding of its error makes
// both branches start from the same rounded error (rounding it again inside them changes
// nothing: values on the grid are their own rounding, in every mode).
bool rounds_output(const Layer& layer) { return layer.type() != "sequential"; }

namespace {

// A layer's output (forward, "acts/NAME") or the error at it (backward, "errors/NAME")
// rounded onto the training context's low-precision format for that layer (an override
// matching its name, else the model-wide one), when it names one.
void round_at_leaf(Layer& layer, Tensor& t, const Context& ctx, bool error) {
  if (!ctx.training || !ctx.numerics || !rounds_output(layer)) return;
  const quant::LowPrecisionConfig& lp = *ctx.numerics;
  const quant::NumberFormat& f = lp.format(error ? quant::Site::kErrors : quant::Site::kActs, layer.name());
  if (!f.active()) return;
  quant::round_tensor(t, f, lp.rounding, {ctx.seed, ctx.step, cat(error ? "errors/" : "acts/", layer.name())});
}
}  // namespace

bool has_params(Layer& layer) { return !layer.params().empty(); }

Shape Sequential::output_shape(const Shape& in) const {
  Shape s = in;
  for (const auto& l : layers_) s = l->output_shape(s);
  return s;
}

void Sequential::forward(const Tensor& x, Tensor& y, const Context& ctx) {
  if (layers_.empty()) {
    y = x;
    return;
  }
  if (acts_.size() + 1 < layers_.size()) acts_.resize(layers_.size() - 1);
  const Tensor* in = &x;
  for (size_t i = 0; i < layers_.size(); ++i) {
    Tensor& out = (i + 1 == layers_.size()) ? y : acts_[i];
    layers_[i]->forward(*in, out, ctx);
    round_at_leaf(*layers_[i], out, ctx, /*error=*/false);
    in = &out;
  }
  ctx_ = ctx;
  ctx_.rng = nullptr;  // backward draws nothing from it, and it may be gone by then
}

void Sequential::backward(const Tensor& x, const Tensor& y, const Tensor& dy, Tensor* dx) {
  const size_t n = layers_.size();
  if (n == 0) {
    if (dx) *dx = dy;
    return;
  }
  // Without dx, layers before the first trainable one need no backward at all, and
  // the first trainable one needs no input gradient.
  size_t first = 0;
  if (!dx) {
    while (first < n && !has_params(*layers_[first])) ++first;
    if (first == n) return;
  }
  const Tensor* g_out = &dy;
  const bool round_errors = ctx_.training && ctx_.numerics && ctx_.numerics->rounds(quant::Site::kErrors);
  if (round_errors && rounds_output(*layers_[n - 1])) {
    err_ = dy;  // the caller's dy stays as given
    round_at_leaf(*layers_[n - 1], err_, ctx_, /*error=*/true);
    g_out = &err_;
  }
  for (size_t i = n; i-- > first;) {
    const Tensor& in = i == 0 ? x : acts_[i - 1];
    const Tensor& out = i + 1 == n ? y : acts_[i];
    // first == 0 whenever dx is wanted, so the first layer writes straight into dx.
    Tensor* g_in = i == first ? dx : &grad_[i % 2];
    layers_[i]->backward(in, out, *g_out, g_in);
    // The error at layer i-1's output; dx (i == 0) is the caller's to round.
    if (round_errors && i > first) round_at_leaf(*layers_[i - 1], *g_in, ctx_, /*error=*/true);
    g_out = g_in;
  }
}

std::vector<Param*> Sequential::params() {
  std::vector<Param*> all;
  for (auto& l : layers_)
    for (Param* p : l->params()) all.push_back(p);
  return all;
}

std::vector<std::pair<std::string, Tensor*>> Sequential::buffers() {
  std::vector<std::pair<std::string, Tensor*>> all;
  for (auto& l : layers_)
    for (auto& b : l->buffers()) all.push_back(b);
  return all;
}

void Sequential::init(Rng& rng) {
  for (auto& l : layers_) l->init(rng);
}

int64_t Sequential::min_training_batch(const Shape& in) const {
  int64_t most = 1;
  Shape s = in;
  for (const auto& l : layers_) {
    most = std::max(most, l->min_training_batch(s));
    s = l->output_shape(s);
  }
  return most;
}

int64_t Sequential::macs(const Shape& in) const {
  int64_t total = 0;
  Shape s = in;
  for (const auto& l : layers_) {
    total += l->macs(s);
    s = l->output_shape(s);
  }
  return total;
}

json Sequential::layers_spec() const {
  json arr = json::array();
  for (const auto& l : layers_) arr.push_back(l->spec());
  return arr;
}

json Sequential::spec() const { return {{"type", "sequential"}, {"layers", layers_spec()}}; }

std::vector<Layer*> Sequential::children() {
  std::vector<Layer*> c;
  for (auto& l : layers_) c.push_back(l.get());
  return c;
}

Residual::Residual(std::unique_ptr<Sequential> body, std::unique_ptr<Sequential> shortcut)
    : body_(std::move(body)), shortcut_(std::move(shortcut)) {
  LOWBIT_CHECK(body_ != nullptr, "residual: body is required");
}

int64_t Residual::min_training_batch(const Shape& in) const {
  return std::max(body_->min_training_batch(in), shortcut_ ? shortcut_->min_training_batch(in) : int64_t{1});
}

Shape Residual::output_shape(const Shape& in) const {
  Shape b = body_->output_shape(in);
  Shape s = shortcut_ ? shortcut_->output_shape(in) : in;
  if (b != s)
    fail(where(*this), "body output ", shape_str(b), " does not match shortcut output ", shape_str(s),
         " (add a shortcut projection)");
  return b;
}

void Residual::forward(const Tensor& x, Tensor& y, const Context& ctx) {
  // The body's output is kept apart from the sum: its last layer's backward may read it.
  body_->forward(x, body_out_, ctx);
  const Tensor* s = &x;
  if (shortcut_) {
    shortcut_->forward(x, short_out_, ctx);
    s = &short_out_;
  }
  LOWBIT_CHECK(s->shape() == body_out_.shape(), where(*this), "body output ", shape_str(body_out_.shape()),
               " does not match shortcut ", shape_str(s->shape()));
  y.resize(body_out_.shape());
  float* yp = y.data();
  const float* bp = body_out_.data();
  const float* sp = s->data();
  const int64_t n = y.size();
  for (int64_t i = 0; i < n; ++i) yp[i] = bp[i] + sp[i];
}

void Residual::backward(const Tensor& x, const Tensor&, const Tensor& dy, Tensor* dx) {
  body_->backward(x, body_out_, dy, dx);
  if (shortcut_) {
    if (dx) {
      shortcut_->backward(x, short_out_, dy, &grad_tmp_);
      float* d = dx->data();
      const float* g = grad_tmp_.data();
      for (int64_t i = 0; i < dx->size(); ++i) d[i] += g[i];
    } else {
      shortcut_->backward(x, short_out_, dy, nullptr);
    }
  } else if (dx) {
    float* d = dx->data();
    const float* g = dy.data();
    for (int64_t i = 0; i < dx->size(); ++i) d[i] += g[i];
  }
}

std::vector<Param*> Residual::params() {
  auto p = body_->params();
  if (shortcut_)
    for (Param* q : shortcut_->params()) p.push_back(q);
  return p;
}

std::vector<std::pair<std::string, Tensor*>> Residual::buffers() {
  auto b = body_->buffers();
  if (shortcut_)
    for (auto& q : shortcut_->buffers()) b.push_back(q);
  return b;
}

void Residual::init(Rng& rng) {
  body_->init(rng);
  if (shortcut_) shortcut_->init(rng);
}

int64_t Residual::macs(const Shape& in) const {
  return body_->macs(in) + (shortcut_ ? shortcut_->macs(in) : 0);
}

json Residual::spec() const {
  json j = {{"type", "residual"}, {"body", body_->layers_spec()}};
  if (shortcut_) j["shortcut"] = shortcut_->layers_spec();
  return j;
}

std::vector<Layer*> Residual::children() {
  std::vector<Layer*> c{body_.get()};
  if (shortcut_) c.push_back(shortcut_.get());
  return c;
}

}  // namespace lowbit::nn
