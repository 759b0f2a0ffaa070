// Google Benchmark: the matrix products and steps that dominate float training.
//   build/bin/lowbit_bench --benchmark_filter=Gemm     GFLOP/s of the BLAS wrapper at
//                                                      LFC/CNV shapes (counter "GFLOPS")
//   build/bin/lowbit_bench --benchmark_filter=Step     one full training step (forward,
//                                                      backward, Adam) of LFC / CNV at batch 100
#include <benchmark/benchmark.h>

#include <vector>

#include "lowbit/core/rng.hpp"
#include "lowbit/core/threading.hpp"
#include "lowbit/kernels/gemm.hpp"
#include "lowbit/kernels/im2col.hpp"
#include "lowbit/nn/builder.hpp"
#include "lowbit/nn/loss.hpp"
#include "lowbit/nn/presets.hpp"
#include "lowbit/optim/optimizer.hpp"

namespace {

using namespace lowbit;

std::vector<float> random_vec(size_t n, uint64_t seed) {
  Rng r(seed);
  std::vector<float> v(n);
  for (auto& x : v) x = r.uniform(-1.f, 1.f);
  return v;
}

// C[M,N] = op(A) op(B) at training's shapes; args: M, N, K, threads, library (0 oneDNN,
// 1 OpenBLAS), transposes (0: A B^T, the dense forward; 1: A^T B, dW; 2: A B, dx / conv).
// Both libraries side by side in one run (docs/BENCHMARKS.md, "Training on oneDNN").
void BM_Gemm(benchmark::State& state) {
  const int64_t M = state.range(0), N = state.range(1), K = state.range(2);
  set_num_threads(static_cast<int>(state.range(3)));
  const auto backend = state.range(4) == 0 ? kernels::GemmBackend::kOneDnn : kernels::GemmBackend::kOpenBlas;
  kernels::set_gemm_backend(backend);
  const int64_t form = state.range(5);
  const auto ta = form == 1 ? kernels::Trans::Yes : kernels::Trans::No;
  const auto tb = form == 0 ? kernels::Trans::Yes : kernels::Trans::No;
  const int64_t lda = ta == kernels::Trans::Yes ? M : K, ldb = tb == kernels::Trans::Yes ? K : N;
  auto A = random_vec(static_cast<size_t>(M * K), 1), B = random_vec(static_cast<size_t>(N * K), 2);
  std::vector<float> C(static_cast<size_t>(M * N));
  for (auto _ : state) {
    kernels::gemm(ta, tb, M, N, K, 1.f, A.data(), lda, B.data(), ldb, 0.f, C.data(), N);
    benchmark::DoNotOptimize(C.data());
  }
  kernels::set_gemm_backend(kernels::GemmBackend::kOneDnn);
  state.SetLabel(kernels::gemm_backend_name(backend));
  state.counters["GFLOPS"] =
      benchmark::Counter(2.0 * M * N * K, benchmark::Counter::kIsIterationInvariantRate, benchmark::Counter::kIs1000);
}
BENCHMARK(BM_Gemm)
    ->ArgsProduct({{100}, {1024}, {784}, {1, 2}, {0, 1}, {0}})  // LFC layer 1 forward
    ->ArgsProduct({{100}, {1024}, {1024}, {2}, {0, 1}, {0, 2}})  // LFC hidden forward, dx
    ->ArgsProduct({{1024}, {1024}, {100}, {2}, {0, 1}, {1}})    // LFC hidden dW (K = batch)
    ->ArgsProduct({{1024}, {1024}, {1024}, {2}, {0, 1}, {0}})   // large square: the limit
    ->ArgsProduct({{64}, {784}, {576}, {1}, {0, 1}, {2}})       // CNV conv2 per image (one thread per image)
    ->UseRealTime();

// One training step of a preset at batch 100 on random data: forward, loss, backward, Adam.
void BM_Step(benchmark::State& state, const char* preset) {
  set_num_threads(static_cast<int>(state.range(0)));
  auto model = nn::build_model(nn::preset_topology(preset, {}));
  model->init(1);
  auto opt = optim::make_optimizer({}, model->params());
  auto loss = nn::make_loss("cross_entropy");
  Shape xs = {100};
  xs.insert(xs.end(), model->input_shape().begin(), model->input_shape().end());
  Tensor x(xs), dlogits;
  Rng rng(3);
  for (float& v : x) v = rng.uniform();
  std::vector<int32_t> labels(100);
  for (auto& l : labels) l = static_cast<int32_t>(rng.below(10));
  for (auto _ : state) {
    nn::Context ctx{true, &rng};
    const Tensor& logits = model->forward(x, ctx);
    loss->compute(logits, labels.data(), &dlogits);
    model->backward(dlogits);
    opt->step(1e-3f);
  }
  state.counters["images/s"] = benchmark::Counter(100.0, benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK_CAPTURE(BM_Step, lfc, "lfc")->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_Step, cnv, "cnv")->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(2.0);

}  // namespace

BENCHMARK_MAIN();
