#include "lowbit/interop/onnx_check.hpp"

#include <onnx/checker.h>
#include <onnx/onnx_pb.h>
#include <onnx/shape_inference/implementation.h>

#include <cmath>
#include <cstring>
#include <map>
#include <regex>
#include <set>

#include "lowbit/core/error.hpp"
#include "lowbit/interop/onnx_graph.hpp"

namespace lowbit::interop {

namespace {

// FINN's datatype names (qonnx.core.datatype.DataType): the fixed ones, and INTk / UINTk.
bool finn_datatype_name(const std::string& s) {
  static const std::set<std::string> fixed = {"BIPOLAR", "BINARY", "TERNARY", "FLOAT32", "FLOAT16"};
  static const std::regex ints("U?INT([1-9][0-9]?)");
  std::smatch m;
  if (fixed.count(s)) return true;
  return std::regex_match(s, m, ints) && std::stoi(m[1]) <= 64;
}

// The float values of a constant initializer (FLOAT, raw or not), or nullopt.
const onnx::TensorProto* find_initializer(const onnx::GraphProto& g, const std::string& name) {
  for (const onnx::TensorProto& t : g.initializer())
    if (t.name() == name) return &t;
  return nullptr;
}

std::vector<float> float_values(const onnx::TensorProto& t) {
  std::vector<float> v;
  if (t.data_type() != onnx::TensorProto::FLOAT) return v;
  if (t.has_raw_data()) {
    v.resize(t.raw_data().size() / sizeof(float));
    std::memcpy(v.data(), t.raw_data().data(), v.size() * sizeof(float));
  } else {
    v.assign(t.float_data().begin(), t.float_data().end());
  }
  return v;
}

const onnx::AttributeProto* attribute(const onnx::NodeProto& n, const std::string& name) {
  for (const onnx::AttributeProto& a : n.attribute())
    if (a.name() == name) return &a;
  return nullptr;
}

class QonnxRules {
 public:
  QonnxRules(const onnx::ModelProto& m, std::vector<std::string>& problems) : m_(m), g_(m.graph()), p_(problems) {
    for (const onnx::TensorAnnotation& a : g_.quantization_annotation())
      for (const onnx::StringStringEntryProto& e : a.quant_parameter_tensor_names())
        if (e.key() == "finn_datatype") annotated_[a.tensor_name()] = e.value();
    for (const onnx::NodeProto& n : g_.node())
      for (const std::string& out : n.output()) producer_[out] = n.op_type();
  }

  void run() {
    for (const auto& [tensor, type] : annotated_)
      if (!finn_datatype_name(type)) p_.push_back(cat("tensor '", tensor, "': finn_datatype '", type, "' is no FINN datatype"));
    for (const onnx::ValueInfoProto& in : g_.input())
      if (!find_initializer(g_, in.name()) && !annotated_.count(in.name()))
        p_.push_back(cat("graph input '", in.name(), "' has no finn_datatype annotation"));
    std::set<std::string> typed;
    for (const onnx::ValueInfoProto& v : g_.value_info()) typed.insert(v.name());
    for (const onnx::ValueInfoProto& v : g_.output()) typed.insert(v.name());
    for (const onnx::NodeProto& n : g_.node()) {
      for (const std::string& out : n.output())
        if (!typed.count(out)) p_.push_back(cat(where(n), ": output '", out, "' has no value_info"));
      if (n.domain() == kQonnxDomain)
        custom(n);
      else if (custom_op(n.op_type()))
        p_.push_back(cat(where(n), ": ", n.op_type(), " must be in domain ", kQonnxDomain, ", not '", n.domain(), "'"));
    }
  }

 private:
  static bool custom_op(const std::string& op) {
    return op == "Quant" || op == "BipolarQuant" || op == "MultiThreshold" || op == "IntQuant" || op == "Trunc";
  }
  static std::string where(const onnx::NodeProto& n) { return cat("node '", n.name(), "' (", n.op_type(), ")"); }

