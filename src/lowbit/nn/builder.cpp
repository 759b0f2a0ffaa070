#include "lowbit/nn/builder.hpp"

#include <fstream>
#include <functional>
#include <map>
#include <set>

#include "lowbit/core/error.hpp"
#include "lowbit/core/file_io.hpp"
#include "lowbit/nn/activations.hpp"
#include "lowbit/nn/batchnorm.hpp"
#include "lowbit/nn/conv2d.hpp"
#include "lowbit/nn/dense.hpp"
#include "lowbit/nn/dropout.hpp"
#include "lowbit/nn/flatten.hpp"
#include "lowbit/nn/pool.hpp"
#include "lowbit/nn/quant_act.hpp"

namespace lowbit::nn {

namespace {

// Reads typed values from one layer's JSON object and remembers which keys were used,
// so that unknown keys can be reported.
class Spec {
 public:
  Spec(const json& j, std::string where) : j_(j), where_(std::move(where)) {
    if (!j_.is_object()) fail(where_, ": expected a JSON object, got ", j_.dump());
  }
  template <class T>
  T get(const std::string& key, T fallback) {
    used_.insert(key);
    if (!j_.contains(key)) return fallback;
    try {
      return j_.at(key).get<T>();
    } catch (const json::exception&) {
      fail(where_, ": key '", key, "' has the wrong type (", j_.at(key).dump(), ")");
    }
  }
  template <class T>
  T require(const std::string& key) {
    if (!j_.contains(key)) fail(where_, ": missing required key '", key, "'");
    return get<T>(key, T{});
  }
  // [h, w] from either a number or a two-element array.
  std::pair<int, int> pair(const std::string& key, int fallback) {
    used_.insert(key);
    if (!j_.contains(key)) return {fallback, fallback};
    const json& v = j_.at(key);
    if (v.is_number_integer()) return {v.get<int>(), v.get<int>()};
    if (v.is_array() && v.size() == 2 && v[0].is_number_integer() && v[1].is_number_integer())
      return {v[0].get<int>(), v[1].get<int>()};
    fail(where_, ": key '", key, "' must be an integer or [h, w], got ", v.dump());
  }
  const json& raw(const std::string& key) {
    used_.insert(key);
    return j_.at(key);
  }
  bool has(const std::string& key) const { return j_.contains(key); }
  void check_all_used() const {
    for (auto it = j_.begin(); it != j_.end(); ++it)
      if (!used_.count(it.key())) fail(where_, ": unknown key '", it.key(), "'");
  }
  const std::string& where() const { return where_; }

