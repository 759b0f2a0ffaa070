#include "lowbit/quant/number_format.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "lowbit/core/error.hpp"
#include "lowbit/core/parallel.hpp"

namespace lowbit::quant {

namespace {

const char* const kForms =
    "valid forms: fixed:WL,FL[:symmetric][:noclamp] (WL 2..24, FL -64..126), "
    "float:E,M[:ieee|:ext] (E 2..8, M 0..23; ext needs E < 8), bf16 (= float:8,7), fp16 (= float:5,10), "
    "bfp:WL[,AXIS] (WL 2..24, AXIS 0..7), float32; optionally followed by @ROUNDING";
const char* const kRoundings = "nearest, nearest-even, nearest-up, nearest-away, toward-zero, stochastic";

[[noreturn]] void bad(const std::string& spec, const std::string& why) {
  fail("number format '", spec, "': ", why, "; ", kForms);
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  size_t start = 0;
  for (;;) {
    const size_t p = s.find(sep, start);
    out.push_back(s.substr(start, p == std::string::npos ? std::string::npos : p - start));
    if (p == std::string::npos) return out;
    start = p + 1;
  }
}

int parse_int(const std::string& spec, const std::string& text, const char* what, int lo, int hi) {
  if (text.empty()) bad(spec, cat(what, " is missing"));
  if (text.find_first_not_of("-0123456789") != std::string::npos) bad(spec, cat(what, " '", text, "' is not an integer"));
  size_t used = 0;
  long v = 0;
  try {
    v = std::stol(text, &used, 10);
  } catch (const std::exception&) {
    bad(spec, cat(what, " '", text, "' is not an integer"));
  }
  if (used != text.size()) bad(spec, cat(what, " '", text, "' is not an integer"));
  if (v < lo || v > hi) bad(spec, cat(what, " ", v, " is outside ", lo, "..", hi));
  return static_cast<int>(v);
}

float pow2f(int e) { return std::ldexp(1.f, e); }

}  // namespace

Rounding parse_rounding(const std::string& name) {
  if (name == "nearest" || name == "nearest-even") return Rounding::kNearestEven;
  if (name == "nearest-up") return Rounding::kNearestUp;
  if (name == "nearest-away") return Rounding::kNearestAway;
  if (name == "toward-zero") return Rounding::kTowardZero;
  if (name == "stochastic") return Rounding::kStochastic;
  fail("unknown rounding '", name, "'; valid: ", kRoundings);
}

std::string rounding_name(Rounding r) {
  switch (r) {
    case Rounding::kNearestEven: return "nearest-even";
    case Rounding::kNearestUp: return "nearest-up";
    case Rounding::kNearestAway: return "nearest-away";
    case Rounding::kTowardZero: return "toward-zero";
    case Rounding::kStochastic: return "stochastic";
  }
  return "?";
}

NumberFormat parse_number_format(const std::string& spec) {
  NumberFormat f;
  std::string body = spec;
  const size_t at = spec.find('@');
  if (at != std::string::npos) {
    body = spec.substr(0, at);
    const std::string r = spec.substr(at + 1);
    try {
      f.rounding = parse_rounding(r);
    } catch (const Error& e) {
      bad(spec, e.what());
    }
    f.has_rounding = true;
  }
  if (body == "float32" || body == "none") {
    if (f.has_rounding) bad(spec, "float32 does not round");
    return f;
  }
  if (body == "bf16" || body == "bfloat16") body = "float:8,7";
  if (body == "fp16" || body == "half") body = "float:5,10";
  const std::vector<std::string> parts = split(body, ':');
  const std::string& kind = parts[0];
  if (parts.size() < 2) bad(spec, kind.empty() ? std::string("empty") : cat("'", kind, "' needs parameters"));
  const std::vector<std::string> nums = split(parts[1], ',');
  if (kind == "fixed") {
    if (nums.size() != 2) bad(spec, "fixed needs WL,FL");
    f.kind = NumberFormat::Kind::kFixed;
    f.wl = parse_int(spec, nums[0], "WL", 2, 24);
    f.fl = parse_int(spec, nums[1], "FL", -64, 126);
    for (size_t i = 2; i < parts.size(); ++i) {
      if (parts[i] == "symmetric") f.symmetric = true;
      else if (parts[i] == "noclamp") f.clamp = false;
      else bad(spec, cat("unknown fixed option '", parts[i], "' (symmetric, noclamp)"));
    }
  } else if (kind == "float") {
    if (nums.size() != 2) bad(spec, "float needs E,M");
    f.kind = NumberFormat::Kind::kFloat;
    f.exp = parse_int(spec, nums[0], "E", 2, 8);
    f.man = parse_int(spec, nums[1], "M", 0, 23);
    for (size_t i = 2; i < parts.size(); ++i) {
      if (parts[i] == "ieee") f.ieee = true;
      else if (parts[i] == "ext") f.extended = true;
      else bad(spec, cat("unknown float option '", parts[i], "' (ieee, ext)"));
    }
    if (f.ieee && f.extended) bad(spec, "ieee and ext exclude each other");
    if (f.extended && f.exp == 8) bad(spec, "ext with E = 8 exceeds float32's exponents");
  } else if (kind == "bfp") {
    if (nums.empty() || nums.size() > 2 || parts.size() != 2) bad(spec, "bfp needs WL or WL,AXIS");
    f.kind = NumberFormat::Kind::kBfp;
    f.wl = parse_int(spec, nums[0], "WL", 2, 24);
    if (nums.size() == 2) f.axis = parse_int(spec, nums[1], "AXIS", 0, 7);
  } else {
    bad(spec, cat("unknown kind '", kind, "'"));
  }
  return f;
}

std::string NumberFormat::str() const {
  std::string s;
  switch (kind) {
    case Kind::kFloat32: return "float32";
    case Kind::kFixed:
      s = cat("fixed:", wl, ",", fl);
      if (symmetric) s += ":symmetric";
      if (!clamp) s += ":noclamp";
      break;
    case Kind::kFloat:
      s = cat("float:", exp, ",", man);
      if (ieee) s += ":ieee";
      if (extended) s += ":ext";
      break;
    case Kind::kBfp:
      s = cat("bfp:", wl);
      if (axis >= 0) s += cat(",", axis);
      break;
  }
  if (has_rounding) {
    s += "@";
    s += rounding_name(rounding);
  }
  return s;
}

bool operator==(const NumberFormat& a, const NumberFormat& b) { return a.str() == b.str(); }

int NumberFormat::float_emin() const { return 1 - ((1 << (exp - 1)) - 1); }
int NumberFormat::float_emax() const {
  const int bias = (1 << (exp - 1)) - 1;
  return (1 << exp) - (extended ? 1 : 2) - bias;
}

float NumberFormat::max_value() const {
  if (kind == Kind::kFixed && clamp) return std::ldexp(static_cast<float>((1 << (wl - 1)) - 1), -fl);
  if (kind == Kind::kFloat) return (2.f - pow2f(-man)) * pow2f(float_emax());
  return std::numeric_limits<float>::infinity();
}

uint64_t site_id(const std::string& name) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : name) h = (h ^ c) * 0x100000001b3ull;
  return h;
}

