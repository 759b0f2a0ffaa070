// Quantizer specs: the string a model config names a quantizer by ("binary", "dorefa:2",
// "int:8:signed:narrow:channel"...) parsed into a QuantSpec. make_quantizer()
// (quantizer.hpp) turns a spec into a stateful Quantizer; the element-wise math lives in
// one header per family. docs/QUANTIZERS.md has the formulas and sources.
//
// Valid forms (anything else is a lowbit::Error whose message lists them):
//   none                     identity
//   binary                   sign, sign(0) = +1; STE backward 1[|x| <= 1]
//   binary:approx            sign; ApproxSign backward (Bi-Real Net)
//   binary:swish[:B]         sign; SwishSign backward, beta = B (default 5, finite, > 0)
//   stochastic               +1 with probability hard_sigmoid(x) while training; sign in eval
//   xnor[:tensor]            sign times mean|W| per output channel (or per tensor); weights only
//   ternary[:T]              {-1, 0, +1}; threshold T, or 0.7 * mean|x| (TWN) when omitted
//   syq:binary|ternary[:G]   learned symmetric scales per G = layer (default), row or pixel; weights only
//   dorefa:k                 DoReFa, k in 1..8
//   int:k[:F...]             affine integer, k in 2..16; flags F: signed | unsigned (symmetric,
//                            zero point 0), narrow, channel (per output channel, weights only)
//   fixed:k,f                unsigned fixed point, k total bits in 2..16, f in 0..k; activations only
//   progressive[:V]          PBNN clip(v x, -1, 1), v raised log-uniformly 1 -> V (default 1000)
//   addnet:2|3|4             AddNet RCCM codebook of the 2-, 3- or 4-adder circuit; weights only
#pragma once
#include <optional>
#include <string>

namespace lowbit::quant {

enum class QuantKind {
  kNone,
  kBinary,       // sign + STE
  kApproxSign,   // sign + ApproxSign gradient
  kSwishSign,    // sign + SwishSign gradient
  kStochastic,   // stochastic sign + STE
  kXnor,         // sign * mean|W|
  kTernary,      // ternary + STE
  kSyq,          // binary/ternary * learned symmetric scales
  kDoReFa,       // DoReFa k-bit
  kInt,          // affine integer (Jacob et al.)
  kFixed,        // fixed:k,f activations
  kProgressive,  // PBNN clip(v x, -1, 1)
  kAddNet,       // RCCM codebook * learned lambda
};

// Scale granularity: xnor (tensor | channel), syq (layer | row | pixel), int (tensor | channel).
enum class Granularity { kTensor, kChannel, kRow, kPixel };

// int:k integer range: affine with a zero point, or symmetric (zero point 0).
enum class IntMode { kAffine, kSigned, kUnsigned };

struct QuantSpec {
  QuantKind kind = QuantKind::kNone;
  std::string name = "none";  // family: the text before the first ':'
  // Bits per quantized value: 1 (binary, stochastic, xnor, progressive, syq:binary),
  // 2 (ternary, syq:ternary), k (dorefa, int, fixed), log2 of the codebook (addnet: 4, 6, 8),
  // 32 for none.
  int bits = 32;
  int frac_bits = 0;                  // fixed: f
  bool fixed_signed = false;          // fixed:k,f:signed (two's complement, ap_fixed)
  float beta = 5.f;                   // binary:swish
  std::optional<float> threshold;     // ternary:T; empty = TWN 0.7 * mean|x|
  Granularity granularity = Granularity::kTensor;
  IntMode int_mode = IntMode::kAffine;  // int
  bool narrow = false;                  // int: drop the most negative code
  float vmax = 1000.f;                  // progressive: final v
  int adders = 0;                       // addnet: 2, 3 or 4

  // Canonical spec string; parse_quant_spec(s.str()) == s.
  std::string str() const;
  bool is_none() const { return kind == QuantKind::kNone; }
  // Forward is +-1 (in eval mode for stochastic and progressive), so export can pack bits.
  bool is_sign() const;
  // Families that only make sense on weights (a scale per output channel or a codebook).
  bool weights_only() const;
  // Families that only make sense on activations (fixed:k,f).
  bool activations_only() const { return kind == QuantKind::kFixed; }
  bool operator==(const QuantSpec&) const = default;
};

// One line listing every valid form (used in error messages and --help text).
const std::string& valid_quant_forms();

// Parses a spec string; throws lowbit::Error naming the spec and listing the valid forms.
QuantSpec parse_quant_spec(const std::string& s);

}  // namespace lowbit::quant
