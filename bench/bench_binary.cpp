// Google Benchmark: the binary (W1A1) forward product of a hidden LFC layer, three ways,
// on the same +-1 matrices (batch 100, 1024 -> 1024, threads = last arg):
//   BM_BinaryProduct/0  float sgemm (OpenBLAS), what a float layer computes
//   BM_BinaryProduct/1  xnor_gemm (Highway dispatch), packing of both operands included
//   BM_BinaryProduct/2  xnor_gemm_ref, the scalar twin
//   build/bin/lowbit_bench --benchmark_filter=Binary
#include <benchmark/benchmark.h>

#include <vector>

#include "lowbit/core/rng.hpp"
#include "lowbit/core/threading.hpp"
#include "lowbit/kernels/gemm.hpp"
#include "lowbit/kernels/xnor_gemm.hpp"

namespace {

using namespace lowbit;

std::vector<float> random_signs(size_t n, uint64_t seed) {
  Rng r(seed);
  std::vector<float> v(n);
  for (auto& x : v) x = r.uniform() < 0.5f ? -1.f : 1.f;
  return v;
}

void BM_BinaryProduct(benchmark::State& state) {
  const int64_t M = 100, N = 1024, K = state.range(1);
  const int mode = static_cast<int>(state.range(0));
  set_num_threads(static_cast<int>(state.range(2)));
  auto x = random_signs(static_cast<size_t>(M * K), 1), w = random_signs(static_cast<size_t>(N * K), 2);
  std::vector<float> c(static_cast<size_t>(M * N));
  const int64_t words = kernels::packed_words(K);
  std::vector<uint64_t> a(static_cast<size_t>(M * words)), bt(static_cast<size_t>(N * words));
  for (auto _ : state) {
    if (mode == 0) {
      kernels::gemm(kernels::Trans::No, kernels::Trans::Yes, M, N, K, 1.f, x.data(), K, w.data(), K, 0.f, c.data(), N);
    } else {
      kernels::pack_rows_pm1(x.data(), M, K, a.data());
      kernels::pack_cols_pm1(w.data(), N, K, bt.data());
      if (mode == 1) kernels::xnor_gemm(M, N, K, a.data(), bt.data(), c.data(), N);
      else kernels::xnor_gemm_ref(M, N, K, a.data(), bt.data(), c.data(), N);
    }
    benchmark::DoNotOptimize(c.data());
  }
  state.SetLabel(mode == 0 ? "sgemm" : mode == 1 ? std::string("xnor ") + kernels::xnor_gemm_target() : "xnor ref");
  state.counters["GMACS"] =
      benchmark::Counter(double(M) * N * K, benchmark::Counter::kIsIterationInvariantRate, benchmark::Counter::kIs1000);
}
BENCHMARK(BM_BinaryProduct)
    ->Args({0, 1024, 2})
    ->Args({1, 1024, 2})
    ->Args({2, 1024, 2})
    ->Args({0, 1024, 1})
    ->Args({1, 1024, 1})
    ->UseRealTime();

}  // namespace