namespace {

// The step exponent of a bfp block whose largest finite magnitude is m: floor(log2 m) - WL + 2
// (m = 0: any; the block's finite values are all 0).
int bfp_step(float m, int wl) {
  if (m == 0.f) return 0;
  uint32_t b;
  std::memcpy(&b, &m, sizeof b);
  const int e = static_cast<int>((b >> 23) & 0xFF) - 127;  // m is normal (FTZ/DAZ) and finite
  return e - wl + 2;
}

// Rounds x[0..n) of one block with a fixed step or a minifloat: `first` is x[0]'s element index.
void round_block(float* x, int64_t n, const NumberFormat& f, int s, Rounding mode, kernels::RoundStream stream,
                 int64_t first) {
  stream.first = static_cast<uint32_t>(first);
  if (f.kind == NumberFormat::Kind::kFloat) {
    kernels::round_minifloat(x, x, n, f.man, f.float_emin(), f.float_emax(), f.ieee, mode, stream);
    return;
  }
  float qmin, qmax;
  if (f.kind == NumberFormat::Kind::kFixed) {
    const float top = std::ldexp(1.f, f.wl - 1);
    qmin = !f.clamp ? -HUGE_VALF : f.symmetric ? 1.f - top : -top;
    qmax = !f.clamp ? HUGE_VALF : top - 1.f;
  } else {
    qmax = std::ldexp(1.f, f.wl - 1) - 1.f;
    qmin = -qmax;
  }
  kernels::round_fixed(x, x, n, s, qmin, qmax, mode, stream);
}

// Elements per parallel chunk: the stochastic bits come from element indices, so any chunking
// gives the same result; this only sets the grain.
constexpr int64_t kChunk = 1 << 14;

}  // namespace

float max_abs_finite_parallel(const float* x, int64_t n) {
  const int64_t chunks = (n + kChunk - 1) / kChunk;
  std::vector<float> maxima(static_cast<size_t>(chunks), 0.f);
  parallel_for(chunks, 1, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c)
      maxima[static_cast<size_t>(c)] = kernels::max_abs_finite(x + c * kChunk, std::min(kChunk, n - c * kChunk));
  }, n >= Grain::kArithmetic ? n : 0);
  float m = 0.f;
  for (float v : maxima) m = std::max(m, v);
  return m;
}

