// Google Benchmark: one convolution layer's training work (forward, backward data, backward
// weights) at CNV's shapes, batch 100, three ways side by side (docs/BENCHMARKS.md,
// "Convolutions: im2col + sgemm or oneDNN's convolution primitives"):
//   impl 0: lowbit's Conv2d (im2col + oneDNN sgemm per image, col2im), as training runs it;
//   impl 1: oneDNN 2.6's convolution primitives (convolution_direct, layouts "any": it picks
//           its blocked layouts and JIT kernels) with the reorders from and to NCHW / OIHW
//           that training's NCHW layers (BatchNorm, pooling, quantizers) would need each step
//           (each tensor reordered once per step; passes wanting the same layout share it);
//   impl 2: the same primitives alone, no reorders: a lower bound for an integration that
//           kept oneDNN's layouts through every layer.
//   build/bin/lowbit_bench --benchmark_filter=ConvLayer
// Args: CNV conv layer (0..5), impl, threads. Counter "images/s". The primitives are created
// once per benchmark (as a training integration would cache them per shape).
#include <benchmark/benchmark.h>

#include <oneapi/dnnl/dnnl.hpp>

#include <vector>

#include "lowbit/core/rng.hpp"
#include "lowbit/core/threading.hpp"
#include "lowbit/nn/conv2d.hpp"

