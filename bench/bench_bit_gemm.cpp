// Google Benchmark: the runtime's bit kernels (bit_gemm.hpp) against the popcount roof.
//   BM_PopcountRoof/T     register-blocked VPOPCNTQ + XOR + ADD on L1-resident data, the
//                         best this core does (AVX-512 VPOPCNTDQ; on AVX2 only CPUs XOR +
//                         nibble-table VPSHUFB counts + byte adds, the kernels' method), T
//                         threads, each with its own data (OpenMP region); binary MACs =
//                         64 per word.
//   BM_BgemmPm1/m/n/k/T   bgemm_pm1, T threads splitting columns at 32-column blocks
//   BM_BgemmPm1Target/i   m=256 n=1024 k=1024 on the i-th best compiled target (AVX3_DL, AVX3, AVX2, ...)
//   BM_BgemmPlanes/p/m/n/k  bgemm_planes, p activation planes (8: 8-bit input layer)
//   BM_BgemmCodes/p/q/levels/m/n/k  bgemm_codes: p activation planes (0: +-1), q weight planes, fused levels
//   BM_ThresholdPlanes/levels/m/n
// Counters: binMACs = popcounted bit products per second (per CPU second for one thread,
// per wall second for T > 1); roof = bit products per thread-CPU-second of the kernel's
// threads / the 1-thread roof measured once at start, i.e. the per-core efficiency, which
// CPU time keeps roughly meaningful on a shared machine. Wall-clock numbers only mean
// something on an otherwise idle machine.
//   build-kbench/bin/lowbit_bench --benchmark_filter='Popcount|Bgemm|Threshold'
#include <benchmark/benchmark.h>
#include <omp.h>

#include <hwy/targets.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include <time.h>

#include "lowbit/core/rng.hpp"
#include "lowbit/kernels/bit_gemm.hpp"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define LOWBIT_ROOF_PROBE 1
#endif

namespace {

using namespace lowbit;
using Clock = std::chrono::steady_clock;

// Seconds of CPU time of the calling thread.
double thread_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}
// Runs f() and returns the CPU seconds the calling thread spent in it.
template <class F>
double cpu_timed(F&& f) {
  const double t0 = thread_seconds();
  f();
  return thread_seconds() - t0;
}

#ifdef LOWBIT_ROOF_PROBE
// 4 x 4 register tile of 512-bit words: per step 8 loads, 16 XOR, 16 VPOPCNTQ, 16 ADD.
// a, b: 64 vectors each (4 KiB, L1). Returns the sum of counts (kept live).
__attribute__((target("avx512f,avx512vpopcntdq"), noinline)) uint64_t popcount_probe(const uint64_t* a,
                                                                                     const uint64_t* b, int64_t reps) {
  __m512i acc[4][4];
  for (auto& row : acc)
    for (auto& v : row) v = _mm512_setzero_si512();
  for (int64_t rep = 0; rep < reps; ++rep)
    for (int q = 0; q < 64; q += 4) {
      __m512i av[4], bv[4];
#pragma GCC unroll 4
      for (int r = 0; r < 4; ++r) av[r] = _mm512_load_si512(a + (q + r) * 8);
#pragma GCC unroll 4
      for (int c = 0; c < 4; ++c) bv[c] = _mm512_load_si512(b + (q + c) * 8);
#pragma GCC unroll 4
      for (int r = 0; r < 4; ++r)
#pragma GCC unroll 4
        for (int c = 0; c < 4; ++c)
          acc[r][c] = _mm512_add_epi64(acc[r][c], _mm512_popcnt_epi64(_mm512_xor_si512(av[r], bv[c])));
    }
  __m512i s = _mm512_setzero_si512();
  for (auto& row : acc)
    for (auto& v : row) s = _mm512_add_epi64(s, v);
  return static_cast<uint64_t>(_mm512_reduce_add_epi64(s));
}
constexpr double kProbeMacsPerRep = 16.0 * 16 * 512;  // 16 steps x 16 popcounts x 512 bits

