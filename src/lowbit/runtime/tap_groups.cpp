#include "lowbit/runtime/tap_groups.hpp"

#include <algorithm>
#include <cmath>

#include "lowbit/format/semantics.hpp"
#include "lowbit/kernels/bit_gemm.hpp"
#include "lowbit/runtime/plan.hpp"

namespace lowbit::runtime {

std::vector<TapGroupPlan> plan_tap_groups(const format::LayerDesc& l, const LayerPlan& d, bool byte_codes,
                                          SparseGemm sparse, const std::string& where) {
  const int64_t taps = d.kh * d.kw, c = d.c;
  std::vector<TapGroupPlan> groups(static_cast<size_t>(l.groups()));
  for (int64_t t = 0; t < taps; ++t) groups[static_cast<size_t>(l.tap_group[static_cast<size_t>(t)])].taps.push_back(t);
  for (size_t g = 0; g < groups.size(); ++g) {
    TapGroupPlan& p = groups[g];
    const std::string gw = where + " (tap group " + std::to_string(g) + ")";
    format::LayerDesc& s = p.slice;
    s.kind = format::LayerKind::kDense;
    s.in_h = 1, s.in_w = std::max<int64_t>(1, static_cast<int64_t>(p.taps.size())), s.in_c = c;
    s.out = l.out;
    s.input = l.input;
    s.negated = l.negated;
    for (int64_t o = 0; o < l.out; ++o) {
      for (int64_t t : p.taps)
        for (int64_t ch = 0; ch < c; ++ch) s.weights.push_back(l.weight(o, t * c + ch));
      if (p.taps.empty())  // a group no tap belongs to: one zero column (its partial sum is 0)
        for (int64_t ch = 0; ch < c; ++ch) s.weights.push_back(0);
    }
    p.gemm = choose_gemm(sparse_problem(s, gw, byte_codes, sparse));
    p.scale = std::ldexp(l.group_scale[g], -p.gemm->shift());
    std::vector<uint8_t> use(static_cast<size_t>(taps), 0);
    for (int64_t t : p.taps) use[static_cast<size_t>(t)] = 1;
    padding_fix(l, d, p.gemm->shift(), use, p.pad_pixels, p.pad_fix);
  }
  return groups;
}

int64_t tap_group_operand_size(const LayerPlan& d) {
  const int64_t rows = d.oh * d.ow;
  // At most every tap: bit-planes of packed words per tap, or K bytes.
  return std::max(d.input.planes() * rows * d.kh * d.kw * kernels::packed_words(d.c), (rows * d.in + 7) / 8);
}

namespace {

// Group g's slice of every operand row (whole taps) into `out`, as its GEMM reads it.
void gather(const LayerPlan& d, const TapGroupPlan& g, int64_t rows, const GemmInput& a, bool codes, uint64_t* out) {
  const int64_t taps = d.kh * d.kw, n = static_cast<int64_t>(g.taps.size());
  if (codes) {
    auto* dst = reinterpret_cast<uint8_t*>(out);
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t i = 0; i < n; ++i) {
        const uint8_t* src = a.codes + r * d.in + g.taps[static_cast<size_t>(i)] * d.c;
        std::copy(src, src + d.c, dst + (r * n + i) * d.c);
      }
    return;
  }
  const int64_t cw = kernels::packed_words(d.c), row = taps * cw, sub = n * cw;
  for (int b = 0; b < d.input.planes(); ++b)
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t i = 0; i < n; ++i) {
        const uint64_t* src = a.bits + b * rows * row + r * row + g.taps[static_cast<size_t>(i)] * cw;
        std::copy(src, src + cw, out + b * rows * sub + r * sub + i * cw);
      }
}

}  // namespace

void run_tap_groups(const LayerPlan& d, int64_t m, const GemmInput& a, uint64_t* operand, int32_t* acc, float* y,
                    int32_t* levels, std::vector<int32_t>* trace) {
  const int64_t rows = m * d.oh * d.ow, M = d.out, G = static_cast<int64_t>(d.groups.size());
  const bool codes = d.gemm->reads_codes();
  std::vector<int32_t> partials;  // (row, o, group), only for a trace
  if (trace) partials.assign(static_cast<size_t>(rows * M * G), 0);
  for (int64_t g = 0; g < G; ++g) {
    const TapGroupPlan& p = d.groups[static_cast<size_t>(g)];
    GemmInput sub;
    if (p.taps.empty()) {
      std::fill(acc, acc + rows * M, 0);
    } else {
      gather(d, p, rows, a, codes, operand);
      sub.bits = operand;
      sub.codes = reinterpret_cast<const uint8_t*>(operand);
      p.gemm->accumulate(rows, sub, acc, 0, M);
    }
    for (int64_t i = 0; i < m; ++i)
      for (size_t q = 0; q < p.pad_pixels.size(); ++q) {
        int32_t* row = acc + (i * d.oh * d.ow + p.pad_pixels[q]) * M;
        for (int64_t o = 0; o < M; ++o) row[o] += p.pad_fix[q * static_cast<size_t>(M) + static_cast<size_t>(o)];
      }
    // Separate loops, so that each vectorizes (the order of the operations per value is
    // fixed either way).
    if (g == 0)
      for (int64_t i = 0; i < rows * M; ++i) y[i] = format::group_first(static_cast<float>(acc[i]), p.scale);
    else
      for (int64_t i = 0; i < rows * M; ++i) y[i] = format::group_next(y[i], static_cast<float>(acc[i]), p.scale);
    if (trace)
      for (int64_t i = 0; i < rows * M; ++i) {
        const int32_t v = acc[i] >> p.gemm->shift();  // exact: a shifted GEMM's accumulators are even
        partials[static_cast<size_t>(i * G + g)] = d.negated[static_cast<size_t>(i % M)] ? -v : v;
      }
  }
  if (trace) trace->insert(trace->end(), partials.begin(), partials.end());
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t o = 0; o < M; ++o)
      levels[r * M + o] = format::threshold_level(d.float_thresholds.data() + o * d.levels, d.levels, y[r * M + o]);
}

}  // namespace lowbit::runtime
