#include "lowbit/quant/quantizer.hpp"

#include "lowbit/core/error.hpp"
#include "lowbit/quant/addnet.hpp"
#include "lowbit/quant/int_affine.hpp"
#include "lowbit/quant/progressive.hpp"
#include "lowbit/quant/sign_quantizers.hpp"
#include "lowbit/quant/syq.hpp"
#include "lowbit/quant/uniform_quantizers.hpp"

namespace lowbit::quant {

const char* role_name(Role r) { return r == Role::kWeight ? "weights" : "activations"; }

std::unique_ptr<Quantizer> make_quantizer(const QuantSpec& spec, Role role) {
  if (spec.weights_only() && role != Role::kWeight)
    fail("quantizer '", spec.str(), "' is for weights only; activation quantizers: none, binary[:approx|:swish], "
         "stochastic, ternary:T, dorefa:k, int:k[:signed|unsigned][:narrow], fixed:k,f, progressive");
  switch (spec.kind) {
    case QuantKind::kNone: return nullptr;
    case QuantKind::kBinary:
    case QuantKind::kApproxSign:
    case QuantKind::kSwishSign: return std::make_unique<BinaryQuantizer>(spec, role);
    case QuantKind::kStochastic: return std::make_unique<StochasticQuantizer>(spec, role);
    case QuantKind::kXnor: return std::make_unique<XnorQuantizer>(spec, role);
    case QuantKind::kTernary: return std::make_unique<TernaryQuantizer>(spec, role);
    case QuantKind::kSyq: return std::make_unique<SyqQuantizer>(spec, role);
    case QuantKind::kDoReFa: return std::make_unique<DoReFaQuantizer>(spec, role);
    case QuantKind::kFixed: return std::make_unique<FixedQuantizer>(spec, role);
    case QuantKind::kProgressive: return std::make_unique<ProgressiveQuantizer>(spec, role);
    case QuantKind::kInt: return std::make_unique<IntQuantizer>(spec, role);
    case QuantKind::kAddNet: return std::make_unique<AddNetQuantizer>(spec, role);
  }
  fail("quantizer '", spec.str(), "': unknown kind");
}

std::unique_ptr<Quantizer> make_quantizer(const std::string& spec, Role role) {
  return make_quantizer(parse_quant_spec(spec), role);
}

}  // namespace lowbit::quant
