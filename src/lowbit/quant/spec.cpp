#include "lowbit/quant/spec.hpp"

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

const char* granularity_name(Granularity g) {
  switch (g) {
    case Granularity::kTensor: return "tensor";
    case Granularity::kChannel: return "channel";
    case Granularity::kRow: return "row";
    case Granularity::kPixel: return "pixel";
  }
  return "?";
}

}  // namespace

const std::string& valid_quant_forms() {
  static const std::string forms =
      "none, binary, binary:approx, binary:swish, binary:swish:B (B > 0), stochastic, xnor, xnor:tensor, "
      "ternary, ternary:T (T >= 0), syq:binary|ternary[:layer|row|pixel], dorefa:k (k in 1..8), "
      "int:k[:signed|unsigned][:narrow][:channel] (k in 2..16), fixed:k,f[:signed] (k in 2..16, f in 0..k), "
      "progressive, progressive:V (V > 1), addnet:2|3|4";
  return forms;
}

bool QuantSpec::is_sign() const {
  switch (kind) {
    case QuantKind::kBinary:
    case QuantKind::kApproxSign:
    case QuantKind::kSwishSign:
    case QuantKind::kStochastic:
    case QuantKind::kProgressive: return true;
    case QuantKind::kDoReFa: return false;  // 1-bit DoReFa is {-1, +1} for weights only, {0, 1} for activations
    default: return false;
  }
}

bool QuantSpec::weights_only() const {
  return kind == QuantKind::kXnor || kind == QuantKind::kSyq || kind == QuantKind::kAddNet ||
         (kind == QuantKind::kInt && granularity == Granularity::kChannel);
}

std::string QuantSpec::str() const {
  switch (kind) {
    case QuantKind::kNone: return "none";
    case QuantKind::kBinary: return "binary";
    case QuantKind::kApproxSign: return "binary:approx";
    case QuantKind::kSwishSign: return beta == 5.f ? "binary:swish" : "binary:swish:" + float_str(beta);
    case QuantKind::kStochastic: return "stochastic";
    case QuantKind::kXnor: return granularity == Granularity::kTensor ? "xnor:tensor" : "xnor";
    case QuantKind::kTernary: return threshold ? "ternary:" + float_str(*threshold) : "ternary";
    case QuantKind::kSyq:
      return cat("syq:", bits == 1 ? "binary" : "ternary",
                 granularity == Granularity::kTensor ? "" : cat(":", granularity_name(granularity)));
    case QuantKind::kDoReFa: return cat("dorefa:", bits);
    case QuantKind::kInt: {
      std::string s = cat("int:", bits);
      if (int_mode == IntMode::kSigned) s += ":signed";
      if (int_mode == IntMode::kUnsigned) s += ":unsigned";
      if (narrow) s += ":narrow";
      if (granularity == Granularity::kChannel) s += ":channel";
      return s;
    }
    case QuantKind::kFixed: return cat("fixed:", bits, ",", frac_bits, fixed_signed ? ":signed" : "");
    case QuantKind::kProgressive: return vmax == 1000.f ? "progressive" : "progressive:" + float_str(vmax);
    case QuantKind::kAddNet: return cat("addnet:", adders);
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
  } else if (name == "xnor") {
    arity(1, 2);
    q.kind = QuantKind::kXnor;
    q.bits = 1;
    q.granularity = Granularity::kChannel;
    if (p.size() == 2) {
      if (p[1] != "tensor") bad(s, cat("unknown xnor variant '", p[1], "' (valid: tensor)"));
      q.granularity = Granularity::kTensor;
    }
  } else if (name == "ternary") {
    arity(1, 2);
    q.kind = QuantKind::kTernary;
    q.bits = 2;
    if (p.size() == 2) {
      float t = parse_float(s, p[1], "threshold");
      if (t < 0.f) bad(s, "threshold must be >= 0");
      q.threshold = t;
    }
  } else if (name == "syq") {
    arity(2, 3);
    q.kind = QuantKind::kSyq;
    if (p[1] == "binary") q.bits = 1;
    else if (p[1] == "ternary") q.bits = 2;
    else bad(s, cat("syq needs 'binary' or 'ternary', got '", p[1], "'"));
    if (p.size() == 3) {
      if (p[2] == "layer") q.granularity = Granularity::kTensor;
      else if (p[2] == "row") q.granularity = Granularity::kRow;
      else if (p[2] == "pixel") q.granularity = Granularity::kPixel;
      else bad(s, cat("unknown syq granularity '", p[2], "' (valid: layer, row, pixel)"));
    }
  } else if (name == "dorefa") {
    arity(2, 2);
    q.kind = QuantKind::kDoReFa;
    q.bits = parse_int(s, p[1], "bits", 1, 8);
  } else if (name == "int") {
    arity(2, 5);
    q.kind = QuantKind::kInt;
    q.bits = parse_int(s, p[1], "bits", 2, 16);
    bool mode_set = false;
    for (size_t i = 2; i < p.size(); ++i) {
      const std::string& f = p[i];
      if (f == "signed" || f == "unsigned") {
        if (mode_set) bad(s, "give at most one of signed / unsigned");
        mode_set = true;
        q.int_mode = f == "signed" ? IntMode::kSigned : IntMode::kUnsigned;
      } else if (f == "narrow") {
        if (q.narrow) bad(s, "flag 'narrow' given twice");
        q.narrow = true;
      } else if (f == "channel") {
        if (q.granularity == Granularity::kChannel) bad(s, "flag 'channel' given twice");
        q.granularity = Granularity::kChannel;
      } else {
        bad(s, cat("unknown int flag '", f, "' (valid: signed, unsigned, narrow, channel)"));
      }
    }
  } else if (name == "fixed") {
    arity(2, 3);
    q.kind = QuantKind::kFixed;
    std::vector<std::string> kf = split(p[1], ',');
    if (kf.size() != 2) bad(s, "fixed needs 'k,f' (total bits, fraction bits)");
    q.bits = parse_int(s, kf[0], "total bits", 2, 16);
    q.frac_bits = parse_int(s, kf[1], "fraction bits", 0, q.bits);
    if (p.size() == 3) {
      if (p[2] != "signed") bad(s, cat("unknown fixed flag '", p[2], "' (valid: signed)"));
      q.fixed_signed = true;
    }
  } else if (name == "progressive") {
    arity(1, 2);
    q.kind = QuantKind::kProgressive;
    q.bits = 1;
    if (p.size() == 2) {
      q.vmax = parse_float(s, p[1], "final scale V");
      if (!(q.vmax > 1.f)) bad(s, "final scale V must be > 1");
    }
  } else if (name == "addnet") {
    arity(2, 2);
    q.kind = QuantKind::kAddNet;
    q.adders = parse_int(s, p[1], "adders", 2, 4);
    q.bits = 2 * q.adders;  // select-signal width w_s of the RCCM (thesis Table 6.1)
  } else {
    bad(s, cat("unknown quantizer '", name, "'"));
  }
  return q;
}

}  // namespace lowbit::quant
