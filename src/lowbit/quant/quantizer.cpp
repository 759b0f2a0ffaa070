#include "lowbit/quant/quantizer.hpp"

#include <charconv>
#include <cmath>
#include <vector>

#include "lowbit/core/error.hpp"

namespace lowbit::quant {
namespace {

std::string float_str(float v) {
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, v);  // shortest round-trip form
  return std::string(buf, r.ptr);
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (true) {
    size_t p = s.find(sep, start);
    parts.push_back(s.substr(start, p == std::string::npos ? std::string::npos : p - start));
    if (p == std::string::npos) break;
    start = p + 1;
  }
  return parts;
}

[[noreturn]] void bad(const std::string& spec, const std::string& why) {
  fail("bad quantizer spec '", spec, "': ", why, "; valid forms: ", valid_quant_forms());
}

// Whole-token decimal integer in [lo, hi].
int parse_int(const std::string& spec, const std::string& tok, const char* what, int lo, int hi) {
  int v = 0;
  const char* b = tok.data();
  const char* e = b + tok.size();
  auto r = std::from_chars(b, e, v);
  if (tok.empty() || r.ec != std::errc() || r.ptr != e) bad(spec, cat(what, " '", tok, "' is not an integer"));
  if (v < lo || v > hi) bad(spec, cat(what, " ", v, " is outside ", lo, "..", hi));
  return v;
}

// Whole-token finite float.
float parse_float(const std::string& spec, const std::string& tok, const char* what) {
  float v = 0.f;
  const char* b = tok.data();
  const char* e = b + tok.size();
  auto r = std::from_chars(b, e, v);
  if (tok.empty() || r.ec != std::errc() || r.ptr != e || !std::isfinite(v))
    bad(spec, cat(what, " '", tok, "' is not a finite number"));
  return v;
}

}  // namespace

const std::string& valid_quant_forms() {
  static const std::string forms =
      "none, binary, binary:approx, binary:swish, binary:swish:B (B > 0), stochastic, ternary, "
      "ternary:T (T >= 0), dorefa:k (k in 1..8), fixed:k,f (k in 2..16, f in 0..k), int:k (k in 2..16)";
  return forms;
}

std::string QuantSpec::str() const {
  switch (kind) {
    case QuantKind::kNone: return "none";
    case QuantKind::kBinary: return "binary";
    case QuantKind::kApproxSign: return "binary:approx";
    case QuantKind::kSwishSign: return beta == 5.f ? "binary:swish" : "binary:swish:" + float_str(beta);
    case QuantKind::kStochastic: return "stochastic";
    case QuantKind::kTernary: return threshold ? "ternary:" + float_str(*threshold) : "ternary";
    case QuantKind::kDoReFa: return cat("dorefa:", bits);
    case QuantKind::kFixed: return cat("fixed:", bits, ",", frac_bits);
    case QuantKind::kInt: return cat("int:", bits);
  }
  return "?";
}

QuantSpec parse_quant_spec(const std::string& s) {
  std::vector<std::string> p = split(s, ':');
  const std::string& name = p[0];
  QuantSpec q;
  q.name = name;
  auto arity = [&](size_t lo, size_t hi) {
    if (p.size() < lo || p.size() > hi) bad(s, cat("wrong number of ':' fields for '", name, "'"));
  };
  if (name == "none") {
    arity(1, 1);
    q.kind = QuantKind::kNone;
  } else if (name == "binary") {
    arity(1, 3);
    q.bits = 1;
    if (p.size() == 1) {
      q.kind = QuantKind::kBinary;
    } else if (p[1] == "approx") {
      arity(2, 2);
      q.kind = QuantKind::kApproxSign;
    } else if (p[1] == "swish") {
      q.kind = QuantKind::kSwishSign;
      if (p.size() == 3) {
        q.beta = parse_float(s, p[2], "beta");
        if (!(q.beta > 0.f)) bad(s, "beta must be > 0");
      }
    } else {
      bad(s, cat("unknown binary variant '", p[1], "'"));
    }
  } else if (name == "stochastic") {
    arity(1, 1);
    q.kind = QuantKind::kStochastic;
    q.bits = 1;
  } else if (name == "ternary") {
    arity(1, 2);
    q.kind = QuantKind::kTernary;
    q.bits = 2;
    if (p.size() == 2) {
      float t = parse_float(s, p[1], "threshold");
      if (t < 0.f) bad(s, "threshold must be >= 0");
      q.threshold = t;
    }
  } else if (name == "dorefa") {
    arity(2, 2);
    q.kind = QuantKind::kDoReFa;
    q.bits = parse_int(s, p[1], "bits", 1, 8);
  } else if (name == "fixed") {
    arity(2, 2);
    q.kind = QuantKind::kFixed;
    std::vector<std::string> kf = split(p[1], ',');
    if (kf.size() != 2) bad(s, "fixed needs 'k,f' (total bits, fraction bits)");
    q.bits = parse_int(s, kf[0], "total bits", 2, 16);
    q.frac_bits = parse_int(s, kf[1], "fraction bits", 0, q.bits);
  } else if (name == "int") {
    arity(2, 2);
    q.kind = QuantKind::kInt;
    q.bits = parse_int(s, p[1], "bits", 2, 16);
  } else {
    bad(s, cat("unknown quantizer '", name, "'"));
  }
  return q;
}

}  // namespace lowbit::quant