  // The scalar constant of input k, or a problem.
  bool scalar_input(const onnx::NodeProto& n, int k, const char* what, float* v) {
    const onnx::TensorProto* t = k < n.input_size() ? find_initializer(g_, n.input(k)) : nullptr;
    std::vector<float> vals = t ? float_values(*t) : std::vector<float>{};
    if (vals.size() != 1) {
      p_.push_back(cat(where(n), ": ", what, " (input ", k, ") must be a float32 scalar constant"));
      return false;
    }
    *v = vals[0];
    return true;
  }

  void custom(const onnx::NodeProto& n) {
    const std::string& op = n.op_type();
    for (const std::string& out : n.output())
      if (!annotated_.count(out)) p_.push_back(cat(where(n), ": output '", out, "' has no finn_datatype annotation"));
    float v = 0;
    if (op == "BipolarQuant") {
      if (n.input_size() != 2) return p_.push_back(cat(where(n), ": needs 2 inputs (x, scale), has ", n.input_size()));
      if (scalar_input(n, 1, "scale", &v) && v != 1.0f)
        p_.push_back(cat(where(n), ": scale is ", v, "; FINN reads bipolar quantizers with scale 1.0 only"));
    } else if (op == "Quant") {
      if (n.input_size() != 4)
        return p_.push_back(cat(where(n), ": needs 4 inputs (x, scale, zeropt, bitwidth), has ", n.input_size()));
      if (scalar_input(n, 1, "scale", &v) && !(v > 0 && std::isfinite(v)))
        p_.push_back(cat(where(n), ": scale must be finite and positive, is ", v));
      if (scalar_input(n, 2, "zeropt", &v) && v != 0.0f) p_.push_back(cat(where(n), ": zero point must be 0, is ", v));
      if (scalar_input(n, 3, "bitwidth", &v) && !(v >= 1 && v <= 32 && v == std::floor(v)))
        p_.push_back(cat(where(n), ": bit width must be a whole number 1..32, is ", v));
      for (const char* a : {"signed", "narrow"}) {
        const onnx::AttributeProto* at = attribute(n, a);
        if (!at || at->type() != onnx::AttributeProto::INT || (at->i() != 0 && at->i() != 1))
          p_.push_back(cat(where(n), ": attribute '", a, "' must be an integer 0 or 1"));
      }
      // FINN's QuantIdentityHandler (every activation Quant not after a Relu) refuses
      // unsigned ones (finn/transformation/qonnx/qonnx_activation_handlers.py).
      const onnx::AttributeProto* sg = attribute(n, "signed");
      const auto pred = producer_.find(n.input(0));
      const bool activation = !find_initializer(g_, n.input(0));
      const bool after_relu = pred != producer_.end() && (pred->second == "Relu" || pred->second == "Selu");
      if (activation && !after_relu && sg && sg->i() == 0)
        p_.push_back(cat(where(n), ": an unsigned Quant in the activation path, not after a Relu; FINN converts "
                         "only signed ones"));
      const onnx::AttributeProto* r = attribute(n, "rounding_mode");
      if (!r || r->type() != onnx::AttributeProto::STRING || !(r->s() == "ROUND" || r->s() == "CEIL" || r->s() == "FLOOR"))
        p_.push_back(cat(where(n), ": attribute 'rounding_mode' must be ROUND, CEIL or FLOOR"));
    } else if (op == "MultiThreshold") {
      if (n.input_size() != 2) return p_.push_back(cat(where(n), ": needs 2 inputs (x, thresholds), has ", n.input_size()));
      const onnx::TensorProto* t = find_initializer(g_, n.input(1));
      if (!t || t->dims_size() != 2 || t->data_type() != onnx::TensorProto::FLOAT) {
        p_.push_back(cat(where(n), ": thresholds must be a float32 constant of shape [C, L]"));
      } else {
        std::vector<float> tv = float_values(*t);
        const int64_t rows = t->dims(0), cols = t->dims(1);
        if (static_cast<int64_t>(tv.size()) != rows * cols) {
          p_.push_back(cat(where(n), ": thresholds hold ", tv.size(), " values for [", rows, ", ", cols, "]"));
        } else {
          for (int64_t r = 0; r < rows; ++r)
            for (int64_t c = 1; c < cols; ++c)
              if (!(tv[static_cast<size_t>(r * cols + c)] >= tv[static_cast<size_t>(r * cols + c - 1)])) {
                p_.push_back(cat(where(n), ": thresholds of channel ", r, " do not ascend"));
                c = cols;
              }
        }
      }
      const onnx::AttributeProto* dt = attribute(n, "out_dtype");
      if (!dt || dt->type() != onnx::AttributeProto::STRING || !finn_datatype_name(dt->s()))
        p_.push_back(cat(where(n), ": attribute 'out_dtype' must name a FINN datatype"));
      const onnx::AttributeProto* layout = attribute(n, "data_layout");
      if (layout && !(layout->s() == "NCHW" || layout->s() == "NHWC" || layout->s() == "NC"))
        p_.push_back(cat(where(n), ": data_layout '", layout->s(), "' is not NCHW, NHWC or NC"));
    } else if (op == "IntQuant") {
      p_.push_back(cat(where(n), ": FINN's frontend matches 'Quant', not 'IntQuant'"));
    } else {
      p_.push_back(cat(where(n), ": no such operator in ", kQonnxDomain, " (Quant, BipolarQuant, MultiThreshold)"));
    }
  }

