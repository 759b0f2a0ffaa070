// Quantizer specs: the string a model config names a quantizer by ("binary", "dorefa:2",
// "fixed:8,4"...) parsed into a QuantSpec. The element-wise forward / surrogate-gradient
// functions live in one header per family (binary.hpp, stochastic.hpp, ternary.hpp,
// dorefa.hpp, fixed.hpp); see docs/QUANTIZERS.md for the formulas and sources.
//
// Valid forms (anything else is a lowbit::Error whose message lists them):
//   none             identity
//   binary           sign, sign(0) = +1; STE backward 1[|x| <= 1]
//   binary:approx    sign; ApproxSign backward (Bi-Real Net)
//   binary:swish     sign; SwishSign backward, beta = 5
//   binary:swish:B   sign; SwishSign backward, beta = B (finite, > 0)
//   stochastic       stochastic sign with P(+1) = hard_sigmoid(x); STE backward
//   ternary          {-1, 0, +1}, TWN threshold 0.7 * mean|x|
//   ternary:T        {-1, 0, +1}, fixed threshold T (finite, >= 0)
//   dorefa:k         DoReFa, k in 1..8
//   fixed:k,f        unsigned fixed point, k total bits in 2..16, f fraction bits in 0..k
//   int:k            affine integer, k in 2..16 (parsed only; not implemented yet)
#pragma once
#include <optional>
#include <string>

namespace lowbit::quant {

enum class QuantKind {
  kNone,
  kBinary,      // sign + STE
  kApproxSign,  // sign + ApproxSign gradient
  kSwishSign,   // sign + SwishSign gradient
  kStochastic,  // stochastic sign + STE
  kTernary,     // TWN ternary + STE
  kDoReFa,      // DoReFa k-bit (weights or activations: the caller picks the function)
  kFixed,       // fixed:k,f activations
  kInt,         // int:k affine (parse-only for now)
};

struct QuantSpec {
  QuantKind kind = QuantKind::kNone;
  std::string name = "none";  // family: none, binary, stochastic, ternary, dorefa, fixed, int
  int bits = 0;               // dorefa/fixed/int: k; binary/stochastic: 1; ternary: 2; none: 0
  int frac_bits = 0;          // fixed: f
  float beta = 5.f;           // binary:swish
  std::optional<float> threshold;  // ternary:T; empty = TWN 0.7 * mean|x|

  // Canonical spec string; parse_quant_spec(s.str()) == s.
  std::string str() const;
  // False for forms that are parsed but have no forward/backward yet (int:k).
  bool implemented() const { return kind != QuantKind::kInt; }
  bool operator==(const QuantSpec&) const = default;
};

// One line listing every valid form (used in error messages and --help text).
const std::string& valid_quant_forms();

// Parses a spec string; throws lowbit::Error naming the spec and listing the valid forms.
QuantSpec parse_quant_spec(const std::string& s);

}  // namespace lowbit::quant
