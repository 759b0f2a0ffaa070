#include "lowbit/nn/layer.hpp"

#include "lowbit/core/error.hpp"

namespace lowbit::nn {

std::string Layer::map_grid(quant::Grid&) const {
  return keeps_grid() ? "" : "it computes new float values (an activation quantizer after it puts them on a grid)";
}

std::string where(const Layer& layer) {
  return cat("layer ", layer.name().empty() ? std::string("?") : layer.name(), " (", layer.type(), "): ");
}

void check_batch_shape(const Layer& layer, const Tensor& x, const Shape& per_sample) {
  bool ok = x.rank() == static_cast<int>(per_sample.size()) + 1;
  for (size_t i = 0; ok && i < per_sample.size(); ++i) ok = x.dim(static_cast<int>(i + 1)) == per_sample[i];
  if (!ok) {
    Shape expect{-1};
    expect.insert(expect.end(), per_sample.begin(), per_sample.end());
    fail(where(layer), "expected input of shape ", shape_str(expect), " (batch first), got ", shape_str(x.shape()));
  }
}

}  // namespace lowbit::nn
