#include "lowbit/nn/dropout.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "lowbit/core/parallel.hpp"
#include "lowbit/core/error.hpp"

namespace lowbit::nn {

namespace {
constexpr int64_t kChunk = 4096;  // elements per random stream

void copy(const Tensor& src, Tensor& dst) {
  if (dst.shape() != src.shape()) dst.resize(src.shape());
  if (src.size()) std::memcpy(dst.data(), src.data(), sizeof(float) * static_cast<size_t>(src.size()));
}
}  // namespace

Dropout::Dropout(float rate) : rate_(rate) {
  LOWBIT_CHECK(rate_ >= 0.f && rate_ < 1.f, "dropout: rate must be in [0, 1) (got ", rate_, ")");
}

void Dropout::forward(const Tensor& x, Tensor& y, const Context& ctx) {
  LOWBIT_CHECK(x.rank() >= 1, where(*this), "expected a batch, got a scalar");
  masked_ = ctx.training && rate_ > 0.f;
  if (!masked_) {
    copy(x, y);
    return;
  }
  if (!ctx.rng) fail(where(*this), "training needs a random stream (Context::rng is null)");
  if (y.shape() != x.shape()) y.resize(x.shape());
  if (mask_.shape() != x.shape()) mask_.resize(x.shape());
  const uint64_t seed = ctx.rng->next_u64();
  // Keep element i when its 24-bit uniform draw k satisfies k * 2^-24 >= rate, i.e.
  // k >= ceil(rate * 2^24) (exact: rate is a float). Each 64-bit draw yields two 24-bit
  // draws (bits 40..63 and 16..39); the choice is written branch-free (a 50% branch
  // would mispredict half the time).
  const auto threshold = static_cast<uint64_t>(std::ceil(static_cast<double>(rate_) * 16777216.0));
  const float scale = 1.f / (1.f - rate_);
  const int64_t n = x.size();
  // Streams are keyed by the chunk of the global element index: rows [row_offset, +N) of a
  // batch split across data-parallel ranks (Context::row_offset) get the mask one process
  // draws for the whole batch. Chunks straddling the slice's ends draw and skip the rest.
  const int64_t per_row = x.dim(0) ? n / x.dim(0) : 0;
  const int64_t g0 = ctx.row_offset * per_row;
  const int64_t first = g0 / kChunk, chunks = n ? (g0 + n + kChunk - 1) / kChunk - first : 0;
  const float* xp = x.data();
  float* yp = y.data();
  float* mp = mask_.data();
  parallel_for(chunks, Grain::kElementwise, [&](int64_t c_begin, int64_t c_end) {
    for (int64_t c = first + c_begin; c < first + c_end; ++c) {
      Rng rng(seed, static_cast<uint64_t>(c));
      const int64_t b = c * kChunk, e = std::min(g0 + n, b + kChunk);
      for (int64_t g = b; g < e; g += 2) {
        const uint64_t u = rng.next_u64();
        if (g >= g0) mp[g - g0] = scale * static_cast<float>((u >> 40) >= threshold);
        if (g + 1 < e && g + 1 >= g0) mp[g + 1 - g0] = scale * static_cast<float>(((u >> 16) & 0xFFFFFFu) >= threshold);
      }
      for (int64_t j = std::max(b, g0); j < e; ++j) yp[j - g0] = xp[j - g0] * mp[j - g0];
    }
  }, n);
}

void Dropout::backward(const Tensor& x, const Tensor&, const Tensor& dy, Tensor* dx) {
  if (dy.shape() != x.shape())
    fail(where(*this), "output gradient has shape ", shape_str(dy.shape()), ", expected ", shape_str(x.shape()));
  if (!dx) return;
  if (!masked_) {
    copy(dy, *dx);
    return;
  }
  if (mask_.shape() != x.shape())
    fail(where(*this), "backward() without a matching forward() (mask shape ", shape_str(mask_.shape()), ")");
  if (dx->shape() != x.shape()) dx->resize(x.shape());
  const int64_t n = x.size();
  const float* g = dy.data();
  const float* m = mask_.data();
  float* d = dx->data();
  parallel_for(n, Grain::kElementwise, [&](int64_t i_begin, int64_t i_end) {
    for (int64_t i = i_begin; i < i_end; ++i) d[i] = g[i] * m[i];
  });
}

}  // namespace lowbit::nn
