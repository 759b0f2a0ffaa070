#include "lowbit/nn/builder.hpp"

#include <fnmatch.h>

#include <fstream>
#include <functional>
#include <map>
#include <set>

#include "lowbit/core/error.hpp"
#include "lowbit/core/file_io.hpp"
#include "lowbit/core/json_get.hpp"
#include "lowbit/nn/activations.hpp"
#include "lowbit/nn/batchnorm.hpp"
#include "lowbit/nn/conv2d.hpp"
#include "lowbit/nn/dense.hpp"
#include "lowbit/nn/dropout.hpp"
#include "lowbit/nn/flatten.hpp"
#include "lowbit/nn/limits.hpp"
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
  // Typed and range-checked (core/json_get.hpp): 10.5 is not an integer, "x" not a number.
  int64_t integer(const std::string& key, int64_t fallback, int64_t lo, int64_t hi) {
    used_.insert(key);
    return json_int_or(j_, key, fallback, lo, hi, where_);
  }
  int64_t require_integer(const std::string& key, int64_t lo, int64_t hi) {
    if (!j_.contains(key)) fail(where_, ": missing required key '", key, "'");
    return integer(key, 0, lo, hi);
  }
  float real(const std::string& key, float fallback, double lo, double hi) {
    used_.insert(key);
    return static_cast<float>(json_number_or(j_, key, fallback, lo, hi, where_));
  }
  bool flag(const std::string& key, bool fallback) {
    used_.insert(key);
    return json_bool_or(j_, key, fallback, where_);
  }
  std::string text(const std::string& key, const std::string& fallback) {
    used_.insert(key);
    return json_string_or(j_, key, fallback, where_);
  }
  // [h, w] from either an integer or a two-element array, each in [lo, hi].
  std::pair<int, int> pair(const std::string& key, int fallback, int64_t lo, int64_t hi) {
    used_.insert(key);
    if (!j_.contains(key)) return {fallback, fallback};
    const json& v = j_.at(key);
    const std::string what = cat(where_, ": '", key, "'");
    if (v.is_array() && v.size() == 2)
      return {static_cast<int>(json_int(v[0], lo, hi, what + "[0]")), static_cast<int>(json_int(v[1], lo, hi, what + "[1]"))};
    if (!v.is_number()) fail(what, " must be an integer or [h, w], got ", v.dump());
    const int x = static_cast<int>(json_int(v, lo, hi, what));
    return {x, x};
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
  // Top-level "init": the default initialiser of dense/conv2d layers.
  std::string init = "glorot_uniform";
  // Top-level "layer_weights": weight quantizers by layer-name glob, later entries winning
  // over earlier ones and over the layer's own "weight_quantizer".
  std::vector<std::pair<std::string, std::string>> layer_weights;
  // The name the layer being built will get (a leaf is named right after its factory).
  std::string pending;
  std::string next_name(const std::string& type) { return type + "_" + std::to_string(++counters[type]); }
  std::string peek_name(const std::string& type) { return type + "_" + std::to_string(counters[type] + 1); }
};

std::unique_ptr<Sequential> build_sequence(const json& layers, Shape& shape, BuildState& st, const std::string& where);

int64_t channels_of(const Shape& in, const Spec& s, const char* type) {
  if (in.size() != 3) fail(s.where(), ": ", type, " needs a [C, H, W] input, got ", shape_str(in));
  return in[0];
}

using Factory = std::function<LayerPtr(Spec&, const Shape&, BuildState&)>;

QuantConfig quant_config(Spec& s, const BuildState& st) {
  QuantConfig q;
  q.weights = s.text("weight_quantizer", st.weights);
  for (const auto& [glob, spec] : st.layer_weights)
    if (fnmatch(glob.c_str(), st.pending.c_str(), 0) == 0) q.weights = spec;
  q.input = s.text("input_quantizer", "none");
  q.weight_clip = s.real("weight_clip", -1.f, 0, 1e30);  // >= 0 when given (0 = no clipping)
  return q;
}

