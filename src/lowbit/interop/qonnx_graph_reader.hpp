// The importer's view of an ONNX graph (qonnx_import.hpp): its tensors by name, who makes
// and who reads each, the constants (initializers, Constant nodes, through Identity) decoded
// with every size range-checked before anything is allocated, and the nodes' attributes read
// with their types checked. Every error names the node ("import: node 'Quant_3' (Quant): ...").
// Internal to the importer.
#pragma once
#include <onnx/onnx_pb.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "lowbit/core/error.hpp"

namespace lowbit::interop::qonnx {

// Values of one constant tensor: at most this many (a layer's weights are at most 2^27 in the
// IR, format/limits.hpp), each dimension at most 2^31.
inline constexpr int64_t kMaxConstValues = int64_t{1} << 27;

// A constant tensor, its values as doubles (float32, float64 and every integer type up to
// 2^53 convert exactly), row-major.
struct ConstTensor {
  std::vector<int64_t> dims;  // empty: a scalar
  std::vector<double> values;
  int64_t numel() const { return static_cast<int64_t>(values.size()); }
  std::string shape_str() const;  // "[64, 1, 3, 3]", "scalar"
  // The dims without leading 1s (a [1, C] and a [C] constant are the same per-channel vector).
  std::vector<int64_t> squeezed_dims() const;
};

// "node 'Quant_3' (Quant)"; an unnamed node by its first output: "node #4 -> 'x12' (Quant)".
std::string node_label(const onnx::NodeProto& n);

// "import: node 'Relu_3' (Relu) is not supported: WHY".
template <class... Args>
[[noreturn]] void unsupported(const onnx::NodeProto& n, const Args&... why) {
  fail("import: ", node_label(n), " is not supported: ", why...);
}
// "import: node 'Quant_3' (Quant): WHAT" (a malformed node).
template <class... Args>
[[noreturn]] void bad_node(const onnx::NodeProto& n, const Args&... what) {
  fail("import: ", node_label(n), ": ", what...);
}

// Decodes a TensorProto (float, double and integer types; raw_data or the typed fields).
// `what` names it in errors. Refuses external data, unknown types, dimensions out of range
// and data whose size does not match the dimensions.
ConstTensor decode_tensor(const onnx::TensorProto& t, const std::string& what);

// Attributes, type-checked: a wrong type is an error naming the node and the attribute.
bool has_attr(const onnx::NodeProto& n, const std::string& name);
int64_t attr_int(const onnx::NodeProto& n, const std::string& name, int64_t dflt);
float attr_float(const onnx::NodeProto& n, const std::string& name, float dflt);
std::string attr_string(const onnx::NodeProto& n, const std::string& name, const std::string& dflt);
std::vector<int64_t> attr_ints(const onnx::NodeProto& n, const std::string& name, const std::vector<int64_t>& dflt);
// Every attribute of n must be one of `known` (an unknown one may change the meaning).
void check_attrs(const onnx::NodeProto& n, const std::vector<std::string>& known);

// The graph: the data input and output, the constants, producers and consumers by name.
class Graph {
 public:
  // Indexes the graph; checks a tensor has one producer, exactly one data input (graph inputs
  // that are not initializers) of float type and rank 2 or 4, and exactly one output.
  explicit Graph(const onnx::GraphProto& g);

  const onnx::GraphProto& proto() const { return g_; }
  const std::string& input_name() const { return input_; }
  // The data input's shape without the batch dimension ([C, H, W] or [features]); its batch
  // dimension must be 1 or symbolic.
  const std::vector<int64_t>& input_shape() const { return input_shape_; }
  const std::string& output_name() const { return output_; }

  // The node that makes tensor `name`, or null (an initializer, the input).
  const onnx::NodeProto* producer(const std::string& name) const;
  // The nodes that read tensor `name`, in graph order.
  std::vector<const onnx::NodeProto*> consumers(const std::string& name) const;
  // True when `name` is an initializer or a Constant node's output (through Identity nodes).
  bool is_constant(const std::string& name) const;
  // The constant `name`, read as input of node `user` (errors name that node). Cached.
  const ConstTensor& constant(const std::string& name, const onnx::NodeProto& user) const;
  // The FINN datatype annotation of a tensor (graph.quantization_annotation, key
  // "finn_datatype": "UINT8", "INT4", "BIPOLAR", ...), or "".
  std::string finn_datatype(const std::string& tensor) const;
  // Input i of node n as a constant; "" or a missing input is an error naming `role`.
  const ConstTensor& const_input(const onnx::NodeProto& n, int i, const std::string& role) const;
  // True when node n has a non-empty input i.
  static bool has_input(const onnx::NodeProto& n, int i) { return i < n.input_size() && !n.input(i).empty(); }

 private:
  const onnx::GraphProto& g_;
  std::string input_, output_;
  std::vector<int64_t> input_shape_;
  std::map<std::string, const onnx::TensorProto*> initializers_;
  std::map<std::string, const onnx::NodeProto*> producers_;
  std::map<std::string, std::vector<const onnx::NodeProto*>> consumers_;
  mutable std::map<std::string, ConstTensor> cache_;
};

}  // namespace lowbit::interop::qonnx