// AVX2 has no vector popcount: the bit kernels' own method, XOR, two nibble-table lookups
// (VPSHUFB) and byte adds, widened by VPSADBW. 3 x 2 register tile of 256-bit words, the
// byte counters widened every 16 steps (at most 128 per byte). Same data size as above.
__attribute__((target("avx2"), noinline)) uint64_t popcount_probe_avx2(const uint64_t* a, const uint64_t* b,
                                                                       int64_t reps) {
  const __m256i lut = _mm256_setr_epi8(0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4, 0, 1, 1, 2, 1, 2, 2, 3, 1, 2,
                                       2, 3, 2, 3, 3, 4);
  const __m256i low = _mm256_set1_epi8(0x0f);
  __m256i wide = _mm256_setzero_si256();
  for (int64_t rep = 0; rep < reps; ++rep) {
    __m256i acc[3][2];
    for (auto& row : acc)
      for (auto& v : row) v = _mm256_setzero_si256();
    for (int q = 0; q < 64; q += 4) {
      __m256i av[3], bv[2];
#pragma GCC unroll 3
      for (int r = 0; r < 3; ++r) av[r] = _mm256_load_si256(reinterpret_cast<const __m256i*>(a + (q + r) * 4));
#pragma GCC unroll 2
      for (int c = 0; c < 2; ++c) bv[c] = _mm256_load_si256(reinterpret_cast<const __m256i*>(b + (q + c) * 4));
#pragma GCC unroll 3
      for (int r = 0; r < 3; ++r)
#pragma GCC unroll 2
        for (int c = 0; c < 2; ++c) {
          const __m256i x = _mm256_xor_si256(av[r], bv[c]);
          const __m256i lo = _mm256_shuffle_epi8(lut, _mm256_and_si256(x, low));
          const __m256i hi = _mm256_shuffle_epi8(lut, _mm256_and_si256(_mm256_srli_epi16(x, 4), low));
          acc[r][c] = _mm256_add_epi8(acc[r][c], _mm256_add_epi8(lo, hi));
        }
    }
    for (auto& row : acc)
      for (auto& v : row) wide = _mm256_add_epi64(wide, _mm256_sad_epu8(v, _mm256_setzero_si256()));
  }
  alignas(32) uint64_t lanes[4];
  _mm256_store_si256(reinterpret_cast<__m256i*>(lanes), wide);
  return lanes[0] + lanes[1] + lanes[2] + lanes[3];
}
constexpr double kProbeAvx2MacsPerRep = 16.0 * 6 * 256;  // 16 steps x 6 popcounts x 256 bits

