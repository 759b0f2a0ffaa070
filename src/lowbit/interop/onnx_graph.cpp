#include "lowbit/interop/onnx_graph.hpp"

#include "lowbit/core/error.hpp"

namespace lowbit::interop {

void GraphBuilder::set_type(onnx::ValueInfoProto* v, const Dims& dims, int32_t elem) {
  auto* t = v->mutable_type()->mutable_tensor_type();
  t->set_elem_type(elem);
  auto* shape = t->mutable_shape();
  for (int64_t d : dims) {
    if (d < 0)
      shape->add_dim()->set_dim_param("N");
    else
      shape->add_dim()->set_dim_value(d);
  }
}

std::string GraphBuilder::constant(const std::string& name, const Dims& dims, const std::vector<float>& values) {
  int64_t n = 1;
  for (int64_t d : dims) n *= d;
  LOWBIT_CHECK(n == static_cast<int64_t>(values.size()), "interop: constant '", name, "' has ", values.size(),
               " values for ", n, " elements");
  onnx::TensorProto* t = g_->add_initializer();
  t->set_name(name);
  t->set_data_type(onnx::TensorProto::FLOAT);
  for (int64_t d : dims) t->add_dims(d);
  // raw_data: little-endian float32, the compact form every reader accepts.
  t->set_raw_data(std::string(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(float)));
  return name;
}

std::string GraphBuilder::uint8_constant(const std::string& name, const Dims& dims, const std::vector<uint8_t>& values) {
  onnx::TensorProto* t = g_->add_initializer();
  t->set_name(name);
  t->set_data_type(onnx::TensorProto::UINT8);
  for (int64_t d : dims) t->add_dims(d);
  t->set_raw_data(std::string(reinterpret_cast<const char*>(values.data()), values.size()));
  return name;
}

std::string GraphBuilder::int64_constant(const std::string& name, const std::vector<int64_t>& values) {
  onnx::TensorProto* t = g_->add_initializer();
  t->set_name(name);
  t->set_data_type(onnx::TensorProto::INT64);
  t->add_dims(static_cast<int64_t>(values.size()));
  t->set_raw_data(std::string(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(int64_t)));
  return name;
}

std::string GraphBuilder::node(const std::string& op, const std::vector<std::string>& inputs, const std::string& out,
                               const Dims& dims, const std::vector<Attr>& attrs, const std::string& domain,
                               int32_t elem) {
  onnx::NodeProto* n = g_->add_node();
  n->set_op_type(op);
  n->set_name(out);  // one output per node: naming the node after it keeps error messages readable
  if (!domain.empty()) n->set_domain(domain);
  for (const std::string& in : inputs) n->add_input(in);
  n->add_output(out);
  for (const Attr& a : attrs) {
    onnx::AttributeProto* p = n->add_attribute();
    p->set_name(a.name);
    p->set_type(a.type);
    switch (a.type) {
      case onnx::AttributeProto::INT: p->set_i(a.i); break;
      case onnx::AttributeProto::FLOAT: p->set_f(a.f); break;
      case onnx::AttributeProto::STRING: p->set_s(a.s); break;
      case onnx::AttributeProto::INTS:
        for (int64_t v : a.ints) p->add_ints(v);
        break;
      default: fail("interop: attribute kind not used by the writers");
    }
  }
  onnx::ValueInfoProto* v = g_->add_value_info();
  v->set_name(out);
  set_type(v, dims, elem);
  return out;
}

void GraphBuilder::annotate(const std::string& tensor, const std::string& finn_datatype) {
  onnx::TensorAnnotation* a = g_->add_quantization_annotation();
  a->set_tensor_name(tensor);
  onnx::StringStringEntryProto* e = a->add_quant_parameter_tensor_names();
  e->set_key("finn_datatype");
  e->set_value(finn_datatype);
}

void GraphBuilder::input(const std::string& name, const Dims& dims, int32_t elem) {
  onnx::ValueInfoProto* v = g_->add_input();
  v->set_name(name);
  set_type(v, dims, elem);
}

void GraphBuilder::output(const std::string& name) {
  auto* infos = g_->mutable_value_info();
  for (int i = 0; i < infos->size(); ++i) {
    if (infos->Get(i).name() != name) continue;
    *g_->add_output() = infos->Get(i);
    infos->DeleteSubrange(i, 1);
    return;
  }
  fail("interop: graph output '", name, "' is no node's output");
}

}  // namespace lowbit::interop
