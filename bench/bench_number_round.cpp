// Google Benchmark: the number-rounding kernels (kernels/number_round.hpp) on one
// LFC-sized tensor (2^21 floats, 8 MiB: the size of the weights, gradients and momentum
// that low-precision training rounds every step), single-threaded, the dispatched kernel
// beside its scalar twin and beside a plain copy of the same bytes (the memory roof).
//   build/bin/lowbit_bench --benchmark_filter=NumberRound
// Args: kind (0 copy, 1 fixed, 2 minifloat float:5,2, 3 max_abs_finite, 4 bfloat16: float32's
// exponent range, the kernels' integer path), mode (RoundMode),
// ref (0 dispatched, 1 scalar twin). Counter "elements/s".
#include <benchmark/benchmark.h>

#include <cstring>
#include <vector>

#include "lowbit/core/fp_env.hpp"
#include "lowbit/core/rng.hpp"
#include "lowbit/kernels/number_round.hpp"

namespace {

using namespace lowbit;
using namespace lowbit::kernels;

void BM_NumberRound(benchmark::State& state) {
  enter_fp_contract();
  const int kind = static_cast<int>(state.range(0));
  const auto mode = static_cast<RoundMode>(state.range(1));
  const bool ref = state.range(2) != 0;
  const int64_t n = int64_t{1} << 21;
  std::vector<float> x(static_cast<size_t>(n)), y(static_cast<size_t>(n));
  Rng rng(1);
  for (float& v : x) v = rng.uniform(-2.f, 2.f);
  const RoundStream stream = round_stream_key(1, 2, 3);
  float sink = 0;
  for (auto _ : state) {
    switch (kind) {
      case 0: std::memcpy(y.data(), x.data(), x.size() * sizeof(float)); break;
      case 1:
        (ref ? round_fixed_ref : round_fixed)(x.data(), y.data(), n, -6, -128.f, 127.f, mode, stream);
        break;
      case 2:
        (ref ? round_minifloat_ref : round_minifloat)(x.data(), y.data(), n, 2, -14, 15, false, mode, stream);
        break;
      case 4:
        (ref ? round_minifloat_ref : round_minifloat)(x.data(), y.data(), n, 7, -126, 127, false, mode, stream);
        break;
      case 3: sink += (ref ? max_abs_finite_ref : max_abs_finite)(x.data(), n); break;
      default: state.SkipWithError("unknown kind"); return;
    }
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  benchmark::DoNotOptimize(sink);
  state.counters["elements/s"] =
      benchmark::Counter(static_cast<double>(n) * static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}

}  // namespace

BENCHMARK(BM_NumberRound)->Args({0, 0, 0})->Args({3, 0, 0})->Args({3, 0, 1})
    ->ArgsProduct({{1, 2, 4}, {0, 4}, {0, 1}})->Unit(benchmark::kMillisecond);