namespace {

using namespace lowbit;

struct ConvShape {
  int in, out, hw;  // 3x3, stride 1, no padding
};
constexpr ConvShape kCnv[] = {{1, 64, 32}, {64, 64, 30}, {64, 128, 14}, {128, 128, 12}, {128, 256, 5}, {256, 256, 3}};
constexpr int kBatch = 100;

void fill(float* p, size_t n, uint64_t seed) {
  Rng r(seed);
  for (size_t i = 0; i < n; ++i) p[i] = r.uniform(-1.f, 1.f);
}

void lowbit_conv(benchmark::State& state, const ConvShape& s) {
  nn::Conv2d conv(s.in, s.out, 3, 3, 1, 0, false);
  Rng rng(1);
  conv.init(rng);
  const int oh = s.hw - 2;
  Tensor x({kBatch, s.in, s.hw, s.hw}), y, dy({kBatch, s.out, oh, oh}), dx;
  fill(x.data(), static_cast<size_t>(x.size()), 2);
  fill(dy.data(), static_cast<size_t>(dy.size()), 3);
  Context ctx;
  ctx.training = true;
  for (auto _ : state) {
    conv.forward(x, y, ctx);
    conv.backward(x, y, dy, s.in > 1 ? &dx : nullptr);  // the first layer needs no dx
    benchmark::DoNotOptimize(y.data());
  }
}

void onednn_conv(benchmark::State& state, const ConvShape& s, bool reorders) {
  using namespace dnnl;
  using tag = memory::format_tag;
  engine eng(engine::kind::cpu, 0);
  stream strm(eng);
  const int oh = s.hw - 2;
  const memory::dims src_d = {kBatch, s.in, s.hw, s.hw}, w_d = {s.out, s.in, 3, 3}, dst_d = {kBatch, s.out, oh, oh};
  const memory::dims strides = {1, 1}, pad = {0, 0};
  auto any = [](const memory::dims& d) { return memory::desc(d, memory::data_type::f32, tag::any); };
  auto plain = [](const memory::dims& d, tag t) { return memory::desc(d, memory::data_type::f32, t); };
  const convolution_forward::primitive_desc fwd_pd(
      {prop_kind::forward_training, algorithm::convolution_direct, any(src_d), any(w_d), any(dst_d), strides, pad, pad},
      eng);
  const convolution_backward_data::primitive_desc bwd_data_pd(
      {algorithm::convolution_direct, any(src_d), any(w_d), any(dst_d), strides, pad, pad}, eng, fwd_pd);
  const convolution_backward_weights::primitive_desc bwd_w_pd(
      {algorithm::convolution_direct, any(src_d), any(w_d), any(dst_d), strides, pad, pad}, eng, fwd_pd);
  state.SetLabel(fwd_pd.impl_info_str());
  memory user_src(plain(src_d, tag::nchw), eng), user_w(plain(w_d, tag::oihw), eng),
      user_dst(plain(dst_d, tag::nchw), eng), user_diff_dst(plain(dst_d, tag::nchw), eng),
      user_diff_src(plain(src_d, tag::nchw), eng), user_diff_w(plain(w_d, tag::oihw), eng);
  for (memory* m : {&user_src, &user_w, &user_diff_dst})
    fill(static_cast<float*>(m->get_data_handle()), m->get_desc().get_size() / sizeof(float), 4);
  memory src(fwd_pd.src_desc(), eng), w(fwd_pd.weights_desc(), eng), dst(fwd_pd.dst_desc(), eng),
      diff_dst(bwd_data_pd.diff_dst_desc(), eng), diff_src(bwd_data_pd.diff_src_desc(), eng),
      diff_w(bwd_w_pd.diff_weights_desc(), eng);
  // A pass that wants the layout another pass already has shares its memory (one reorder per
  // step, as an integration would do), else gets its own.
  auto same_or_new = [&](const memory& have, const memory::desc& want) { return have.get_desc() == want ? have : memory(want, eng); };
  memory w_data = same_or_new(w, bwd_data_pd.weights_desc()), src_w = same_or_new(src, bwd_w_pd.src_desc()),
         diff_dst_w = same_or_new(diff_dst, bwd_w_pd.diff_dst_desc());
  for (memory* m : {&src, &w, &diff_dst, &w_data, &src_w, &diff_dst_w})
    fill(static_cast<float*>(m->get_data_handle()), m->get_desc().get_size() / sizeof(float), 5);
  const convolution_forward fwd(fwd_pd);
  const convolution_backward_data bwd_data(bwd_data_pd);
  const convolution_backward_weights bwd_w(bwd_w_pd);
  auto convert = [&](memory& from, memory& to) {
    if (reorders && from.get_desc() != to.get_desc()) reorder(from, to).execute(strm, from, to);
  };
  auto shares = [](const memory& a, const memory& b) { return a.get_data_handle() == b.get_data_handle(); };
  for (auto _ : state) {
    convert(user_src, src);
    convert(user_w, w);
    fwd.execute(strm, {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, w}, {DNNL_ARG_DST, dst}});
    convert(dst, user_dst);
    convert(user_diff_dst, diff_dst);
    if (s.in > 1) {
      if (!shares(w_data, w)) convert(user_w, w_data);
      bwd_data.execute(strm, {{DNNL_ARG_DIFF_DST, diff_dst}, {DNNL_ARG_WEIGHTS, w_data}, {DNNL_ARG_DIFF_SRC, diff_src}});
      convert(diff_src, user_diff_src);
    }
    if (!shares(src_w, src)) convert(user_src, src_w);
    if (!shares(diff_dst_w, diff_dst)) convert(user_diff_dst, diff_dst_w);
    bwd_w.execute(strm, {{DNNL_ARG_SRC, src_w}, {DNNL_ARG_DIFF_DST, diff_dst_w}, {DNNL_ARG_DIFF_WEIGHTS, diff_w}});
    convert(diff_w, user_diff_w);
    strm.wait();
  }
}

void BM_ConvLayer(benchmark::State& state) {
  const ConvShape& s = kCnv[state.range(0)];
  set_num_threads(static_cast<int>(state.range(2)));
  if (state.range(1) == 0)
    lowbit_conv(state, s);
  else
    onednn_conv(state, s, state.range(1) == 1);
  state.counters["images/s"] =
      benchmark::Counter(kBatch, benchmark::Counter::kIsIterationInvariantRate, benchmark::Counter::kIs1000);
}
BENCHMARK(BM_ConvLayer)->ArgsProduct({{0, 1, 2, 3, 4, 5}, {0, 1, 2}, {2}})->UseRealTime()->Unit(benchmark::kMillisecond);

}  // namespace
