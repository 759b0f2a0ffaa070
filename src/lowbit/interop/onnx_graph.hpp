// A thin builder over the ONNX project's own protobuf classes (Debian's libonnx-dev,
// onnx/onnx.proto): the writers in onnx_export.cpp add initializers, nodes, value_info and
// FINN's datatype annotations through it, so that the lowering reads as a list of nodes.
// Internal to interop/: no public header exposes onnx types.
//
// Every tensor is float32 unless said otherwise; dimension -1 stands for the symbolic
// batch `N` (standard ONNX), written as dim_param.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <onnx/onnx_pb.h>

namespace lowbit::interop {

// The QONNX custom-op domain FINN's frontend matches (qonnx/custom_op/general; FINN's
// `ConvertQONNXtoFINN`), version 1.
inline constexpr const char* kQonnxDomain = "qonnx.custom_op.general";

using Dims = std::vector<int64_t>;

// One node attribute: exactly one of the value kinds is used, chosen by the constructor.
struct Attr {
  std::string name;
  onnx::AttributeProto::AttributeType type;
  int64_t i = 0;
  float f = 0;
  std::string s;
  std::vector<int64_t> ints;
  static Attr integer(std::string n, int64_t v) { return {std::move(n), onnx::AttributeProto::INT, v, 0, {}, {}}; }
  static Attr real(std::string n, float v) { return {std::move(n), onnx::AttributeProto::FLOAT, 0, v, {}, {}}; }
  static Attr text(std::string n, std::string v) { return {std::move(n), onnx::AttributeProto::STRING, 0, 0, std::move(v), {}}; }
  static Attr integers(std::string n, std::vector<int64_t> v) {
    return {std::move(n), onnx::AttributeProto::INTS, 0, 0, {}, std::move(v)};
  }
};

class GraphBuilder {
 public:
  explicit GraphBuilder(onnx::GraphProto* graph) : g_(graph) {}

  // A float32 initializer of shape `dims` (row-major values); returns its name.
  std::string constant(const std::string& name, const Dims& dims, const std::vector<float>& values);
  std::string scalar(const std::string& name, float v) { return constant(name, {}, {v}); }
  // A uint8 initializer (integer operators' codes and zero points).
  std::string uint8_constant(const std::string& name, const Dims& dims, const std::vector<uint8_t>& values);
  // An int64 initializer (shapes and axes for Reshape, Pad, ReduceSum, Unsqueeze).
  std::string int64_constant(const std::string& name, const std::vector<int64_t>& values);
  // A node; its output `out` gets a value_info of `dims` and element type `elem`.
  std::string node(const std::string& op, const std::vector<std::string>& inputs, const std::string& out,
                   const Dims& dims, const std::vector<Attr>& attrs = {}, const std::string& domain = "",
                   int32_t elem = onnx::TensorProto::FLOAT);
  // FINN's datatype annotation of a tensor (graph.quantization_annotation, key
  // "finn_datatype"): "BIPOLAR", "UINT8", "INT12", "FLOAT32", ...
  void annotate(const std::string& tensor, const std::string& finn_datatype);

  void input(const std::string& name, const Dims& dims, int32_t elem = onnx::TensorProto::FLOAT);
  // Declares `name` a graph output: its value_info moves from value_info to output.
  void output(const std::string& name);

 private:
  static void set_type(onnx::ValueInfoProto* v, const Dims& dims, int32_t elem);
  onnx::GraphProto* g_;
};

}  // namespace lowbit::interop
