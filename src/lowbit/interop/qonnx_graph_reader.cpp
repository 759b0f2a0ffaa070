// The importer's view of an ONNX graph (qonnx_graph_reader.hpp).
#include "lowbit/interop/qonnx_graph_reader.hpp"

#include <cstring>
#include <set>

namespace lowbit::interop::qonnx {

std::string ConstTensor::shape_str() const {
  if (dims.empty()) return "scalar";
  std::string s = "[";
  for (size_t i = 0; i < dims.size(); ++i) s += (i ? ", " : "") + std::to_string(dims[i]);
  return s + "]";
}

std::vector<int64_t> ConstTensor::squeezed_dims() const {
  size_t i = 0;
  while (i < dims.size() && dims[i] == 1) ++i;
  return {dims.begin() + static_cast<std::ptrdiff_t>(i), dims.end()};
}

std::string node_label(const onnx::NodeProto& n) {
  if (!n.name().empty()) return cat("node '", n.name(), "' (", n.op_type(), ")");
  return cat("node -> '", n.output_size() ? n.output(0) : std::string("?"), "' (", n.op_type(), ")");
}

namespace {

// Bytes per element of the types decode_tensor reads from raw_data (0: not read).
size_t element_size(int type) {
  switch (type) {
    case onnx::TensorProto::FLOAT: case onnx::TensorProto::INT32: case onnx::TensorProto::UINT32: return 4;
    case onnx::TensorProto::DOUBLE: case onnx::TensorProto::INT64: return 8;
    case onnx::TensorProto::INT16: case onnx::TensorProto::UINT16: return 2;
    case onnx::TensorProto::INT8: case onnx::TensorProto::UINT8: case onnx::TensorProto::BOOL: return 1;
    default: return 0;
  }
}

template <class T>
void read_raw(const std::string& raw, std::vector<double>& out) {
  for (size_t i = 0; i < out.size(); ++i) {
    T v;
    std::memcpy(&v, raw.data() + i * sizeof(T), sizeof(T));  // ONNX raw_data is little-endian, as this host
    out[i] = static_cast<double>(v);
  }
}

}  // namespace

ConstTensor decode_tensor(const onnx::TensorProto& t, const std::string& what) {
  LOWBIT_CHECK(t.data_location() != onnx::TensorProto::EXTERNAL, what, ": its data is in an external file (",
               t.external_data_size() ? t.external_data(0).value() : std::string("?"),
               "); save the model with its weights inside it (onnx.save(..., save_as_external_data=False))");
  ConstTensor c;
  int64_t n = 1;
  for (int64_t d : t.dims()) {
    LOWBIT_CHECK(d >= 0 && d <= kMaxConstValues, what, ": dimension ", d, " outside 0..", kMaxConstValues);
    n *= d;
    LOWBIT_CHECK(n <= kMaxConstValues, what, ": more than ", kMaxConstValues, " values");
    c.dims.push_back(d);
  }
  const int type = t.data_type();
  const size_t es = element_size(type);
  LOWBIT_CHECK(es != 0, what, ": tensor data type ", type,
               " is not read (float, double and integer tensors are)");
  const auto un = static_cast<size_t>(n);
  c.values.resize(un);
  if (!t.raw_data().empty() || n == 0) {
    LOWBIT_CHECK(t.raw_data().size() == un * es, what, ": ", t.raw_data().size(), " bytes of data for ", n,
                 " values of ", es, " bytes (", c.shape_str(), ")");
    switch (type) {
      case onnx::TensorProto::FLOAT: read_raw<float>(t.raw_data(), c.values); break;
      case onnx::TensorProto::DOUBLE: read_raw<double>(t.raw_data(), c.values); break;
      case onnx::TensorProto::INT64: read_raw<int64_t>(t.raw_data(), c.values); break;
      case onnx::TensorProto::INT32: read_raw<int32_t>(t.raw_data(), c.values); break;
      case onnx::TensorProto::UINT32: read_raw<uint32_t>(t.raw_data(), c.values); break;
      case onnx::TensorProto::INT16: read_raw<int16_t>(t.raw_data(), c.values); break;
      case onnx::TensorProto::UINT16: read_raw<uint16_t>(t.raw_data(), c.values); break;
      case onnx::TensorProto::INT8: read_raw<int8_t>(t.raw_data(), c.values); break;
      default: read_raw<uint8_t>(t.raw_data(), c.values); break;  // UINT8, BOOL
    }
    return c;
  }
  auto take = [&](const auto& field, const char* name) {
    LOWBIT_CHECK(static_cast<size_t>(field.size()) == un, what, ": ", field.size(), " values in ", name, " for ",
                 c.shape_str());
    for (size_t i = 0; i < un; ++i) c.values[i] = static_cast<double>(field[static_cast<int>(i)]);
  };
  switch (type) {
    case onnx::TensorProto::FLOAT: take(t.float_data(), "float_data"); break;
    case onnx::TensorProto::DOUBLE: take(t.double_data(), "double_data"); break;
    case onnx::TensorProto::INT64: take(t.int64_data(), "int64_data"); break;
    case onnx::TensorProto::UINT32: take(t.uint64_data(), "uint64_data"); break;
    default: take(t.int32_data(), "int32_data"); break;  // INT32, INT16, INT8, UINT16, UINT8, BOOL
  }
  return c;
}

namespace {

const onnx::AttributeProto* find_attr(const onnx::NodeProto& n, const std::string& name) {
  for (const auto& a : n.attribute())
    if (a.name() == name) return &a;
  return nullptr;
}

void check_type(const onnx::NodeProto& n, const onnx::AttributeProto& a, onnx::AttributeProto::AttributeType t,
                const char* what) {
  // Files from before ONNX 1.2 may leave the type unset; the value field is then what counts.
  if (a.type() != onnx::AttributeProto::UNDEFINED && a.type() != t)
    bad_node(n, "attribute '", a.name(), "' must be ", what, " (its type is ", static_cast<int>(a.type()), ")");
}

}  // namespace

bool has_attr(const onnx::NodeProto& n, const std::string& name) { return find_attr(n, name) != nullptr; }

int64_t attr_int(const onnx::NodeProto& n, const std::string& name, int64_t dflt) {
  const auto* a = find_attr(n, name);
  if (!a) return dflt;
  check_type(n, *a, onnx::AttributeProto::INT, "an integer");
  return a->i();
}

float attr_float(const onnx::NodeProto& n, const std::string& name, float dflt) {
  const auto* a = find_attr(n, name);
  if (!a) return dflt;
  check_type(n, *a, onnx::AttributeProto::FLOAT, "a float");
  return a->f();
}

std::string attr_string(const onnx::NodeProto& n, const std::string& name, const std::string& dflt) {
  const auto* a = find_attr(n, name);
  if (!a) return dflt;
  check_type(n, *a, onnx::AttributeProto::STRING, "a string");
  return a->s();
}

std::vector<int64_t> attr_ints(const onnx::NodeProto& n, const std::string& name, const std::vector<int64_t>& dflt) {
  const auto* a = find_attr(n, name);
  if (!a) return dflt;
  check_type(n, *a, onnx::AttributeProto::INTS, "a list of integers");
  LOWBIT_CHECK(a->ints_size() <= 64, "import: ", node_label(n), ": attribute '", name, "' has ", a->ints_size(),
               " values");
  return {a->ints().begin(), a->ints().end()};
}

void check_attrs(const onnx::NodeProto& n, const std::vector<std::string>& known) {
  for (const auto& a : n.attribute()) {
    bool ok = false;
    for (const std::string& k : known) ok = ok || a.name() == k;
    if (!ok) unsupported(n, "attribute '", a.name(), "' is not read by lowbit's importer");
  }
}

Graph::Graph(const onnx::GraphProto& g) : g_(g) {
  for (const auto& t : g.initializer()) initializers_[t.name()] = &t;
  for (const auto& n : g.node()) {
    for (const std::string& out : n.output()) {
      if (out.empty()) continue;
      LOWBIT_CHECK(!producers_.count(out) && !initializers_.count(out), "import: tensor '", out,
                   "' is made twice (by ", node_label(n), " and another node or initializer): not a valid ONNX graph");
      producers_[out] = &n;
    }
    std::set<std::string> seen;  // a node reading one tensor twice is one consumer
    for (const std::string& in : n.input())
      if (!in.empty() && seen.insert(in).second) consumers_[in].push_back(&n);
  }
  std::vector<const onnx::ValueInfoProto*> inputs;
  for (const auto& in : g.input())
    if (!initializers_.count(in.name())) inputs.push_back(&in);
  LOWBIT_CHECK(inputs.size() == 1, "import: the graph has ", inputs.size(),
               " data inputs (inputs that are not initializers); lowbit imports a graph of one image input");
  const onnx::ValueInfoProto& in = *inputs[0];
  input_ = in.name();
  LOWBIT_CHECK(in.type().has_tensor_type(), "import: graph input '", input_, "' is not a tensor");
  const auto& tt = in.type().tensor_type();
  LOWBIT_CHECK(tt.elem_type() == onnx::TensorProto::FLOAT, "import: graph input '", input_, "' has element type ",
               tt.elem_type(), "; lowbit imports a float32 input (the pixels, or pixel * --input-scale + --input-bias)");
  LOWBIT_CHECK(tt.has_shape(), "import: graph input '", input_, "' has no shape; lowbit needs [N, C, H, W] or [N, F]");
  const auto& dims = tt.shape().dim();
  LOWBIT_CHECK(dims.size() == 4 || dims.size() == 2, "import: graph input '", input_, "' has rank ", dims.size(),
               "; lowbit imports [N, C, H, W] (images) or [N, F] (flat inputs)");
  const auto& batch = dims.Get(0);
  LOWBIT_CHECK(!batch.has_dim_value() || batch.dim_value() == 1, "import: graph input '", input_,
               "' has a fixed batch of ", batch.dim_value(), "; lowbit imports a batch of 1 or a symbolic batch");
  for (int i = 1; i < dims.size(); ++i) {
    const auto& d = dims.Get(i);
    LOWBIT_CHECK(d.has_dim_value() && d.dim_value() >= 1 && d.dim_value() <= (int64_t{1} << 16), "import: graph input '",
                 input_, "' dimension ", i, " must be a number in 1..65536",
                 d.has_dim_param() ? cat(", got '", d.dim_param(), "'") : d.has_dim_value() ? cat(", got ", d.dim_value()) : "");
    input_shape_.push_back(d.dim_value());
  }
  int64_t numel = 1;
  for (int64_t d : input_shape_) numel *= d;  // at most 2^48: no overflow
  LOWBIT_CHECK(numel <= (int64_t{1} << 24), "import: graph input '", input_, "' has ", numel,
               " values per image; lowbit's inputs have at most 2^24");
  LOWBIT_CHECK(g.output_size() == 1, "import: the graph has ", g.output_size(),
               " outputs; lowbit imports a graph whose one output is the class scores");
  output_ = g.output(0).name();
  LOWBIT_CHECK(producers_.count(output_), "import: the graph output '", output_, "' is made by no node");
}

const onnx::NodeProto* Graph::producer(const std::string& name) const {
  const auto it = producers_.find(name);
  return it == producers_.end() ? nullptr : it->second;
}

std::vector<const onnx::NodeProto*> Graph::consumers(const std::string& name) const {
  const auto it = consumers_.find(name);
  return it == consumers_.end() ? std::vector<const onnx::NodeProto*>{} : it->second;
}

bool Graph::is_constant(const std::string& name) const {
  std::string cur = name;
  for (int depth = 0; depth < 64; ++depth) {
    if (initializers_.count(cur)) return true;
    const onnx::NodeProto* p = producer(cur);
    if (!p) return false;
    if (p->op_type() == "Constant") return true;
    if (p->op_type() != "Identity" || p->input_size() < 1) return false;
    cur = p->input(0);
  }
  return false;
}

const ConstTensor& Graph::constant(const std::string& name, const onnx::NodeProto& user) const {
  if (const auto it = cache_.find(name); it != cache_.end()) return it->second;
  std::string cur = name;
  for (int depth = 0; depth < 64; ++depth) {
    if (const auto it = initializers_.find(cur); it != initializers_.end())
      return cache_[name] = decode_tensor(*it->second, cat("import: initializer '", cur, "'"));
    const onnx::NodeProto* p = producer(cur);
    if (!p) break;
    if (p->op_type() == "Constant") {
      const std::string what = cat("import: ", node_label(*p));
      LOWBIT_CHECK(p->attribute_size() == 1, what, ": a Constant needs exactly one value attribute");
      const onnx::AttributeProto& a = p->attribute(0);
      ConstTensor c;
      if (a.name() == "value") {
        c = decode_tensor(a.t(), what);
      } else if (a.name() == "value_float") {
        c.values = {a.f()};
      } else if (a.name() == "value_int") {
        c.values = {static_cast<double>(a.i())};
      } else if (a.name() == "value_floats" || a.name() == "value_ints") {
        const bool f = a.name() == "value_floats";
        const int64_t n = f ? a.floats_size() : a.ints_size();
        c.dims = {n};
        for (int64_t i = 0; i < n; ++i)
          c.values.push_back(f ? a.floats(static_cast<int>(i)) : static_cast<double>(a.ints(static_cast<int>(i))));
      } else {
        unsupported(*p, "a Constant's '", a.name(), "' (lowbit reads value, value_float(s), value_int(s))");
      }
      return cache_[name] = std::move(c);
    }
    if (p->op_type() != "Identity" || p->input_size() < 1) break;
    cur = p->input(0);
  }
  const onnx::NodeProto* p = producer(name);
  if (name == input_) bad_node(user, "input '", name, "' must be a constant but is the graph's input");
  if (p) bad_node(user, "input '", name, "' must be a constant (an initializer) but is computed by ", node_label(*p));
  bad_node(user, "input '", name, "' is neither an initializer nor made by a node");
}

std::string Graph::finn_datatype(const std::string& tensor) const {
  for (const auto& a : g_.quantization_annotation())
    if (a.tensor_name() == tensor)
      for (const auto& kv : a.quant_parameter_tensor_names())
        if (kv.key() == "finn_datatype") return kv.value();
  return "";
}

const ConstTensor& Graph::const_input(const onnx::NodeProto& n, int i, const std::string& role) const {
  if (!has_input(n, i)) bad_node(n, "its ", role, " input (input ", i, ") is missing");
  return constant(n.input(i), n);
}

}  // namespace lowbit::interop::qonnx
