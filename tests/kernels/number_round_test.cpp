// The number-rounding kernels (kernels/number_round.hpp) on every compiled Highway target
// this CPU supports, against their scalar `_ref` twins bit for bit (NaN payloads and the
// sign of zero included), over lengths 0..40 and around vector multiples, every RoundMode,
// fixed-point steps and code bounds, minifloat formats, wide random inputs and specials,
// stream offsets and in-place calls; chunk invariance of the counter-based random bits; and
// the twins themselves against an independent oracle: each small format's value set listed
// from its definition (in double) and the neighbour each mode must pick.
#include "lowbit/kernels/number_round.hpp"

#include <gtest/gtest.h>

#include <hwy/targets.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <iostream>
#include <limits>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "lowbit/core/error.hpp"
#include "lowbit/core/fp_env.hpp"
#include "lowbit/core/rng.hpp"
#include "lowbit/kernels/bit_gemm.hpp"  // bit_kernel_targets(): the same targets (bit_targets.hpp)

namespace lowbit::kernels {
namespace {

using F = std::vector<float>;

constexpr RoundMode kModes[] = {RoundMode::kNearestEven, RoundMode::kNearestUp, RoundMode::kNearestAway,
                                RoundMode::kTowardZero, RoundMode::kStochastic};
const char* mode_name(RoundMode m) {
  switch (m) {
    case RoundMode::kNearestEven: return "nearest-even";
    case RoundMode::kNearestUp: return "nearest-up";
    case RoundMode::kNearestAway: return "nearest-away";
    case RoundMode::kTowardZero: return "toward-zero";
    case RoundMode::kStochastic: return "stochastic";
  }
  return "?";
}

uint32_t bits_of(float f) {
  uint32_t b;
  std::memcpy(&b, &f, sizeof b);
  return b;
}
float from_bits(uint32_t b) {
  float f;
  std::memcpy(&f, &b, sizeof f);
  return f;
}
std::string show(float f) {
  std::ostringstream os;
  os << std::hexfloat << f << " (0x" << std::hex << bits_of(f) << ")";
  return os.str();
}

// "" when got[0, n) and want[0, n) hold the same bits (NaN payloads and signs, the sign of
// zero); otherwise the first difference.
std::string first_bit_diff(const float* got, const float* want, int64_t n) {
  for (int64_t i = 0; i < n; ++i)
    if (bits_of(got[i]) != bits_of(want[i])) return cat("element ", i, ": got ", show(got[i]), ", want ", show(want[i]));
  return "";
}
std::string first_bit_diff(const F& got, const F& want) {
  if (got.size() != want.size()) return cat("sizes ", got.size(), " and ", want.size());
  return first_bit_diff(got.data(), want.data(), static_cast<int64_t>(got.size()));
}

void print_targets_once(const std::vector<int64_t>& targets) {
  static bool printed = false;
  if (printed) return;
  std::string names;
  for (int64_t t : targets) names += cat(names.empty() ? "" : ", ", hwy::TargetName(t));
  std::cout << "[ number round ] targets tested: " << names << std::endl;
  printed = true;
}

// Runs f once per target, with dispatch capped to that target; prints the targets once.
template <class Fn>
void for_each_target(Fn&& f) {
  const std::vector<int64_t> targets = bit_kernel_targets();
  ASSERT_FALSE(targets.empty());
  print_targets_once(targets);
  for (int64_t t : targets) {
    SCOPED_TRACE(hwy::TargetName(t));
    hwy::SetSupportedTargetsForTest(t);
    EXPECT_STREQ(bit_kernel_target(), hwy::TargetName(t));  // dispatch follows the cap
    f();
  }
  hwy::SetSupportedTargetsForTest(0);  // back to the CPU's own targets
}

const std::vector<int64_t>& sweep_lengths() {
  static const std::vector<int64_t> lengths = [] {
    std::vector<int64_t> v;
    for (int64_t n = 0; n <= 40; ++n) v.push_back(n);
    for (int64_t n : {63, 64, 65, 127, 1000, 4099}) v.push_back(n);
    return v;
  }();
  return lengths;
}

int64_t sweep_total() {
  int64_t t = 0;
  for (int64_t n : sweep_lengths()) t += n;
  return t;
}

// Specials: NaNs (quiet, signalling, negative, with payloads), infinities, zeros, the
// largest float, the smallest normals, denormals (read as zero in the contract mode), ties.
const F& specials() {
  static const F s = {from_bits(0x7fc00000u), from_bits(0xffc00000u), from_bits(0x7f800001u), from_bits(0x7fc12345u),
                      HUGE_VALF, -HUGE_VALF, 0.f, -0.f, FLT_MAX, -FLT_MAX, 0x1p-126f, -0x1p-126f,
                      from_bits(0x00000001u), from_bits(0x807fffffu), 1.f, -1.f, 0.5f, -0.5f, 1.5f, -2.5f,
                      -0x1.fffffep-2f, 0x1.fffffep-2f, 0x1p127f, 0x1.8p127f, 0x1p-149f};
  return s;
}

// n inputs: specials, random bits, random signs and exponents over the whole float range,
// and (most) values near the grid that near(rng) draws around; a quarter then moved one ulp
// up or down (the neighbours of ties and grid points).
template <class Near>
F make_inputs(int64_t n, uint64_t seed, Near near) {
  Rng rng(seed, 7);
  F x(static_cast<size_t>(n));
  for (auto& v : x) {
    const uint64_t kind = rng.below(10);
    if (kind == 0) v = specials()[rng.below(specials().size())];
    else if (kind == 1) v = from_bits(rng.next_u32());
    else if (kind <= 3) {
      const int e = static_cast<int>(rng.below(254)) - 126;
      v = std::ldexp(1.f + rng.uniform(), e) * (rng.below(2) ? -1.f : 1.f);
    } else v = near(rng);
    if (std::isfinite(v) && rng.below(4) == 0) v = std::nextafter(v, rng.below(2) ? HUGE_VALF : -HUGE_VALF);
  }
  return x;
}

// A code plus a fraction, the fraction often a tie or a quarter.
double code_and_fraction(Rng& rng, double range) {
  double k = std::floor((rng.uniform_double() * 2 - 1) * range);
  static const double fracs[] = {0, 0.5, 0.5, 0.25, 0.75};
  const uint64_t pick = rng.below(7);
  return k + (pick < 5 ? fracs[pick] : rng.uniform_double());
}

struct FixedCase {
  int s;
  float qmin, qmax;
};
std::vector<FixedCase> fixed_cases() {
  std::vector<FixedCase> out;
  const float inf = HUGE_VALF;
  for (int s : {-149, -30, -8, -4, 0, 3, 127})
    for (auto [lo, hi] : {std::pair{-128.f, 127.f}, {-127.f, 127.f}, {-inf, inf}, {-0x1p24f, 0x1p24f}, {0.f, 255.f}})
      out.push_back({s, lo, hi});
  return out;
}
F fixed_inputs(int64_t n, uint64_t seed, const FixedCase& c) {
  const double range = std::min<double>(std::max(std::fabs(c.qmin), std::fabs(c.qmax)), 0x1p24) * 1.25 + 2;
  return make_inputs(n, seed, [&](Rng& rng) { return static_cast<float>(std::ldexp(code_and_fraction(rng, range), c.s)); });
}

struct MiniCase {
  const char* name;
  int man, emin, emax;
};
const std::vector<MiniCase>& mini_cases() {
  static const std::vector<MiniCase> c = {{"float:5,2", 2, -14, 15},   {"half", 10, -14, 15}, {"bfloat16", 7, -126, 127},
                                          {"float:4,3", 3, -6, 7},     {"float:8,23", 23, -126, 127},
                                          {"float:2,1", 1, 0, 1},      {"float:3,2", 2, -2, 3},
                                          {"float:3,0", 0, -2, 3},
                                          // float32's exponent range: the kernels' integer path
                                          {"float:8,1", 1, -126, 127},    {"float:8,22", 22, -126, 127}};
  return c;
}
F mini_inputs(int64_t n, uint64_t seed, const MiniCase& c) {
  return make_inputs(n, seed, [&](Rng& rng) {
    const int lo = std::max(-126, c.emin - c.man - 3), hi = std::min(127, c.emax + 2);
    const int e = lo + static_cast<int>(rng.below(static_cast<uint64_t>(hi - lo + 1)));
    const int s = std::max(e, c.emin) - c.man;
    const double k = code_and_fraction(rng, std::ldexp(1.0, c.man + 1));
    return static_cast<float>(std::ldexp(std::fabs(k), s) * (rng.below(2) ? -1 : 1));
  });
}

// The stream offsets tried: 0, small, large, and the last n indices below 2^32.
uint32_t first_for(int64_t n, size_t variant) {
  switch (variant % 4) {
    case 0: return 0;
    case 1: return 5;
    case 2: return 1000003;
    default: return static_cast<uint32_t>((uint64_t{1} << 32) - static_cast<uint64_t>(n));
  }
}

// Runs kernel and twin (out of place and in place) on x and compares their bits; counts
// the elements compared and stops adding failures after a few.
struct Comparison {
  int64_t compared = 0;
  int failures = 0;
  template <class Kernel, class Ref>
  void run(const F& x, Kernel kernel, Ref ref, const std::string& what) {
    const int64_t n = static_cast<int64_t>(x.size());
    F want(x.size(), from_bits(0xdeadbeefu)), got(x.size(), from_bits(0xabad1deau));
    ref(x.data(), want.data(), n);
    kernel(x.data(), got.data(), n);
    F inplace = x;
    kernel(inplace.data(), inplace.data(), n);
    for (const F* y : {&got, &inplace}) {
      const std::string diff = first_bit_diff(*y, want);
      if (!diff.empty() && failures < 10) {
        ++failures;
        ADD_FAILURE() << what << (y == &got ? "" : " (in place)") << ": " << diff;
      }
    }
    compared += 2 * n;
  }
};

TEST(NumberRound, FixedMatchesRefOnEveryTarget) {
  ASSERT_TRUE(in_fp_contract());
  for_each_target([] {
    Comparison cmp;
    const auto cases = fixed_cases();
    for (size_t ci = 0; ci < cases.size(); ++ci) {
      const FixedCase c = cases[ci];
      for (int64_t n : sweep_lengths()) {
        const F x = fixed_inputs(n, ci * 100003 + static_cast<uint64_t>(n), c);
        for (RoundMode mode : kModes) {
          RoundStream st = round_stream_key(ci, static_cast<uint64_t>(n), static_cast<uint64_t>(mode));
          st.first = first_for(n, ci + static_cast<size_t>(n));
          cmp.run(
              x, [&](const float* a, float* b, int64_t m) { round_fixed(a, b, m, c.s, c.qmin, c.qmax, mode, st); },
              [&](const float* a, float* b, int64_t m) { round_fixed_ref(a, b, m, c.s, c.qmin, c.qmax, mode, st); },
              cat("round_fixed s=", c.s, " [", c.qmin, ", ", c.qmax, "] ", mode_name(mode), " n=", n,
                  " first=", st.first));
        }
      }
    }
    EXPECT_EQ(cmp.failures, 0);
    EXPECT_EQ(cmp.compared, sweep_total() * static_cast<int64_t>(cases.size()) * 5 * 2);  // every case ran
  });
}

TEST(NumberRound, MinifloatMatchesRefOnEveryTarget) {
  ASSERT_TRUE(in_fp_contract());
  for_each_target([] {
    Comparison cmp;
    const auto& cases = mini_cases();
    for (size_t ci = 0; ci < cases.size(); ++ci) {
      const MiniCase c = cases[ci];
      for (int64_t n : sweep_lengths()) {
        const F x = mini_inputs(n, ci * 100019 + static_cast<uint64_t>(n), c);
        for (bool inf : {false, true})
          for (RoundMode mode : kModes) {
            RoundStream st = round_stream_key(ci, static_cast<uint64_t>(n), static_cast<uint64_t>(mode) + 8 * inf);
            st.first = first_for(n, ci + static_cast<size_t>(n) + inf);
            cmp.run(
                x,
                [&](const float* a, float* b, int64_t m) {
                  round_minifloat(a, b, m, c.man, c.emin, c.emax, inf, mode, st);
                },
                [&](const float* a, float* b, int64_t m) {
                  round_minifloat_ref(a, b, m, c.man, c.emin, c.emax, inf, mode, st);
                },
                cat("round_minifloat ", c.name, inf ? ":ieee " : " ", mode_name(mode), " n=", n, " first=", st.first));
          }
      }
    }
    EXPECT_EQ(cmp.failures, 0);
    EXPECT_EQ(cmp.compared, sweep_total() * static_cast<int64_t>(cases.size()) * 2 * 5 * 2);
  });
}

TEST(NumberRound, MaxAbsFiniteMatchesRefOnEveryTarget) {
  ASSERT_TRUE(in_fp_contract());
  const float nan = std::numeric_limits<float>::quiet_NaN(), inf = HUGE_VALF;
  const std::vector<std::pair<F, float>> fixed = {
      {{}, 0.f},
      {{nan, nan, nan}, 0.f},
      {{inf, -inf, nan}, 0.f},
      {{-3.f, inf, nan, 2.f}, 3.f},
      {{-0.f, -0.f}, 0.f},
      {{from_bits(0x00000001u), from_bits(0x807fffffu)}, 0.f},  // denormals read as zero
      {{-FLT_MAX, 1.f, nan, -inf, 0x1p-126f, 5.f, 4.f, 3.f, 2.f, 1.f, 0.f, -7.f, 6.f, nan, inf, 1.f, 2.f}, FLT_MAX},
  };
  for_each_target([&] {
    for (const auto& [x, want] : fixed) {
      const int64_t n = static_cast<int64_t>(x.size());
      EXPECT_EQ(bits_of(max_abs_finite(x.data(), n)), bits_of(want)) << n << " values";
      EXPECT_EQ(bits_of(max_abs_finite_ref(x.data(), n)), bits_of(want)) << n << " values";
    }
    for (int64_t n : sweep_lengths())
      for (uint64_t seed = 0; seed < 4; ++seed) {
        F x = fixed_inputs(n, seed * 7919 + static_cast<uint64_t>(n), fixed_cases()[seed * 3]);
        if (seed == 3) {  // the largest value in the tail, or NaN/inf everywhere but one element
          for (auto& v : x) v = (v == v) ? v * 0.f + inf : v;
          if (n > 0) x[static_cast<size_t>(n - 1)] = -0x1.234p5f;
        }
        const float got = max_abs_finite(x.data(), n), want = max_abs_finite_ref(x.data(), n);
        EXPECT_EQ(bits_of(got), bits_of(want)) << "n=" << n << " seed=" << seed << ": got " << show(got) << ", want "
                                               << show(want);
      }
  });
}

// Rounding a tensor in one call equals rounding it in pieces that carry their element
// offset in stream.first (any split, any order), for the kernel and its twin.
TEST(NumberRound, ChunkInvariance) {
  const int64_t n = 1999;
  const uint32_t first0 = 40;
  const MiniCase mc = mini_cases()[0];
  const FixedCase fc{-6, -128.f, 127.f};
  const F x0 = mini_inputs(n, 3, mc), x1 = fixed_inputs(n, 4, fc);
  for_each_target([&] {
    for (RoundMode mode : kModes)
      for (int which = 0; which < 2; ++which)
        for (int ref = 0; ref < 2; ++ref) {
          RoundStream st = round_stream_key(11, 22, 33);
          const F& x = which ? x1 : x0;
          auto round = [&](const float* a, float* b, int64_t m, RoundStream s) {
            if (which == 0) (ref ? round_minifloat_ref : round_minifloat)(a, b, m, mc.man, mc.emin, mc.emax, true, mode, s);
            else (ref ? round_fixed_ref : round_fixed)(a, b, m, fc.s, fc.qmin, fc.qmax, mode, s);
          };
          st.first = first0;
          F whole(x.size());
          round(x.data(), whole.data(), n, st);
          Rng rng(static_cast<uint64_t>(mode) * 4 + which * 2 + ref);
          F pieces(x.size(), 0.f);
          std::vector<std::pair<int64_t, int64_t>> spans;
          for (int64_t i = 0; i < n;) {
            const int64_t len = std::min<int64_t>(n - i, static_cast<int64_t>(rng.below(70)));
            spans.push_back({i, len});
            i += len;
          }
          std::reverse(spans.begin(), spans.end());
          for (auto [i, len] : spans) {
            RoundStream s = st;
            s.first = first0 + static_cast<uint32_t>(i);
            round(x.data() + i, pieces.data() + i, len, s);
          }
          EXPECT_EQ(first_bit_diff(pieces, whole), "") << mode_name(mode) << (which ? " fixed" : " minifloat")
                                                       << (ref ? " ref" : "");
          if (mode == RoundMode::kStochastic) {  // and another key changes some results
            RoundStream other = st;
            other.k1 ^= 1;
            F y(x.size());
            round(x.data(), y.data(), n, other);
            EXPECT_NE(first_bit_diff(y, whole), "");
          }
        }
  });
}

// The same checks and messages as the twins.
TEST(NumberRound, ArgumentChecksMatchTheRefs) {
  float x[4] = {1, 2, 3, 4}, y[4];
  auto message = [](auto&& call) -> std::string {
    try {
      call();
    } catch (const Error& e) {
      return e.what();
    }
    return "(no error)";
  };
  RoundStream late;
  late.first = 0xfffffffeu;
  const auto st = RoundMode::kStochastic, ne = RoundMode::kNearestEven;
  std::vector<std::pair<std::string, std::string>> pairs = {
      {message([&] { round_fixed(x, y, -1, 0, -8, 7, ne, {}); }),
       message([&] { round_fixed_ref(x, y, -1, 0, -8, 7, ne, {}); })},
      {message([&] { round_fixed(x, y, 4, -150, -8, 7, ne, {}); }),
       message([&] { round_fixed_ref(x, y, 4, -150, -8, 7, ne, {}); })},
      {message([&] { round_fixed(x, y, 4, 128, -8, 7, ne, {}); }),
       message([&] { round_fixed_ref(x, y, 4, 128, -8, 7, ne, {}); })},
      {message([&] { round_fixed(x, y, 3, 0, -8, 7, st, late); }),
       message([&] { round_fixed_ref(x, y, 3, 0, -8, 7, st, late); })},
      {message([&] { round_minifloat(x, y, 3, 2, -14, 15, false, st, late); }),
       message([&] { round_minifloat_ref(x, y, 3, 2, -14, 15, false, st, late); })},
      {message([&] { round_minifloat(x, y, 4, 24, -14, 15, false, ne, {}); }),
       message([&] { round_minifloat_ref(x, y, 4, 24, -14, 15, false, ne, {}); })},
      {message([&] { round_minifloat(x, y, 4, 2, -127, 15, false, ne, {}); }),
       message([&] { round_minifloat_ref(x, y, 4, 2, -127, 15, false, ne, {}); })},
      {message([&] { round_minifloat(x, y, 4, 2, 3, 2, false, ne, {}); }),
       message([&] { round_minifloat_ref(x, y, 4, 2, 3, 2, false, ne, {}); })},
      {message([&] { round_minifloat(x, y, -1, 2, -14, 15, false, ne, {}); }),
       message([&] { round_minifloat_ref(x, y, -1, 2, -14, 15, false, ne, {}); })},
  };
  for (const auto& [got, want] : pairs) {
    EXPECT_NE(want, "(no error)");
    EXPECT_EQ(got, want);
  }
  // The last index that fits: first + n == 2^32 is allowed.
  EXPECT_NO_THROW(round_fixed(x, y, 2, 0, -8, 7, st, late));
  EXPECT_NO_THROW(round_fixed(x, y, 0, 0, -8, 7, st, late));
}

// The comparison the sweeps rely on sees a single flipped bit anywhere, the sign of a zero
// and a NaN's payload; a kernel that wrote nothing differs from its twin.
TEST(NumberRound, ComparisonCatchesAWrongKernel) {
  const int64_t n = 1000;
  const F x = fixed_inputs(n, 99, {-4, -128.f, 127.f});
  RoundStream st = round_stream_key(1, 2, 3);
  F y(x.size());
  round_fixed(x.data(), y.data(), n, -4, -128.f, 127.f, RoundMode::kStochastic, st);
  F want(x.size());
  round_fixed_ref(x.data(), want.data(), n, -4, -128.f, 127.f, RoundMode::kStochastic, st);
  ASSERT_EQ(first_bit_diff(y, want), "");
  for (int64_t i : {int64_t{0}, int64_t{17}, n - 1})
    for (int bit : {0, 22, 31}) {
      F wrong = y;
      wrong[static_cast<size_t>(i)] = from_bits(bits_of(wrong[static_cast<size_t>(i)]) ^ (1u << bit));
      const std::string diff = first_bit_diff(wrong, want);
      EXPECT_NE(diff, "") << "bit " << bit << " of element " << i;
      EXPECT_NE(diff.find(cat("element ", i, ":")), std::string::npos) << diff;
    }
  const F zeros = {0.f, from_bits(0x7fc00000u)}, other = {-0.f, from_bits(0x7fc00001u)};
  EXPECT_NE(first_bit_diff(F{zeros[0]}, F{other[0]}), "");
  EXPECT_NE(first_bit_diff(F{zeros[1]}, F{other[1]}), "");
  EXPECT_EQ(first_bit_diff(F{zeros[1]}, F{zeros[1]}), "");  // NaN equals itself bitwise
  F untouched(x.size(), 0.f);
  EXPECT_NE(first_bit_diff(untouched, want), "");
  EXPECT_NE(first_bit_diff(F(x.size() - 1), want), "");
}

// ---------------------------------------------------------------------------------------
// The oracle: a format's values listed from its definition (in double), and for each input
// the neighbour each mode picks.

struct Value {
  double v;
  int64_t code;       // the integer significand (fixed: the code); parity decides ties to even
  bool beyond = false;  // minifloat: +-2^(emax+1), standing for overflow
};

// Fixed point: c * 2^s for the codes c in [qmin, qmax].
std::vector<Value> fixed_values(int s, int64_t qmin, int64_t qmax) {
  std::vector<Value> out;
  for (int64_t c = qmin; c <= qmax; ++c) out.push_back({std::ldexp(static_cast<double>(c), s), c});
  return out;
}

// Minifloat: 0; subnormals k 2^(emin - man), k = 1 .. 2^man - 1; normals m 2^(e - man),
// m = 2^man .. 2^(man+1) - 1, e = emin .. emax; both signs; and +-2^(emax+1) (code 2^man)
// standing for what lies beyond the largest finite value.
std::vector<Value> minifloat_values(int man, int emin, int emax) {
  std::vector<Value> pos;
  const int64_t one = int64_t{1} << man;
  for (int64_t k = 1; k < one; ++k) pos.push_back({std::ldexp(static_cast<double>(k), emin - man), k});
  for (int e = emin; e <= emax; ++e)
    for (int64_t m = one; m < 2 * one; ++m) pos.push_back({std::ldexp(static_cast<double>(m), e - man), m});
  pos.push_back({std::ldexp(1.0, emax + 1), one, true});
  std::vector<Value> out;
  for (auto it = pos.rbegin(); it != pos.rend(); ++it) out.push_back({-it->v, it->code, it->beyond});
  out.push_back({0.0, 0});
  out.insert(out.end(), pos.begin(), pos.end());
  return out;
}

// The values in the set and around each gap between neighbours: the neighbours, the
// midpoint and the floats next to it, eighths of the gap, the floats next to each value;
// beyond the ends: a fraction of a gap, a gap and a half, far, the largest float, inf.
F oracle_inputs(const std::vector<Value>& vals) {
  F out;
  auto add = [&](double d) {
    const float f = static_cast<float>(d);
    if (static_cast<double>(f) != d && std::isfinite(d)) return;  // not a float: skip
    out.push_back(f);
    out.push_back(std::nextafter(f, HUGE_VALF));
    out.push_back(std::nextafter(f, -HUGE_VALF));
  };
  for (size_t i = 0; i + 1 < vals.size(); ++i) {
    const double lo = vals[i].v, hi = vals[i + 1].v;
    for (int k = 0; k <= 8; ++k) add(lo + (hi - lo) * k / 8);
  }
  const double top = vals.back().v, gap = top - vals[vals.size() - 2].v;
  for (double d : {top + gap / 4, top + gap / 2, top + gap, top + 1.5 * gap, 3 * top, 1e30, double{FLT_MAX}}) {
    add(d);
    add(-d);
  }
  const double bottom = vals.front().v, bgap = vals[1].v - bottom;
  for (double d : {bottom - bgap / 4, bottom - bgap / 2, bottom - bgap, bottom - 1.5 * bgap, 3 * bottom - 1}) add(d);
  out.push_back(HUGE_VALF);
  out.push_back(-HUGE_VALF);
  out.push_back(0.f);
  out.push_back(-0.f);
  return out;
}

// What the mode must give for x (finite, within the contract: 0 or |x| >= 2^-126): the value
// itself, or one of its two neighbours lo < x < hi; outside the set, the end. `map` turns the
// chosen Value into the float result (minifloat: overflow). For kStochastic both
// candidates are returned (want, alt); otherwise alt == want.
template <class Map>
std::pair<float, float> oracle(const std::vector<Value>& vals, double x, RoundMode mode, Map map) {
  auto it = std::lower_bound(vals.begin(), vals.end(), x, [](const Value& a, double b) { return a.v < b; });
  if (it != vals.end() && it->v == x) return {map(*it), map(*it)};
  if (it == vals.end()) return {map(vals.back()), map(vals.back())};
  if (it == vals.begin()) return {map(vals.front()), map(vals.front())};
  const Value& hi = *it;
  const Value& lo = *(it - 1);
  const double mid = (lo.v + hi.v) / 2;  // exact
  const Value* pick = nullptr;
  switch (mode) {
    case RoundMode::kNearestEven:
      pick = x < mid ? &lo : x > mid ? &hi : (lo.code % 2 == 0 ? &lo : &hi);
      break;
    case RoundMode::kNearestUp: pick = x < mid ? &lo : &hi; break;
    case RoundMode::kNearestAway: pick = x < mid ? &lo : x > mid ? &hi : (mid > 0 ? &hi : &lo); break;
    case RoundMode::kTowardZero: pick = x > 0 ? &lo : &hi; break;
    case RoundMode::kStochastic: return {map(lo), map(hi)};
  }
  return {map(*pick), map(*pick)};
}

// Compares round(x) with the oracle for each mode; returns the number of inputs checked.
template <class Round, class Want>
int64_t check_against_oracle(const F& x, Round round, Want want, const std::string& what) {
  int failures = 0;
  for (RoundMode mode : kModes) {
    F y(x.size());
    RoundStream st = round_stream_key(5, 6, 7);
    round(x.data(), y.data(), static_cast<int64_t>(x.size()), mode, st);
    for (size_t i = 0; i < x.size(); ++i) {
      const std::pair<float, float> w = want(x[i], mode);
      const uint32_t got = bits_of(y[i]);
      // Zero results are +0; NaN stays the same NaN.
      const bool ok = got == bits_of(w.first + 0.f) || got == bits_of(w.second + 0.f) ||
                      (std::isnan(x[i]) && got == bits_of(x[i]));
      if (!ok && failures++ < 8)
        ADD_FAILURE() << what << " " << mode_name(mode) << ": x = " << show(x[i]) << " gave " << show(y[i])
                      << ", want " << show(w.first) << (w.first == w.second ? "" : " or " + show(w.second));
    }
  }
  return static_cast<int64_t>(x.size());
}

TEST(NumberRoundOracle, FixedPointRefsPickTheRightNeighbour) {
  ASSERT_TRUE(in_fp_contract());
  int64_t checked = 0;
  for (int wl = 4; wl <= 6; ++wl)
    for (int s : {-7, -2, 0, 3})
      for (int kind = 0; kind < 3; ++kind) {
        const int64_t half = int64_t{1} << (wl - 1);
        const int64_t qmin = kind == 0 ? -half : kind == 1 ? -(half - 1) : 0;
        const int64_t qmax = kind == 2 ? 2 * half - 1 : half - 1;
        const auto vals = fixed_values(s, qmin, qmax);
        F x = oracle_inputs(vals);
        x.push_back(std::numeric_limits<float>::quiet_NaN());
        const float fmin = static_cast<float>(qmin), fmax = static_cast<float>(qmax);
        auto want = [&](float v, RoundMode mode) -> std::pair<float, float> {
          if (std::isinf(v)) {
            const float end = static_cast<float>(std::ldexp(static_cast<double>(v > 0 ? qmax : qmin), s));
            return {end, end};
          }
          return oracle(vals, v, mode, [](const Value& a) { return static_cast<float>(a.v); });
        };
        const std::string what = cat("fixed wl=", wl, " s=", s, " [", qmin, ", ", qmax, "]");
        for (int dispatched = 0; dispatched < 2; ++dispatched)
          checked += check_against_oracle(
              x,
              [&](const float* a, float* b, int64_t n, RoundMode mode, RoundStream st) {
                (dispatched ? round_fixed : round_fixed_ref)(a, b, n, s, fmin, fmax, mode, st);
              },
              want, what + (dispatched ? " (dispatched)" : " (ref)"));
      }
  EXPECT_GT(checked, 10000);
}

TEST(NumberRoundOracle, MinifloatRefsPickTheRightNeighbour) {
  ASSERT_TRUE(in_fp_contract());
  struct Fmt {
    const char* name;
    int exp, man;
  };
  int64_t checked = 0;
  for (Fmt f : {Fmt{"float:3,2", 3, 2}, Fmt{"float:4,3", 4, 3}, Fmt{"float:5,2", 5, 2}, Fmt{"float:2,1", 2, 1}})
    for (bool ieee : {false, true}) {
      const int emax = (1 << (f.exp - 1)) - 1, emin = 1 - emax;
      const auto vals = minifloat_values(f.man, emin, emax);
      const double maxval = (2 - std::ldexp(1.0, -f.man)) * std::ldexp(1.0, emax);
      const F x = oracle_inputs(vals);
      auto want = [&](float v, RoundMode mode) -> std::pair<float, float> {
        const float over = ieee && mode != RoundMode::kTowardZero ? HUGE_VALF : static_cast<float>(maxval);
        if (std::isinf(v)) {
          const float r = ieee ? HUGE_VALF : static_cast<float>(maxval);
          return {std::copysign(r, v), std::copysign(r, v)};
        }
        return oracle(vals, v, mode, [&](const Value& a) {
          return a.beyond ? std::copysign(over, static_cast<float>(a.v)) : static_cast<float>(a.v);
        });
      };
      const std::string what = cat(f.name, ieee ? ":ieee" : "", " (man ", f.man, ", e ", emin, "..", emax, ")");
      for (int dispatched = 0; dispatched < 2; ++dispatched)
        checked += check_against_oracle(
            x,
            [&](const float* a, float* b, int64_t n, RoundMode mode, RoundStream st) {
              (dispatched ? round_minifloat : round_minifloat_ref)(a, b, n, f.man, emin, emax, ieee, mode, st);
            },
            want, what + (dispatched ? " (dispatched)" : " (ref)"));
    }
  EXPECT_GT(checked, 10000);
}

// The case that the twin once got wrong: -(1/2 - 2^-25) steps is nearer 0 than -1 step, but
// r - floor(r) = 1 - (1/2 - 2^-25) rounds to 1/2 in float, a false tie.
TEST(NumberRoundOracle, NearestAwayJustAboveMinusHalf) {
  const float x[2] = {-0x1.fffffep-2f, -0x1.fffffep-6f};
  float y[2], z[2];
  round_fixed_ref(x, y, 1, 0, -8, 7, RoundMode::kNearestAway, {});
  round_fixed_ref(x + 1, y + 1, 1, -4, -8, 7, RoundMode::kNearestAway, {});
  round_fixed(x, z, 1, 0, -8, 7, RoundMode::kNearestAway, {});
  round_fixed(x + 1, z + 1, 1, -4, -8, 7, RoundMode::kNearestAway, {});
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(bits_of(y[i]), 0u) << show(y[i]);
    EXPECT_EQ(bits_of(z[i]), 0u) << show(z[i]);
  }
}

// Stochastic rounding goes up with probability d (to within the test's tolerance).
TEST(NumberRoundOracle, StochasticRoundsUpWithProbabilityOfTheFraction) {
  const int64_t n = 200000;
  for (double frac : {0.1, 0.5, 0.8125}) {
    for (double sign : {1.0, -1.0}) {
      const float v = static_cast<float>(sign * (3 + frac) * 0.25);  // step 2^-2
      F x(static_cast<size_t>(n), v), y(x.size());
      round_fixed(x.data(), y.data(), n, -2, -128.f, 127.f, RoundMode::kStochastic, round_stream_key(9, 8, 7));
      const float lo = static_cast<float>(std::floor(sign * (3 + frac)) * 0.25);
      int64_t up = 0;
      for (float r : y) {
        ASSERT_TRUE(r == lo || r == lo + 0.25f) << r;
        up += r != lo;
      }
      const double p = sign > 0 ? frac : 1 - frac;
      EXPECT_NEAR(static_cast<double>(up) / n, p, 0.005) << "x = " << v;
    }
  }
}

}  // namespace
}  // namespace lowbit::kernels
