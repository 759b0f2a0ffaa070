#include "lowbit/quant/pruning.hpp"

#include <fnmatch.h>

#include <charconv>
#include <cmath>

#include "lowbit/core/error.hpp"
#include "lowbit/core/json_get.hpp"

namespace lowbit::quant {

bool LayerValue::matches(const std::string& layer) const { return fnmatch(match.c_str(), layer.c_str(), 0) == 0; }

namespace {
float last_match(const std::vector<LayerValue>& values, const std::string& layer, float otherwise) {
  float v = otherwise;
  for (const LayerValue& lv : values)
    if (lv.matches(layer)) v = lv.value;
  return v;
}
}  // namespace

float SparsityConfig::quant_l2_of(const std::string& layer) const { return last_match(quant_l2_layers, layer, quant_l2); }

float SparsityConfig::prune_sigma_of(const std::string& layer) const {
  return last_match(prune_sigma_layers, layer, prune_sigma);
}

bool SparsityConfig::active() const {
  return quant_l2 != 0.f || !quant_l2_layers.empty() || prunes() || prune_sigma >= 0.f || !prune_sigma_layers.empty();
}

namespace {
nlohmann::json values_json(const std::vector<LayerValue>& values) {
  nlohmann::json a = nlohmann::json::array();
  for (const LayerValue& v : values) a.push_back({{"match", v.match}, {"value", v.value}});
  return a;
}

std::vector<LayerValue> values_from_json(const nlohmann::json& j, const char* key, const std::string& where) {
  std::vector<LayerValue> out;
  if (!j.contains(key)) return out;
  const nlohmann::json& a = j.at(key);
  const std::string w = cat(where, ": ", key);
  LOWBIT_CHECK(a.is_array() && a.size() <= 4096, w, ": expected an array of {\"match\", \"value\"} (at most 4096)");
  for (const nlohmann::json& e : a) {
    LOWBIT_CHECK(e.is_object(), w, ": expected {\"match\": GLOB, \"value\": V}, got ", e.dump());
    LayerValue v{json_string(e, "match", w), static_cast<float>(json_number(e, "value", 0, 1e30, w))};
    LOWBIT_CHECK(!v.match.empty(), w, ": empty 'match'");
    out.push_back(std::move(v));
  }
  return out;
}
}  // namespace

nlohmann::json to_json(const SparsityConfig& c) {
  return {{"quant_l2", c.quant_l2},
          {"quant_l2_layers", values_json(c.quant_l2_layers)},
          {"prune_after", c.prune_after},
          {"prune_sigma", c.prune_sigma},
          {"prune_sigma_layers", values_json(c.prune_sigma_layers)}};
}

SparsityConfig sparsity_from_json(const nlohmann::json& j, const std::string& where) {
  LOWBIT_CHECK(j.is_object(), where, ": expected an object, got ", j.dump().substr(0, 80));
  for (auto it = j.begin(); it != j.end(); ++it)
    LOWBIT_CHECK(it.key() == "quant_l2" || it.key() == "quant_l2_layers" || it.key() == "prune_after" ||
                     it.key() == "prune_sigma" || it.key() == "prune_sigma_layers",
                 where, ": unknown key '", it.key(),
                 "' (valid: quant_l2, quant_l2_layers, prune_after, prune_sigma, prune_sigma_layers)");
  SparsityConfig c;
  c.quant_l2 = static_cast<float>(json_number_or(j, "quant_l2", 0, 0, 1e30, where));
  c.quant_l2_layers = values_from_json(j, "quant_l2_layers", where);
  if (j.contains("prune_after")) c.prune_after = json_ints(j, "prune_after", 1000, 1, 1000000, where);
  for (size_t i = 1; i < c.prune_after.size(); ++i)
    LOWBIT_CHECK(c.prune_after[i] > c.prune_after[i - 1], where, ": prune_after must ascend");
  c.prune_sigma = static_cast<float>(json_number_or(j, "prune_sigma", -1, -1, 1e30, where));
  LOWBIT_CHECK(c.prune_sigma == -1.f || c.prune_sigma >= 0.f, where, ": prune_sigma must be -1 (eta) or >= 0");
  c.prune_sigma_layers = values_from_json(j, "prune_sigma_layers", where);
  return c;
}

LayerValue parse_layer_value(const std::string& text, const std::string& flag) {
  const size_t eq = text.rfind('=');
  if (eq == std::string::npos || eq == 0 || eq + 1 == text.size())
    usage_fail(flag, ": '", text, "' is not GLOB=VALUE (e.g. 'dense_*=0.5')");
  LayerValue lv{text.substr(0, eq), 0.f};
  const char* b = text.data() + eq + 1;
  const char* e = text.data() + text.size();
  auto r = std::from_chars(b, e, lv.value);
  if (r.ec != std::errc() || r.ptr != e || !std::isfinite(lv.value) || lv.value < 0.f)
    usage_fail(flag, ": the value in '", text, "' is not a finite number >= 0");
  return lv;
}

void add_quantized_l2(float* grad, const float* q, int64_t n, float lambda) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) grad[i] += lambda * q[i];
}

int64_t quantization_prune(float* w, float* mask, int64_t n, float sigma) {
  int64_t zeros = 0;
  for (int64_t i = 0; i < n; ++i) {
    if (!(std::fabs(w[i]) > sigma)) mask[i] = 0.f;
    if (mask[i] == 0.f) {
      w[i] = 0.f;
      ++zeros;
    }
  }
  return zeros;
}

std::vector<double> filter_msqe(const float* q, const float* w, int64_t filters, int64_t fan) {
  std::vector<double> out(static_cast<size_t>(filters), 0.0);
  for (int64_t f = 0; f < filters; ++f) {
    double s = 0;
    for (int64_t z = 0; z < fan; ++z) {
      const double d = static_cast<double>(q[f * fan + z]) - static_cast<double>(w[f * fan + z]);
      s += d * d;
    }
    out[static_cast<size_t>(f)] = fan ? s / static_cast<double>(fan) : 0.0;
  }
  return out;
}

std::vector<double> filter_magnitude(const float* w, int64_t filters, int64_t fan) {
  std::vector<double> out(static_cast<size_t>(filters), 0.0);
  for (int64_t f = 0; f < filters; ++f) {
    double s = 0;
    for (int64_t z = 0; z < fan; ++z) s += std::fabs(static_cast<double>(w[f * fan + z]));
    out[static_cast<size_t>(f)] = fan ? s / static_cast<double>(fan) : 0.0;
  }
  return out;
}

}  // namespace lowbit::quant