namespace {

// s of a format without per-element steps: fixed point's -FL, or the block's.
int grid_step(const NumberFormat& f, float block_max) {
  if (f.kind == NumberFormat::Kind::kFixed) return -f.fl;
  if (f.kind == NumberFormat::Kind::kBfp) return bfp_step(block_max, f.wl);
  return 0;
}

void round_flat(float* x, int64_t n, const NumberFormat& f, Rounding mode, const kernels::RoundStream& stream,
                float block_max) {
  const int s = grid_step(f, block_max);
  const int64_t chunks = (n + kChunk - 1) / kChunk;
  parallel_for(chunks, 1, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c)
      round_block(x + c * kChunk, std::min(kChunk, n - c * kChunk), f, s, mode, stream, c * kChunk);
  }, n >= Grain::kArithmetic ? n : 0);
}

void check_count(int64_t n, const NumberFormat& format, Rounding mode, const std::string& site) {
  LOWBIT_CHECK(mode != Rounding::kStochastic || n <= (int64_t{1} << 32), "number format ", format.str(), " at ", site,
               ": stochastic rounding numbers elements with 32 bits; ", n, " elements are too many");
}

}  // namespace

void round_values_given_max(float* x, int64_t n, const NumberFormat& format, Rounding rounding,
                            const RoundingSite& site, float block_max) {
  if (!format.active() || n == 0) return;
  LOWBIT_CHECK(std::isfinite(block_max) && block_max >= 0.f, "number format ", format.str(), " at ", site.name,
               ": block maximum ", block_max, " is not a finite magnitude");
  const Rounding mode = format.rounding_or(rounding);
  check_count(n, format, mode, site.name);
  const kernels::RoundStream stream = kernels::round_stream_key(site.seed, site.step, site_id(site.name));
  round_flat(x, n, format, mode, stream, block_max);
}

void round_values(float* x, int64_t n, const NumberFormat& format, Rounding rounding, const RoundingSite& site) {
  if (!format.active() || n == 0) return;
  const float m = format.kind == NumberFormat::Kind::kBfp ? max_abs_finite_parallel(x, n) : 0.f;
  round_values_given_max(x, n, format, rounding, site, m);
}

void round_slice(float* x, int64_t n, int64_t first, const NumberFormat& format, Rounding rounding,
                 const kernels::RoundStream& key, float block_max) {
  if (!format.active() || n == 0) return;
  LOWBIT_CHECK(sliceable(format), "number format ", format.str(), ": blocks along an axis are not slices");
  LOWBIT_CHECK(std::isfinite(block_max) && block_max >= 0.f, "number format ", format.str(), ": block maximum ",
               block_max, " is not a finite magnitude");
  const Rounding mode = format.rounding_or(rounding);
  check_count(first + n, format, mode, "a slice");
  round_block(x, n, format, grid_step(format, block_max), mode, key, first);
}

void round_tensor(Tensor& t, const NumberFormat& format, Rounding rounding, const RoundingSite& site) {
  if (!format.active() || t.size() == 0) return;
  if (format.kind != NumberFormat::Kind::kBfp || format.axis < 0 || format.axis >= t.rank()) {
    round_values(t.data(), t.size(), format, rounding, site);  // one block (also without dimension AXIS)
    return;
  }
  const int axis = format.axis;
  const Rounding mode = format.rounding_or(rounding);
  check_count(t.size(), format, mode, site.name);
  const kernels::RoundStream stream = kernels::round_stream_key(site.seed, site.step, site_id(site.name));
  int64_t outer = 1, inner = 1;
  for (int d = 0; d < axis; ++d) outer *= t.dim(d);
  for (int d = axis + 1; d < t.rank(); ++d) inner *= t.dim(d);
  const int64_t len = t.dim(axis);
  float* x = t.data();
  // One block per index a along the axis: the segments x[(o * len + a) * inner, + inner).
  parallel_for(len, 1, [&](int64_t a0, int64_t a1) {
    for (int64_t a = a0; a < a1; ++a) {
      float m = 0.f;
      for (int64_t o = 0; o < outer; ++o) m = std::max(m, kernels::max_abs_finite(x + (o * len + a) * inner, inner));
      const int s = bfp_step(m, format.wl);
      for (int64_t o = 0; o < outer; ++o) {
        const int64_t first = (o * len + a) * inner;
        round_block(x + first, inner, format, s, mode, stream, first);
      }
    }
  }, t.size() >= Grain::kArithmetic ? t.size() : 0);
}

}  // namespace lowbit::quant
