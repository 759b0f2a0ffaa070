#include "lowbit/runtime/executor.hpp"

#include <omp.h>

#include <algorithm>

#include "lowbit/core/fp_env.hpp"
#include "lowbit/format/semantics.hpp"
#include "lowbit/kernels/bit_gemm.hpp"
#include "lowbit/runtime/shortcut.hpp"
#include "lowbit/runtime/tap_groups.hpp"

namespace lowbit::runtime {

namespace {

// Threads working on one chunk together (batch-1 latency mode): each computes its share
// of every layer's output channels (word-aligned column ranges), the lead does the steps
// in between (input packing, patches, pooling, scores), and all meet after each step.
// The default is a team of one: no barriers.
struct Team {
  int id = 0, size = 1;
  bool lead() const { return id == 0; }
  void sync() const {
    if (size > 1) {
#pragma omp barrier
    }
  }
  // This thread's output columns [j0, j1) of n, in whole 64-column words.
  std::pair<int64_t, int64_t> columns(int64_t n) const {
    const int64_t words = (n + 63) / 64, per = (words + size - 1) / size;
    return {std::min(n, id * per * 64), std::min(n, (id + 1) * per * 64)};
  }
};

using Trace = std::vector<std::vector<int32_t>>;

// Where a layer that computes its levels as bytes (shortcut, grouped) puts them: straight
// into the next layer's byte codes, or a buffer to pack or pool.
uint8_t* level_buffer(const LayerPlan& d, Workspace& w, uint64_t* next) {
  return d.output_bytes && !d.sum_pool ? reinterpret_cast<uint8_t*>(next) : w.levels.data();
}

// Output levels (rows x out bytes, in level_buffer) in the layout the next layer reads:
// bytes, bit-planes, or the bit-planes of their sum pooling.
void write_levels(const LayerPlan& d, Workspace& w, int64_t m, int64_t rows, const uint8_t* levels, uint64_t* next) {
  if (d.sum_pool) {
    pack_levels(rows, d.out, d.output.planes(), levels, w.unpooled.data());
    kernels::sum_pool_planes(m, d.ph, d.pw, d.out, d.sum_pool, d.sum_stride, d.output.planes(), w.unpooled.data(),
                             d.sums.planes(), next);
  } else if (!d.output_bytes) {
    pack_levels(rows, d.out, d.output.planes(), levels, next);
  }
}

// A grouped layer (SYQ row / pixel, tap_groups.hpp) on the lead thread: its levels from
// the operand, max pooling of the levels (= of the codes: each is non-decreasing in the
// float sum), then the output layout.
void run_grouped(const LayerPlan& d, Workspace& w, int64_t m, const GemmInput& a, uint64_t* next,
                 std::vector<int32_t>* trace) {
  int32_t* lv = w.group_levels.data();
  run_tap_groups(d, m, a, w.group_operand.data(), w.acc.data(), w.group_y.data(), lv, trace);
  int64_t rows = m * d.oh * d.ow;
  if (d.pool) {
    kernels::maxpool_i32(m, d.oh, d.ow, d.out, d.pool, d.pool_stride, lv, w.pooled.data());
    lv = w.pooled.data();
    rows = m * d.ph * d.pw;
  }
  uint8_t* levels = level_buffer(d, w, next);
  for (int64_t i = 0; i < rows * d.out; ++i) levels[i] = static_cast<uint8_t>(lv[i]);
  write_levels(d, w, m, rows, levels, next);
}

// A layer's steps after its GEMM, on the lead thread: padding fix, trace, pooling, then
// thresholds into `next` or the scores and predictions.
void finish_layer(const LayerPlan& d, Workspace& w, int64_t m, int32_t* acc, uint64_t* next, float* scores,
                  int32_t* predictions, std::vector<int32_t>* trace) {
  int64_t rows = d.conv ? m * d.oh * d.ow : m;
  for (int64_t i = 0; i < m && !d.pad_pixels.empty(); ++i)
    for (size_t p = 0; p < d.pad_pixels.size(); ++p) {
      int32_t* a = acc + (i * d.oh * d.ow + d.pad_pixels[p]) * d.out;
      const int32_t* fix = d.pad_fix.data() + p * static_cast<size_t>(d.out);
      for (int64_t o = 0; o < d.out; ++o) a[o] += fix[o];
    }
  if (trace)
    for (int64_t i = 0; i < rows * d.out; ++i) {
      const int32_t v = acc[i] >> d.shift;  // exact: a shifted layer's accumulators are even
      trace->push_back(d.negated[static_cast<size_t>(i % d.out)] ? -v : v);
    }
  if (d.pool) {
    // Max pooling of the accumulators = pooling of the codes (levels are non-decreasing in acc).
    int32_t* out = w.pooled.data();
    kernels::maxpool_i32(m, d.oh, d.ow, d.out, d.pool, d.pool_stride, acc, out);
    acc = out;
    rows = m * d.ph * d.pw;
  }
  if (!d.scores && d.shortcut_from >= 0) {
    // Thresholds chosen by the shortcut's level (no max pooling: the IR forbids it here).
    uint8_t* levels = level_buffer(d, w, next);
    threshold_shortcut(d, rows, acc, w.shortcuts[static_cast<size_t>(d.shortcut_from)].data(), levels);
    write_levels(d, w, m, rows, levels, next);
    return;
  }
  if (!d.scores && d.sum_pool) {
    // Codes, then their window sums (average pooling) as the next layer's planes.
    kernels::threshold_planes(rows, d.out, acc, d.out, d.levels, d.thresholds.data(), w.unpooled.data());
    kernels::sum_pool_planes(m, d.ph, d.pw, d.out, d.sum_pool, d.sum_stride, d.output.planes(), w.unpooled.data(),
                             d.sums.planes(), next);
    return;
  }
  if (!d.scores) {
    if (d.output_bytes)
      kernels::threshold_bytes(rows, d.out, acc, d.out, d.levels, d.thresholds.data(), reinterpret_cast<uint8_t*>(next),
                               d.out);
    else
      kernels::threshold_planes(rows, d.out, acc, d.out, d.levels, d.thresholds.data(), next);
    return;
  }
  // The score map and argmax evaluation applies (format/semantics.hpp).
  const float* bias = d.bias.empty() ? nullptr : d.bias.data();
  const bool bn = !d.bn_mean.empty();
  for (int64_t i = 0; i < m; ++i) {
    float* row = scores ? scores + i * d.out : w.score_row.data();
    for (int64_t c = 0; c < d.out; ++c)
      row[c] = format::score(acc[i * d.out + c], c, d.scale.data(), bias, bn ? d.bn_mean.data() : nullptr,
                             d.bn_scale.data(), d.bn_shift.data());
    if (predictions) predictions[i] = format::argmax_first(row, d.out);
  }
}

// m images of a chunk through the network.
void run_chunk(const Plan& plan, Workspace& w, const uint8_t* images, int64_t m, int64_t height, int64_t width,
               float* scores, int32_t* predictions, Trace* trace = nullptr, const Team& team = {}) {
  const int64_t image_size = plan.info.channels * height * width;
  uint64_t* cur = w.a.data();
  uint64_t* next = w.b.data();
  if (team.lead())
    for (int64_t i = 0; i < m; ++i)
      plan.input.prepare(images + i * image_size, height, width, i, m, w.image.data(), w.codes.data(), cur);
  team.sync();
  for (size_t l = 0; l < plan.layers.size(); ++l) {
    const LayerPlan& d = plan.layers[l];
    if (d.save_shortcut && team.lead()) save_levels(d, cur, d.input_bytes, m, w.shortcuts[l].data());
    // GEMM operand: the input rows themselves (dense; bit-planes or bytes), one patch row
    // per output pixel (im2col of bits or bytes), or the input stage's byte code rows.
    GemmInput a{cur, d.first ? w.codes.data() : reinterpret_cast<const uint8_t*>(cur)};
    const int64_t rows = d.conv ? m * d.oh * d.ow : m;
    if (d.im2col_bytes()) {
      if (team.lead())
        kernels::im2col_bytes(m, d.h, d.w, d.c, d.kh, d.kw, d.stride, reinterpret_cast<const uint8_t*>(cur),
                              w.byte_patches.data(), d.pad_h, d.pad_w);
      team.sync();
      a.codes = w.byte_patches.data();
    }
    if (d.im2col()) {
      const int64_t in_plane = m * d.h * d.w * kernels::packed_words(d.c);
      const int64_t patch_plane = rows * d.kh * d.kw * kernels::packed_words(d.c);
      if (team.lead())
        for (int b = 0; b < d.input.planes(); ++b)
          kernels::im2col_bits(m, d.h, d.w, d.c, d.kh, d.kw, d.stride, cur + b * in_plane,
                               w.patches.data() + b * patch_plane, d.pad_h, d.pad_w);
      team.sync();
      a.bits = w.patches.data();
    }
    const auto [j0, j1] = team.columns(d.out);
    if (d.grouped()) {
      if (team.lead()) run_grouped(d, w, m, a, next, trace ? &(*trace)[l] : nullptr);
      team.sync();
      std::swap(cur, next);
      continue;
    }
    if (d.fused && !trace) {  // trace wants the accumulators: it takes the unfused path
      uint64_t* bits = d.pool ? w.bits.data() : next;
      if (j0 < j1) d.gemm->accumulate_threshold(rows, a, d.levels, d.fused_thresholds.data(), bits, j0, j1);
      team.sync();
      if (d.pool) {
        // Max pooling of the codes (= of the accumulators: levels are non-decreasing in acc).
        if (team.lead()) {
          if (d.levels == 1)
            kernels::maxpool_or(m, d.oh, d.ow, d.out, d.pool, d.pool_stride, bits, next);
          else
            kernels::maxpool_planes(m, d.oh, d.ow, d.out, d.pool, d.pool_stride, d.output.planes(), bits, next);
        }
        team.sync();
      }
      std::swap(cur, next);
      continue;
    }
    int32_t* acc = w.acc.data();
    if (j0 < j1) d.gemm->accumulate(rows, a, acc, j0, j1);
    team.sync();
    if (team.lead()) finish_layer(d, w, m, acc, next, scores, predictions, trace ? &(*trace)[l] : nullptr);
    team.sync();
    if (!d.scores) std::swap(cur, next);
  }
}

}  // namespace

Workspace::Workspace(const Plan& plan, int64_t chunk) {
  const auto n = [&](int64_t per_image) { return static_cast<size_t>(chunk * per_image); };
  a.assign(n(plan.max_words), 0);
  b.assign(n(plan.max_words), 0);
  patches.assign(n(plan.max_patch), 0);
  byte_patches.assign(n(plan.max_byte_patch), 0);
  unpooled.assign(n(plan.max_unpooled), 0);
  levels.assign(n(plan.max_levels), 0);
  group_operand.assign(n(plan.max_group_operand), 0);
  group_y.assign(n(plan.max_group_acc), 0.f);
  group_levels.assign(n(plan.max_group_acc), 0);
  shortcuts.resize(plan.layers.size());
  for (size_t l = 0; l < plan.layers.size(); ++l) {
    const LayerPlan& d = plan.layers[l];
    if (d.save_shortcut) shortcuts[l].assign(n(d.h * d.w * d.c), 0);
  }
  image.assign(static_cast<size_t>(plan.input.image_bytes()), 0);
  codes.assign(static_cast<size_t>(plan.input.code_bytes(chunk)), 0);  // gaps are never written: they stay 0
  acc.assign(n(plan.max_acc), 0);
  pooled.assign(n(plan.max_acc), 0);
  bits.assign(n(plan.max_bits), 0);
  score_row.assign(static_cast<size_t>(plan.info.classes), 0.f);
}

void run_batch(const Plan& plan, std::vector<Workspace>& work, int64_t chunk_max, const uint8_t* images, int64_t n,
               int64_t height, int64_t width, float* scores, int32_t* predictions) {
  const int threads = static_cast<int>(work.size());
  const int64_t image_size = plan.info.channels * height * width, classes = plan.info.classes;
  if (n > 0 && n < threads && n <= chunk_max && plan.latency_mode) {
    // Fewer images than threads (batch-1 latency): the threads share each layer's output
    // channels instead of images.
#pragma omp parallel num_threads(threads)
    {
      FpContractScope fp;  // the contract's float mode on this thread, the caller's restored after
      const Team team{omp_get_thread_num(), omp_get_num_threads()};
      run_chunk(plan, work[0], images, n, height, width, scores, predictions, nullptr, team);
    }
    return;
  }
  const int64_t chunk = std::min(chunk_max, std::max<int64_t>(1, (n + threads - 1) / threads));
  const int64_t tasks = (n + chunk - 1) / chunk;
#pragma omp parallel num_threads(threads) if (tasks > 1)
  {
    FpContractScope fp;
#pragma omp for schedule(dynamic, 1)
    for (int64_t t = 0; t < tasks; ++t) {
      const int64_t s = t * chunk, m = std::min(chunk, n - s);
      run_chunk(plan, work[static_cast<size_t>(omp_get_thread_num())], images + s * image_size, m, height, width,
                scores ? scores + s * classes : nullptr, predictions ? predictions + s : nullptr);
    }
  }
}

std::vector<std::vector<int32_t>> trace_batch(const Plan& plan, Workspace& w, int64_t chunk, const uint8_t* images,
                                              int64_t n, int64_t height, int64_t width) {
  FpContractScope fp;
  Trace out(plan.layers.size());
  const int64_t image_size = plan.info.channels * height * width;
  for (int64_t s = 0; s < n; s += chunk) {
    const int64_t m = std::min(chunk, n - s);
    run_chunk(plan, w, images + s * image_size, m, height, width, nullptr, nullptr, &out);
  }
  return out;
}

}  // namespace lowbit::runtime