bool probe_avx512() { return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vpopcntdq"); }
bool probe_supported() { return probe_avx512() || __builtin_cpu_supports("avx2"); }
// Binary MACs of one repetition of the probe this CPU runs.
double probe_macs_per_rep() { return probe_avx512() ? kProbeMacsPerRep : kProbeAvx2MacsPerRep; }

// Runs the probe on `threads` threads for `reps` repetitions each; returns the threads'
// CPU seconds in the probe, summed.
double run_probe(int threads, int64_t reps, uint64_t* sink) {
  double cpu = 0;
#pragma omp parallel num_threads(threads) reduction(+ : cpu)
  {
    alignas(64) uint64_t a[64 * 8], b[64 * 8];
    Rng rng(1 + static_cast<uint64_t>(omp_get_thread_num()));
    for (auto& v : a) v = rng.next_u64();
    for (auto& v : b) v = rng.next_u64();
    uint64_t s = 0;
    cpu += cpu_timed([&] { s = probe_avx512() ? popcount_probe(a, b, reps) : popcount_probe_avx2(a, b, reps); });
#pragma omp atomic
    *sink += s;
  }
  return cpu;
}
#endif

// One thread's roof in binary MACs/s (best of a few short runs), 0 where there is no probe.
double roof() {
  static const double value = [] {
#ifdef LOWBIT_ROOF_PROBE
    if (!probe_supported()) return 0.0;
    uint64_t sink = 0;
    double best = 0;
    for (int i = 0; i < 5; ++i) best = std::max(best, probe_macs_per_rep() * 20000 / run_probe(1, 20000, &sink));
    benchmark::DoNotOptimize(sink);
    return best;
#else
    return 0.0;
#endif
  }();
  return value;
}

void BM_PopcountRoof(benchmark::State& state) {
#ifdef LOWBIT_ROOF_PROBE
  if (!probe_supported()) {
    state.SkipWithError("neither AVX-512 VPOPCNTDQ nor AVX2 on this CPU");
    return;
  }
  const int threads = static_cast<int>(state.range(0));
  const int64_t reps = 20000;
  uint64_t sink = 0;
  double cpu = 0;
  for (auto _ : state) cpu += run_probe(threads, reps, &sink);
  benchmark::DoNotOptimize(sink);
  state.SetLabel(probe_avx512() ? "VPOPCNTQ" : "AVX2 nibble table");
  const double macs = probe_macs_per_rep() * reps * threads * static_cast<double>(state.iterations());
  state.counters["binMACs"] = benchmark::Counter(macs, benchmark::Counter::kIsRate);
  state.counters["per_core"] = macs / cpu;
  state.counters["roof"] = roof() > 0 ? macs / cpu / roof() : 0;
#else
  state.SkipWithError("the roof probe is x86-64 only");
#endif
}
BENCHMARK(BM_PopcountRoof)->Arg(1);
BENCHMARK(BM_PopcountRoof)->Arg(2)->UseRealTime();

std::vector<uint64_t> random_words(int64_t n, uint64_t seed, int64_t k_per_row = 0, int64_t words = 0) {
  Rng rng(seed);
  std::vector<uint64_t> v(static_cast<size_t>(n));
  for (auto& x : v) x = rng.next_u64();
  if (k_per_row > 0 && k_per_row % 64)  // zero the bits past k in each row's last word
    for (int64_t i = words - 1; i < n; i += words) v[static_cast<size_t>(i)] &= (uint64_t{1} << (k_per_row % 64)) - 1;
  return v;
}

// cpu: the kernel threads' CPU seconds, summed.
void report(benchmark::State& state, double bin_macs_per_iter, double cpu) {
  const double total = bin_macs_per_iter * static_cast<double>(state.iterations());
  state.counters["binMACs"] = benchmark::Counter(total, benchmark::Counter::kIsRate);
  state.counters["roof"] = roof() > 0 ? total / cpu / roof() : 0;
  state.SetLabel(kernels::bit_kernel_target());
}

// T threads split the columns at 32-column blocks (how the runtime is meant to thread
// it); returns their CPU seconds in f, summed.
template <class F>
double split_columns(int threads, int64_t n, F&& f) {
  const int64_t blocks = (n + 31) / 32;
  double cpu = 0;
#pragma omp parallel num_threads(threads) reduction(+ : cpu)
  {
    const int64_t t = omp_get_thread_num(), team = omp_get_num_threads();
    const int64_t j0 = std::min(n, blocks * t / team * 32), j1 = std::min(n, blocks * (t + 1) / team * 32);
    if (j0 < j1) cpu += cpu_timed([&] { f(j0, j1); });
  }
  return cpu;
}

void BM_BgemmPm1(benchmark::State& state) {
  const int64_t m = state.range(0), n = state.range(1), k = state.range(2);
  const int threads = static_cast<int>(state.range(3));
  const int64_t words = kernels::packed_words(k);
  const auto a = random_words(m * words, 1, k, words), wp = random_words(n * words, 2, k, words);
  const kernels::BinaryMatrix w(wp.data(), n, words);
  std::vector<int32_t> c(static_cast<size_t>(m * n));
  double cpu = 0;
  for (auto _ : state) {
    if (threads == 1) {
      cpu += cpu_timed([&] { kernels::bgemm_pm1(m, k, a.data(), w, 1, false, c.data(), n); });
    } else {
      cpu += split_columns(threads, n, [&](int64_t j0, int64_t j1) {
        kernels::bgemm_pm1(m, k, a.data(), w, 1, false, c.data(), n, j0, j1);
      });
    }
    benchmark::DoNotOptimize(c.data());
  }
  report(state, double(m) * n * k, cpu);
}
BENCHMARK(BM_BgemmPm1)
    ->Args({256, 1024, 1024, 1})
    ->Args({256, 256, 4608, 1})
    ->Args({1, 1024, 1024, 1})
    ->Args({100, 1024, 1024, 1});
BENCHMARK(BM_BgemmPm1)->Args({256, 1024, 1024, 2})->Args({256, 256, 4608, 2})->UseRealTime();

// The fused threshold kernel (output bits, no int32 accumulators): the runtime's path for
// binary layers. Same shapes as BM_BgemmPm1, 1 thread.
void BM_BgemmThreshold(benchmark::State& state) {
  const int64_t m = state.range(0), n = state.range(1), k = state.range(2);
  const int64_t words = kernels::packed_words(k);
  const auto a = random_words(m * words, 1, k, words), wp = random_words(n * words, 2, k, words);
  const kernels::BinaryMatrix w(wp.data(), n, words);
  std::vector<int32_t> thr(static_cast<size_t>(w.blocks() * kernels::BinaryMatrix::kBlock), 0);
  std::vector<uint64_t> out(static_cast<size_t>(m * kernels::packed_words(n)));
  double cpu = 0;
  for (auto _ : state) {
    cpu += cpu_timed([&] { kernels::bgemm_threshold(m, k, 0, a.data(), w, thr.data(), out.data()); });
    benchmark::DoNotOptimize(out.data());
  }
  report(state, double(m) * n * k, cpu);
}
BENCHMARK(BM_BgemmThreshold)->Args({256, 1024, 1024})->Args({256, 256, 4608});

void BM_BgemmPm1Target(benchmark::State& state) {
  const std::vector<int64_t> targets = kernels::bit_kernel_targets();
  const size_t index = static_cast<size_t>(state.range(0));
  if (index >= targets.size()) {
    state.SkipWithError("no such target here");
    return;
  }
  const int64_t m = 256, n = 1024, k = 1024, words = kernels::packed_words(k);
  const auto a = random_words(m * words, 1), wp = random_words(n * words, 2);
  const kernels::BinaryMatrix w(wp.data(), n, words);
  std::vector<int32_t> c(static_cast<size_t>(m * n));
  hwy::SetSupportedTargetsForTest(targets[index]);
  double cpu = 0;
  for (auto _ : state) {
    cpu += cpu_timed([&] { kernels::bgemm_pm1(m, k, a.data(), w, 1, false, c.data(), n); });
    benchmark::DoNotOptimize(c.data());
  }
  report(state, double(m) * n * k, cpu);
  hwy::SetSupportedTargetsForTest(0);
}
BENCHMARK(BM_BgemmPm1Target)->DenseRange(0, 5);

void BM_BgemmPlanes(benchmark::State& state) {
  const int planes = static_cast<int>(state.range(0));
  const int64_t m = state.range(1), n = state.range(2), k = state.range(3), words = kernels::packed_words(k);
  const auto a = random_words(planes * m * words, 1, k, words), wp = random_words(n * words, 2, k, words);
  const kernels::BinaryMatrix w(wp.data(), n, words);
  std::vector<int32_t> c(static_cast<size_t>(m * n));
  double cpu = 0;
  for (auto _ : state) {
    cpu += cpu_timed([&] { kernels::bgemm_planes(m, k, planes, a.data(), w, 1, false, c.data(), n); });
    benchmark::DoNotOptimize(c.data());
  }
  report(state, double(m) * n * k * planes, cpu);
  state.counters["MACs"] =  // code x weight products
      benchmark::Counter(double(m) * n * k * static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_BgemmPlanes)->Args({8, 256, 1024, 784})->Args({2, 256, 1024, 1024});

// The fused multi-bit kernel (bgemm_codes): p activation planes x q weight planes with
// `levels` thresholds, codes out as bit-planes; the runtime's path for W1A2 (2, 1, 3) and
// W2A2 (2, 2, 3). binMACs count p x q popcounted bit products per MAC.
void BM_BgemmCodes(benchmark::State& state) {
  const int planes = static_cast<int>(state.range(0)), wplanes = static_cast<int>(state.range(1));
  const int levels = static_cast<int>(state.range(2));
  const int64_t m = state.range(3), n = state.range(4), k = state.range(5), words = kernels::packed_words(k);
  const auto a = random_words(std::max(planes, 1) * m * words, 1, k, words), wp = random_words(wplanes * n * words, 2, k, words);
  std::vector<kernels::BinaryMatrix> w;
  for (int p = 0; p < wplanes; ++p) w.emplace_back(wp.data() + p * n * words, n, words);
  std::vector<int32_t> coef, thr(static_cast<size_t>(n * levels));
  for (int p = 0; p < wplanes; ++p) coef.push_back(1 << p);
  for (int64_t j = 0; j < n; ++j)
    for (int l = 0; l < levels; ++l) thr[static_cast<size_t>(j * levels + l)] = (l - levels / 2) * 16;
  std::vector<uint64_t> out(static_cast<size_t>(kernels::threshold_bits(levels) * m * kernels::packed_words(n)));
  double cpu = 0;
  for (auto _ : state) {
    cpu += cpu_timed([&] {
      kernels::bgemm_codes(m, k, planes, a.data(), wplanes, w.data(), coef.data(), nullptr, levels, thr.data(),
                           out.data());
    });
    benchmark::DoNotOptimize(out.data());
  }
  report(state, double(m) * n * k * std::max(planes, 1) * wplanes, cpu);
  state.counters["MACs"] =
      benchmark::Counter(double(m) * n * k * static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_BgemmCodes)
    ->Args({0, 1, 1, 256, 256, 4608})
    ->Args({2, 1, 3, 256, 256, 4608})
    ->Args({2, 2, 3, 256, 256, 4608})
    ->Args({2, 1, 3, 256, 1024, 1024});

void BM_ThresholdPlanes(benchmark::State& state) {
  const int levels = static_cast<int>(state.range(0));
  const int64_t m = state.range(1), n = state.range(2);
  Rng rng(3);
  std::vector<int32_t> acc(static_cast<size_t>(m * n)), thr(static_cast<size_t>(n * levels));
  for (auto& v : acc) v = static_cast<int32_t>(rng.below(2001)) - 1000;
  for (int64_t j = 0; j < n; ++j) {
    for (int l = 0; l < levels; ++l) thr[j * levels + l] = static_cast<int32_t>(rng.below(2001)) - 1000;
    std::sort(thr.begin() + j * levels, thr.begin() + (j + 1) * levels);
  }
  std::vector<uint64_t> out(static_cast<size_t>(kernels::threshold_bits(levels) * m * kernels::packed_words(n)));
  for (auto _ : state) {
    kernels::threshold_planes(m, n, acc.data(), n, levels, thr.data(), out.data());
    benchmark::DoNotOptimize(out.data());
  }
  state.counters["values"] =
      benchmark::Counter(double(m) * n * static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
  state.SetLabel(kernels::bit_kernel_target());
}
BENCHMARK(BM_ThresholdPlanes)->Args({1, 4096, 256})->Args({3, 4096, 256})->Args({255, 256, 1024});

}  // namespace