 private:
  const json& j_;
  std::string where_;
  std::set<std::string> used_{"type"};
};

struct BuildState {
  std::map<std::string, int> counters;  // per type, for unique layer names
  // Top-level "weights" / "acts": defaults for layers that do not name their quantizers.
  std::string weights = "none";
  std::string acts;
  std::string next_name(const std::string& type) { return type + "_" + std::to_string(++counters[type]); }
};

std::unique_ptr<Sequential> build_sequence(const json& layers, Shape& shape, BuildState& st, const std::string& where);

int64_t channels_of(const Shape& in, const Spec& s, const char* type) {
  if (in.size() != 3) fail(s.where(), ": ", type, " needs a [C, H, W] input, got ", shape_str(in));
  return in[0];
}

using Factory = std::function<LayerPtr(Spec&, const Shape&, BuildState&)>;

QuantConfig quant_config(Spec& s, const BuildState& st) {
  QuantConfig q;
  q.weights = s.get<std::string>("weight_quantizer", st.weights);
  q.input = s.get<std::string>("input_quantizer", "none");
  q.weight_clip = s.get("weight_clip", -1.f);
  if (s.has("weight_clip") && !(q.weight_clip >= 0.f)) fail(s.where(), ": weight_clip must be >= 0 (0 = no clipping)");
  return q;
}

const std::map<std::string, Factory>& registry() {
  static const std::map<std::string, Factory> table = {
      {"dense",
       [](Spec& s, const Shape& in, BuildState& st) -> LayerPtr {
         return std::make_unique<Dense>(shape_numel(in), s.require<int64_t>("units"), s.get("bias", true),
                                        Init::parse(s.get<std::string>("init", "glorot_uniform")), quant_config(s, st));
       }},
      {"conv2d",
       [](Spec& s, const Shape& in, BuildState& st) -> LayerPtr {
         auto [kh, kw] = s.pair("kernel", 3);
         auto [sh, sw] = s.pair("stride", 1);
         auto [ph, pw] = s.pair("padding", 0);
         auto conv = std::make_unique<Conv2d>(channels_of(in, s, "conv2d"), s.require<int64_t>("filters"), kh, kw, sh,
                                              sw, ph, pw, s.get("bias", true),
                                              Init::parse(s.get<std::string>("init", "glorot_uniform")),
                                              quant_config(s, st));
         const float pad_value = s.get("pad_value", 0.f);
         if (pad_value != 0.f && pad_value != 1.f && pad_value != -1.f)
           fail(s.where(), ": pad_value must be 0, -1 or +1, got ", pad_value);
         conv->set_pad_value(pad_value);
         return conv;
       }},
      {"batchnorm",
       [](Spec& s, const Shape& in, BuildState&) -> LayerPtr {
         if (in.size() != 1 && in.size() != 3)
           fail(s.where(), ": batchnorm needs [C] or [C, H, W] input, got ", shape_str(in));
         return std::make_unique<BatchNorm>(in[0], s.get("momentum", 0.1f), s.get("eps", 1e-5f),
                                            s.get("affine", true));
       }},
      {"maxpool2d",
       [](Spec& s, const Shape& in, BuildState&) -> LayerPtr {
         int k = s.get("kernel", 2);
         return std::make_unique<MaxPool2d>(k, s.get("stride", k), s.get("padding", 0));
       }},
      {"avgpool2d",
       [](Spec& s, const Shape& in, BuildState&) -> LayerPtr {
         int k = s.get("kernel", 2);
         return std::make_unique<AvgPool2d>(k, s.get("stride", k), s.get("padding", 0));
       }},
      {"dropout",
       [](Spec& s, const Shape&, BuildState&) -> LayerPtr { return std::make_unique<Dropout>(s.get("rate", 0.5f)); }},
      {"relu", [](Spec&, const Shape&, BuildState&) -> LayerPtr { return std::make_unique<ReLU>(); }},
      {"hardtanh",
       [](Spec& s, const Shape&, BuildState&) -> LayerPtr {
         return std::make_unique<HardTanh>(s.get("min", -1.f), s.get("max", 1.f));
       }},
      {"flatten", [](Spec&, const Shape&, BuildState&) -> LayerPtr { return std::make_unique<Flatten>(); }},
      {"quant_act",
       [](Spec& s, const Shape&, BuildState& st) -> LayerPtr {
         if (!s.has("quantizer") && st.acts.empty())
           fail(s.where(), ": quant_act needs \"quantizer\" (e.g. \"binary\", \"dorefa:2\") or a top-level \"acts\"");
         return std::make_unique<QuantAct>(s.get<std::string>("quantizer", st.acts));
       }},
      {"residual",
       [](Spec& s, const Shape& in, BuildState& st) -> LayerPtr {
         Shape body_shape = in;
         auto body = build_sequence(s.raw("body"), body_shape, st, s.where() + ".body");
         std::unique_ptr<Sequential> shortcut;
         if (s.has("shortcut")) {
           Shape short_shape = in;
           shortcut = build_sequence(s.raw("shortcut"), short_shape, st, s.where() + ".shortcut");
         }
         return std::make_unique<Residual>(std::move(body), std::move(shortcut));
       }},
  };
  return table;
}

std::string join_types() {
  std::string all;
  for (const auto& t : layer_types()) all += (all.empty() ? "" : ", ") + t;
  return all;
}

std::unique_ptr<Sequential> build_sequence(const json& layers, Shape& shape, BuildState& st, const std::string& where) {
  if (!layers.is_array()) fail(where, ": expected an array of layers");
  auto seq = std::make_unique<Sequential>();
  for (size_t i = 0; i < layers.size(); ++i) {
    const json& lj = layers[i];
    std::string type = lj.is_object() && lj.contains("type") && lj["type"].is_string() ? lj["type"].get<std::string>() : "";
    std::string here = cat(where, "[", i, "]", type.empty() ? "" : " (" + type + ")");
    if (type.empty()) fail(here, ": missing \"type\"; valid types: ", join_types());
    auto it = registry().find(type);
    if (it == registry().end()) fail(here, ": unknown layer type '", type, "'; valid types: ", join_types());
    Spec spec(lj, here);
    LayerPtr layer;
    try {
      layer = it->second(spec, shape, st);
    } catch (const Error& e) {
      std::string msg = e.what();
      if (msg.rfind(here, 0) == 0) throw;
      fail(here, ": ", msg);
    }
    spec.check_all_used();
    layer->set_name(st.next_name(type));
    try {
      shape = layer->output_shape(shape);
    } catch (const Error& e) {
      fail(here, ": ", e.what());
    }
    seq->add(std::move(layer));
  }
  return seq;
}

}  // namespace

std::vector<std::string> layer_types() {
  std::vector<std::string> names;
  for (const auto& [k, v] : registry()) names.push_back(k);
  return names;
}

std::unique_ptr<Model> build_model(const json& topology) {
  if (!topology.is_object()) fail("topology: expected a JSON object");
  for (auto it = topology.begin(); it != topology.end(); ++it)
    if (it.key() != "name" && it.key() != "input" && it.key() != "layers" && it.key() != "weights" &&
        it.key() != "acts")
      fail("topology: unknown key '", it.key(), "' (valid: name, input, layers, weights, acts)");
  if (!topology.contains("input")) fail("topology: missing \"input\" (per-sample shape, e.g. [1, 28, 28])");
  if (!topology.contains("layers")) fail("topology: missing \"layers\"");
  Shape input;
  try {
    input = topology.at("input").get<Shape>();
  } catch (const json::exception&) {
    fail("topology: \"input\" must be an array of positive integers, got ", topology.at("input").dump());
  }
  LOWBIT_CHECK(!input.empty(), "topology: \"input\" must not be empty");
  for (int64_t d : input) LOWBIT_CHECK(d > 0, "topology: \"input\" dimensions must be positive, got ", shape_str(input));
  std::string name = topology.value("name", std::string("model"));
  BuildState st;
  for (const char* key : {"weights", "acts"}) {
    if (!topology.contains(key)) continue;
    if (!topology.at(key).is_string()) fail("topology: \"", key, "\" must be a quantizer spec string");
    (std::string(key) == "weights" ? st.weights : st.acts) = topology.at(key).get<std::string>();
  }
  Shape shape = input;
  auto net = build_sequence(topology.at("layers"), shape, st, "layers");
  return std::make_unique<Model>(name, input, std::move(net));
}

json read_topology_file(const std::string& path) {
  auto bytes = read_file(path);
  try {
    return json::parse(bytes.begin(), bytes.end());
  } catch (const json::parse_error& e) {
    fail(path, ": invalid JSON (", e.what(), ")");
  }
}

}  // namespace lowbit::nn