const std::map<std::string, Factory>& registry() {
  static const std::map<std::string, Factory> table = {
      {"dense",
       [](Spec& s, const Shape& in, BuildState& st) -> LayerPtr {
         return std::make_unique<Dense>(shape_numel(in), s.require_integer("units", 1, kMaxUnits), s.flag("bias", true),
                                        Init::parse(s.text("init", st.init)), quant_config(s, st));
       }},
      {"conv2d",
       [](Spec& s, const Shape& in, BuildState& st) -> LayerPtr {
         auto [kh, kw] = s.pair("kernel", 3, 1, kMaxWindow);
         auto [sh, sw] = s.pair("stride", 1, 1, kMaxWindow);
         auto [ph, pw] = s.pair("padding", 0, 0, kMaxWindow);
         auto conv = std::make_unique<Conv2d>(channels_of(in, s, "conv2d"), s.require_integer("filters", 1, kMaxUnits),
                                              kh, kw, sh, sw, ph, pw, s.flag("bias", true),
                                              Init::parse(s.text("init", st.init)),
                                              quant_config(s, st));
         const float pad_value = s.real("pad_value", 0.f, -1, 1);
         if (pad_value != 0.f && pad_value != 1.f && pad_value != -1.f)
           fail(s.where(), ": pad_value must be 0, -1 or +1, got ", pad_value);
         conv->set_pad_value(pad_value);
         return conv;
       }},
      {"batchnorm",
       [](Spec& s, const Shape& in, BuildState&) -> LayerPtr {
         if (in.size() != 1 && in.size() != 3)
           fail(s.where(), ": batchnorm needs [C] or [C, H, W] input, got ", shape_str(in));
         return std::make_unique<BatchNorm>(in[0], s.real("momentum", 0.1f, 0, 1), s.real("eps", 1e-5f, 1e-30, 1e30),
                                            s.flag("affine", true), s.flag("per_tensor", false));
       }},
      {"maxpool2d",
       [](Spec& s, const Shape& in, BuildState&) -> LayerPtr {
         const int k = static_cast<int>(s.integer("kernel", 2, 1, kMaxWindow));
         return std::make_unique<MaxPool2d>(k, static_cast<int>(s.integer("stride", k, 1, kMaxWindow)),
                                            static_cast<int>(s.integer("padding", 0, 0, kMaxWindow)));
       }},
      {"avgpool2d",
       [](Spec& s, const Shape& in, BuildState&) -> LayerPtr {
         const int k = static_cast<int>(s.integer("kernel", 2, 1, kMaxWindow));
         return std::make_unique<AvgPool2d>(k, static_cast<int>(s.integer("stride", k, 1, kMaxWindow)),
                                            static_cast<int>(s.integer("padding", 0, 0, kMaxWindow)));
       }},
      {"dropout",
       [](Spec& s, const Shape&, BuildState&) -> LayerPtr { return std::make_unique<Dropout>(s.real("rate", 0.5f, 0, 0.999)); }},
      {"relu", [](Spec&, const Shape&, BuildState&) -> LayerPtr { return std::make_unique<ReLU>(); }},
      {"hardtanh",
       [](Spec& s, const Shape&, BuildState&) -> LayerPtr {
         return std::make_unique<HardTanh>(s.real("min", -1.f, -1e30, 1e30), s.real("max", 1.f, -1e30, 1e30));
       }},
      {"flatten", [](Spec&, const Shape&, BuildState&) -> LayerPtr { return std::make_unique<Flatten>(); }},
      {"quant_act",
       [](Spec& s, const Shape&, BuildState& st) -> LayerPtr {
         if (!s.has("quantizer") && st.acts.empty())
           fail(s.where(), ": quant_act needs \"quantizer\" (e.g. \"binary\", \"dorefa:2\") or a top-level \"acts\"");
         return std::make_unique<QuantAct>(s.text("quantizer", st.acts));
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
  if (!layers.is_array() || layers.empty())
    fail(where, ": expected a non-empty array of layers, got ", layers.dump().substr(0, 40));
  auto seq = std::make_unique<Sequential>();
  for (size_t i = 0; i < layers.size(); ++i) {
    const json& lj = layers[i];
    std::string type = lj.is_object() && lj.contains("type") && lj["type"].is_string() ? lj["type"].get<std::string>() : "";
    std::string here = cat(where, "[", i, "]", type.empty() ? "" : " (" + type + ")");
    if (type.empty()) fail(here, ": missing \"type\"; valid types: ", join_types());
    auto it = registry().find(type);
    if (it == registry().end()) fail(here, ": unknown layer type '", type, "'; valid types: ", join_types());
    Spec spec(lj, here);
    st.pending = st.peek_name(type);
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
    double values = 1;  // in double: a product of huge dimensions must not wrap before the check
    for (int64_t d : shape) values *= static_cast<double>(d);
    LOWBIT_CHECK(values <= static_cast<double>(kMaxSampleValues), here, ": its output ", shape_str(shape), " has ",
                 values, " values per sample, more than ", kMaxSampleValues);
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
        it.key() != "acts" && it.key() != "init" && it.key() != "layer_weights")
      fail("topology: unknown key '", it.key(), "' (valid: name, input, layers, weights, acts, init, layer_weights)");
  if (!topology.contains("input")) fail("topology: missing \"input\" (per-sample shape, e.g. [1, 28, 28])");
  if (!topology.contains("layers")) fail("topology: missing \"layers\"");
  const Shape input = json_ints(topology, "input", 3, 1, kMaxUnits, "topology");
  LOWBIT_CHECK(input.size() == 1 || input.size() == 3, "topology: \"input\" must be [C, H, W] (images) or [F] (a "
               "vector of F values), got ", shape_str(input));
  int64_t values = 1;
  for (int64_t d : input) values *= d;  // at most 4 factors below 2^24: no overflow
  LOWBIT_CHECK(values <= kMaxSampleValues, "topology: \"input\" ", shape_str(input), " has ", values,
               " values per sample, more than ", kMaxSampleValues);
  const std::string name = json_string_or(topology, "name", "model", "topology");
  BuildState st;
  for (const char* key : {"weights", "acts"}) {
    if (!topology.contains(key)) continue;
    if (!topology.at(key).is_string()) fail("topology: \"", key, "\" must be a quantizer spec string");
    (std::string(key) == "weights" ? st.weights : st.acts) = topology.at(key).get<std::string>();
  }
  if (topology.contains("init")) {
    if (!topology.at("init").is_string()) fail("topology: \"init\" must be an initialiser spec string");
    st.init = topology.at("init").get<std::string>();
    (void)Init::parse(st.init);  // a bad default fails here, naming it
  }
  if (topology.contains("layer_weights")) {
    const json& lw = topology.at("layer_weights");
    if (!lw.is_array() || lw.size() > 4096)
      fail("topology: \"layer_weights\" must be an array of {\"match\": GLOB, \"weight_quantizer\": SPEC}");
    for (const json& e : lw) {
      if (!e.is_object() || e.size() != 2 || !e.contains("match") || !e.contains("weight_quantizer") ||
          !e.at("match").is_string() || !e.at("weight_quantizer").is_string())
        fail("topology: \"layer_weights\" entries are {\"match\": GLOB, \"weight_quantizer\": SPEC}, got ",
             e.dump().substr(0, 80));
      st.layer_weights.emplace_back(e.at("match").get<std::string>(), e.at("weight_quantizer").get<std::string>());
    }
  }
  Shape shape = input;
  auto net = build_sequence(topology.at("layers"), shape, st, "layers");
  auto model = std::make_unique<Model>(name, input, std::move(net));
  for (const auto& [glob, spec] : st.layer_weights) {
    bool any = false;
    std::string names;
    for (WeightedLayer* l : model->weighted_layers()) {
      any = any || fnmatch(glob.c_str(), l->name().c_str(), 0) == 0;
      names += (names.empty() ? "" : ", ") + l->name();
    }
    if (!any)
      fail("topology: \"layer_weights\" '", glob, "' matches no dense or conv2d layer (they are: ", names, ")");
  }
  return model;
}

json read_topology_file(const std::string& path) { return read_json_file(path); }

}  // namespace lowbit::nn
