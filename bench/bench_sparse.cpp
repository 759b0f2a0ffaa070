// Google Benchmark: the sparse ternary GEMM (runtime/sparse_gemm.cpp, kernels/bit_sparse.hpp)
// against the dense implementation the runtime runs the same ternary layer on otherwise
// (the bit-plane GEMM's two +-1 weight planes on bit-plane input, the integer GEMM on byte
// codes), through the runtime's own GemmImpl objects, same layer, same operand, one run.
//   BM_TernaryGemm/impl/zeros/shape/fused/rows
//     impl   0 = dense (choose_gemm without the sparse option), 1 = sparse
//     zeros  zero weights per mille (random ternary codes, +-1 equally likely)
//     shape  0 = LFC hidden dense layer W2A1: K = 1024, out = 1024, 64 rows (one chunk of images)
//            1 = LFC first layer W2A1: K = 784, out = 1024, 64 rows
//            2 = CNV-style conv W2A1, 3x3 x 64 channels (K = 576), out = 64, 28 x 28 pixels x 4 images
//            3 = CNV-style conv W2A1, 3x3 x 256 channels (K = 2304), out = 256, 3 x 3 pixels x 64 images
//            4 = LFC hidden layer W2A2 (2-bit codes): K = 1024, out = 1024, 64 rows
//            5 = hidden layer on 8-bit byte codes (the integer GEMM's input): K = 1024, out = 1024, 64 rows
//            6 = CNV's first layer: 3x3 x 3 channels of 8-bit pixels (byte patches, K = 27), out = 64,
//                30 x 30 pixels x 4 images
//     fused  1 = one fused threshold (accumulate_threshold, as the plan runs hidden layers), 0 =
//            int32 accumulators (accumulate: score layers, padding fixes, pooling of sums)
//     rows   operand rows per call (0: the shape's; 1..32: small batches of the LFC layer)
// Counters: MACs = the dense layer's multiply-accumulates per second (rows x K x out), the
// same for both implementations, so their ratio is the speedup. Single thread.
//   build/bin/lowbit_bench --benchmark_filter='TernaryGemm' --benchmark_repetitions=3
#include <benchmark/benchmark.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "lowbit/core/rng.hpp"
#include "lowbit/format/lbm.hpp"
#include "lowbit/format/model_desc.hpp"
#include "lowbit/kernels/bit_gemm.hpp"
#include "lowbit/runtime/engine.hpp"
#include "lowbit/runtime/gemm.hpp"