  const onnx::ModelProto& m_;
  const onnx::GraphProto& g_;
  std::vector<std::string>& p_;
  std::map<std::string, std::string> annotated_;
  std::map<std::string, std::string> producer_;  // tensor -> op type of the node writing it
};

}  // namespace

std::vector<std::string> onnx_problems(const std::string& bytes, OnnxDialect dialect) {
  std::vector<std::string> problems;
  onnx::ModelProto m;
  if (!m.ParseFromString(bytes)) return {"not an ONNX ModelProto (protobuf parse failed)"};
  try {
    onnx::checker::check_model(m);
    onnx::ModelProto inferred = m;
    onnx::shape_inference::InferShapes(inferred, onnx::OpSchemaRegistry::Instance(),
                                       onnx::ShapeInferenceOptions(/*check_type=*/true, /*strict=*/1));
  } catch (const std::exception& e) {
    problems.push_back(cat("ONNX checker: ", e.what()));
  }
  int64_t std_version = -1, qonnx_version = -1;
  for (const onnx::OperatorSetIdProto& o : m.opset_import()) {
    if (o.domain().empty() || o.domain() == "ai.onnx") std_version = o.version();
    if (o.domain() == kQonnxDomain) qonnx_version = o.version();
  }
  if (std_version < 13) problems.push_back(cat("the standard opset is ", std_version, "; opset 13 or later is needed"));
  if (dialect == OnnxDialect::kQonnx) {
    if (qonnx_version != 1) problems.push_back(cat("opset_import lacks ", kQonnxDomain, " version 1"));
    QonnxRules(m, problems).run();
  } else {
    for (const onnx::NodeProto& n : m.graph().node())
      if (!n.domain().empty() && n.domain() != "ai.onnx")
        problems.push_back(cat("node '", n.name(), "' (", n.op_type(), ") is in domain '", n.domain(),
                               "', not a standard operator"));
  }
  return problems;
}

void check_onnx(const std::string& bytes, OnnxDialect dialect, const std::string& what) {
  std::vector<std::string> problems = onnx_problems(bytes, dialect);
  if (problems.empty()) return;
  std::string all;
  for (const std::string& p : problems) all += (all.empty() ? "" : "; ") + p;
  fail(what, ": not a valid ", dialect_name(dialect), " file: ", all);
}

}  // namespace lowbit::interop