namespace {

using namespace lowbit;

struct Shape {
  int64_t in_h, in_w, in_c, kernel, out, rows;
  format::CodeFormat input;
  bool byte_codes;
};

Shape shape(int64_t s) {
  switch (s) {
    case 0: return {1, 1, 1024, 0, 1024, 64, format::CodeFormat::plus_minus_one(), false};
    case 1: return {1, 1, 784, 0, 1024, 64, format::CodeFormat::plus_minus_one(), false};
    case 2: return {30, 30, 64, 3, 64, 28 * 28 * 4, format::CodeFormat::plus_minus_one(), false};
    case 3: return {5, 5, 256, 3, 256, 3 * 3 * 64, format::CodeFormat::plus_minus_one(), false};
    case 4: return {1, 1, 1024, 0, 1024, 64, format::CodeFormat::unsigned_bits(2), false};
    case 5: return {1, 1, 1024, 0, 1024, 64, format::CodeFormat::unsigned_bits(8), true};
    default: return {32, 32, 3, 3, 64, 30 * 30 * 4, format::CodeFormat::unsigned_bits(8, 128), true};
  }
}

void BM_TernaryGemm(benchmark::State& state) {
  const bool sparse = state.range(0) == 1;
  const double zeros = static_cast<double>(state.range(1)) / 1000.0;
  const Shape sh = shape(state.range(2));
  const bool fused = state.range(3) == 1;
  const int64_t rows = state.range(4) > 0 ? state.range(4) : sh.rows;
  Rng rng(17);
  format::LayerDesc l;
  l.kind = sh.kernel ? format::LayerKind::kConv : format::LayerKind::kDense;
  l.in_h = sh.in_h, l.in_w = sh.in_w, l.in_c = sh.in_c, l.out = sh.out, l.input = sh.input;
  if (sh.kernel) l.kernel_h = l.kernel_w = sh.kernel;
  const int64_t K = l.in_fan(), M = l.out;
  for (int64_t i = 0; i < M * K; ++i)
    l.weights.push_back(rng.uniform(0.f, 1.f) < zeros ? 0 : rng.below(2) ? 1 : -1);
  runtime::GemmProblem problem{&l, "bench", sh.byte_codes, sparse};
  problem.sparse_min_rows = 0;  // the kernel itself at every row count (kSparseMinRows is measured here)
  const auto impl = runtime::choose_gemm(problem);
  // Random operand: packed rows of the layer's layout (whole words per window pixel), all
  // planes, or byte codes.
  const int64_t words = l.window_h() * l.window_w() * kernels::packed_words(l.in_c);
  std::vector<uint64_t> bits(static_cast<size_t>(sh.input.planes() * rows * words));
  for (auto& v : bits) v = rng.next_u64();
  std::vector<uint8_t> codes(static_cast<size_t>(rows * K));
  for (auto& v : codes) v = static_cast<uint8_t>(rng.below(256));
  const runtime::GemmInput a{bits.data(), codes.data()};
  std::vector<int32_t> acc(static_cast<size_t>(rows * M));
  std::vector<int32_t> thr(static_cast<size_t>(impl->fused_threshold_size(1)), 0);
  std::vector<uint64_t> out(static_cast<size_t>(rows * kernels::packed_words(M)));
  for (auto _ : state) {
    if (fused)
      impl->accumulate_threshold(rows, a, 1, thr.data(), out.data(), 0, M);
    else
      impl->accumulate(rows, a, acc.data(), 0, M);
    benchmark::ClobberMemory();
  }
  state.counters["MACs"] = benchmark::Counter(static_cast<double>(rows * K * M), benchmark::Counter::kIsIterationInvariantRate);
  state.SetLabel(impl->describe());
}

// Every sparsity for the LFC layers fused and not; the others fused (as the plan runs them),
// the byte-code layer unfused too (its first-layer use).
void TernaryArgs(benchmark::internal::Benchmark* b) {
  for (int64_t shape_id : {0, 1, 2, 3, 4, 5, 6})
    for (int64_t fused : {1, 0}) {
      if (fused == 0 && (shape_id == 2 || shape_id == 3 || shape_id == 4 || shape_id == 6)) continue;
      for (int64_t zeros : {0, 500, 600, 650, 700, 750, 900, 950, 980, 990})
        for (int64_t impl : {0, 1}) b->Args({impl, zeros, shape_id, fused, 0});
    }
}
BENCHMARK(BM_TernaryGemm)->Apply(TernaryArgs)->Unit(benchmark::kMicrosecond);

// Few rows (small batches, batch-1 latency): the LFC hidden layer, fused, 1 to 64 rows.
void FewRowsArgs(benchmark::internal::Benchmark* b) {
  for (int64_t zeros : {900, 950, 980, 990})
    for (int64_t rows : {1, 4, 8, 16, 32})
      for (int64_t impl : {0, 1}) b->Args({impl, zeros, 0, 1, rows});
}
BENCHMARK(BM_TernaryGemm)->Apply(FewRowsArgs)->Unit(benchmark::kMicrosecond);

// Whole models through the Engine, every layer ternary at one sparsity (thresholds 0,
// +-1 activations), SparseGemm::kNever against kAuto (the plan's rule) in one run:
//   BM_TernaryModel/policy/zeros/model/batch
//     policy 0 = kNever (the dense GEMMs), 1 = kAuto
//     model  0 = LFC (784-1024-1024-1024-10 on binarized 28 x 28 images, W2A1)
//            1 = CNV (FINN's: 3x3 convs 64, 64, pool, 128, 128, pool, 256, 256, dense 512, 512,
//                10 on 32 x 32 x 3 8-bit images, W2A1)
//     batch  images per Engine::run; 1 thread
// Counter: frames/s.
format::LayerDesc ternary_layer(Rng& rng, double zeros, format::LayerKind kind, int64_t in_h, int64_t in_w, int64_t in_c,
                                int64_t kernel, int64_t out, format::CodeFormat input, bool scores) {
  format::LayerDesc l;
  l.kind = kind;
  l.name = "bench";
  l.in_h = in_h, l.in_w = in_w, l.in_c = in_c, l.out = out, l.input = input;
  if (kind == format::LayerKind::kConv) l.kernel_h = l.kernel_w = kernel;
  for (int64_t i = 0; i < out * l.in_fan(); ++i)
    l.weights.push_back(rng.uniform(0.f, 1.f) < zeros ? 0 : rng.below(2) ? 1 : -1);
  l.negated.assign(static_cast<size_t>(out), 0);
  if (scores) {
    l.scores = true;
    l.score.scale.assign(static_cast<size_t>(out), 1.f);
  } else {
    l.output = format::CodeFormat::plus_minus_one();
    l.levels = 1;
    l.thresholds.assign(static_cast<size_t>(out), 0);
  }
  return l;
}

format::ModelDesc ternary_model(int64_t model, double zeros) {
  Rng rng(5);
  using format::LayerKind;
  const auto pm1 = format::CodeFormat::plus_minus_one();
  format::ModelDesc d;
  d.name = model == 0 ? "lfc-ternary" : "cnv-ternary";
  if (model == 0) {
    d.input.shape = {1, 28, 28};
    d.input.codes = pm1;
    for (int p = 0; p < 256; ++p) d.input.table[static_cast<size_t>(p)] = static_cast<uint8_t>(p >= 128);
    d.layers.push_back(ternary_layer(rng, zeros, LayerKind::kDense, 1, 1, 784, 0, 1024, pm1, false));
    d.layers.push_back(ternary_layer(rng, zeros, LayerKind::kDense, 1, 1, 1024, 0, 1024, pm1, false));
    d.layers.push_back(ternary_layer(rng, zeros, LayerKind::kDense, 1, 1, 1024, 0, 1024, pm1, false));
    d.layers.push_back(ternary_layer(rng, zeros, LayerKind::kDense, 1, 1, 1024, 0, 10, pm1, true));
    return d;
  }
  d.input.shape = {3, 32, 32};
  d.input.codes = format::CodeFormat::unsigned_bits(8, 128);
  for (int p = 0; p < 256; ++p) d.input.table[static_cast<size_t>(p)] = static_cast<uint8_t>(p);
  struct Conv {
    int64_t in, c, out;
    bool pool;
  };
  const Conv convs[] = {{32, 3, 64, false},    {30, 64, 64, true},    {14, 64, 128, false},
                        {12, 128, 128, true},  {5, 128, 256, false},  {3, 256, 256, false}};
  format::CodeFormat input = d.input.codes;
  for (const Conv& c : convs) {
    format::LayerDesc l = ternary_layer(rng, zeros, LayerKind::kConv, c.in, c.in, c.c, 3, c.out, input, false);
    if (c.pool) l.pool = {2, 2};
    d.layers.push_back(l);
    input = pm1;
  }
  d.layers.push_back(ternary_layer(rng, zeros, LayerKind::kDense, 1, 1, 256, 0, 512, pm1, false));
  d.layers.push_back(ternary_layer(rng, zeros, LayerKind::kDense, 1, 1, 512, 0, 512, pm1, false));
  d.layers.push_back(ternary_layer(rng, zeros, LayerKind::kDense, 1, 1, 512, 0, 10, pm1, true));
  return d;
}

void BM_TernaryModel(benchmark::State& state) {
  const format::ModelDesc d = ternary_model(state.range(2), static_cast<double>(state.range(1)) / 1000.0);
  runtime::EngineOptions opt;
  opt.threads = 1;
  opt.sparse = state.range(0) == 1 ? runtime::SparseGemm::kAuto : runtime::SparseGemm::kNever;
  runtime::Engine e = runtime::Engine::from_bytes(format::model_desc_bytes(d), d.name, opt);
  const auto& info = e.info();
  const int64_t batch = state.range(3), size = info.channels * info.height * info.width;
  Rng rng(9);
  std::vector<uint8_t> images(static_cast<size_t>(batch * size));
  for (auto& p : images) p = static_cast<uint8_t>(rng.below(256));
  std::vector<int32_t> pred(static_cast<size_t>(batch));
  for (auto _ : state) e.run(images.data(), batch, info.channels, info.height, info.width, nullptr, pred.data());
  state.counters["fps"] = benchmark::Counter(static_cast<double>(batch), benchmark::Counter::kIsIterationInvariantRate);
  int sparse = 0;
  for (const std::string& line : info.layers) sparse += line.find("sparse ternary") != std::string::npos;
  state.SetLabel(std::to_string(sparse) + " of " + std::to_string(info.layers.size()) + " layers sparse");
}
BENCHMARK(BM_TernaryModel)
    ->ArgsProduct({{0, 1}, {500, 900, 950, 980}, {0}, {256}})
    ->ArgsProduct({{0, 1}, {500, 900, 950, 980}, {1}, {16}})
    ->Unit(benchmark::kMillisecond);

}  // namespace
