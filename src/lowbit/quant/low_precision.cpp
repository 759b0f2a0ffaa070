#include "lowbit/quant/low_precision.hpp"

#include <fnmatch.h>

#include "lowbit/core/error.hpp"

namespace lowbit::quant {

namespace {
struct Field {
  const char* key;
  NumberFormat LowPrecisionConfig::*format;
  std::optional<NumberFormat> LayerNumerics::*override_format;
  Site site;
};
constexpr Field kFields[] = {
    {"acts", &LowPrecisionConfig::acts, &LayerNumerics::acts, Site::kActs},
    {"errors", &LowPrecisionConfig::errors, &LayerNumerics::errors, Site::kErrors},
    {"grads", &LowPrecisionConfig::grads, &LayerNumerics::grads, Site::kGrads},
    {"weights", &LowPrecisionConfig::weights, &LayerNumerics::weights, Site::kWeights},
    {"state", &LowPrecisionConfig::state, &LayerNumerics::state, Site::kState}};

const Field& field(Site site) {
  for (const Field& f : kFields)
    if (f.site == site) return f;
  fail("low precision: unknown site ", static_cast<int>(site));
}

// The field a flag or JSON key names; nullptr for none.
const Field* field_named(const std::string& key) {
  for (const Field& f : kFields)
    if (key == f.key) return &f;
  return nullptr;
}

const char* kSiteNames = "acts, errors, grads, weights, state";
}  // namespace

bool LayerNumerics::matches(const std::string& layer) const { return fnmatch(match.c_str(), layer.c_str(), 0) == 0; }

const std::optional<NumberFormat>& LayerNumerics::at(Site site) const { return this->*field(site).override_format; }

bool rounds_parameter(const std::string& param_name) { return param_name.find("quantizer.") == std::string::npos; }
std::string layer_of_parameter(const std::string& param_name) { return param_name.substr(0, param_name.find('.')); }

bool LowPrecisionConfig::active() const {
  for (const Field& f : kFields)
    if (rounds(f.site)) return true;
  return accumulator;
}

const NumberFormat& LowPrecisionConfig::model_wide(Site site) const { return this->*field(site).format; }

const NumberFormat& LowPrecisionConfig::format(Site site, const std::string& layer) const {
  for (auto it = layers.rbegin(); it != layers.rend(); ++it) {
    const std::optional<NumberFormat>& f = it->at(site);
    if (f && it->matches(layer)) return *f;
  }
  return model_wide(site);
}

bool LowPrecisionConfig::rounds(Site site) const {
  if (model_wide(site).active()) return true;
  for (const LayerNumerics& l : layers)
    if (l.at(site) && l.at(site)->active()) return true;
  return false;
}

void add_layer_override(LowPrecisionConfig& c, const std::string& spec) {
  const std::string form = " (PATTERN/SITE=FORMAT, e.g. dense_1/weights=fixed:16,14 or 'conv2d_*/acts=float32'; SITE: ";
  const size_t slash = spec.find('/'), eq = spec.find('=');
  LOWBIT_CHECK(slash != std::string::npos && eq != std::string::npos && slash < eq, "'", spec,
               "' is not a layer override", form, kSiteNames, ")");
  LayerNumerics l;
  l.match = spec.substr(0, slash);
  LOWBIT_CHECK(!l.match.empty(), "'", spec, "': empty layer pattern", form, kSiteNames, ")");
  const std::string site = spec.substr(slash + 1, eq - slash - 1);
  const Field* f = field_named(site);
  LOWBIT_CHECK(f != nullptr, "'", spec, "': unknown site '", site, "' (", kSiteNames,
               "; the accumulator --lp-acc is model-wide)");
  l.*f->override_format = parse_number_format(spec.substr(eq + 1));
  c.layers.push_back(std::move(l));
}

std::string LowPrecisionConfig::str() const {
  if (!active()) return "float32";
  std::string s;
  bool uses_default = false;
  auto add = [&](const char* key, const NumberFormat& nf) {
    if (!nf.active() && key != std::string("acc")) return;
    uses_default = uses_default || (nf.active() && !nf.has_rounding);
    s += cat(s.empty() ? "" : " ", key, "=", nf.str());
  };
  for (const Field& f : kFields) add(f.key, this->*f.format);
  if (accumulator) add("acc", acc);
  std::string overrides;
  for (const LayerNumerics& l : layers) {
    overrides += cat("; layer ", l.match, ":");
    for (const Field& f : kFields) {
      const std::optional<NumberFormat>& nf = l.*f.override_format;
      if (!nf) continue;
      uses_default = uses_default || (nf->active() && !nf->has_rounding);
      overrides += cat(" ", f.key, "=", nf->str());
    }
  }
  if (s.empty()) s = "float32";  // only overrides round
  if (uses_default) s += cat(" rounding=", rounding_name(rounding));
  return s + overrides;
}

nlohmann::json to_json(const LowPrecisionConfig& c) {
  // Canonical, so that --resume compares what rounds: every active format carries the
  // rounding it uses ("bfp:8@stochastic" whether it came from '@' or from the default), and
  // the default itself is not written (a rounding no format uses changes nothing).
  nlohmann::json j = nlohmann::json::object();
  auto canonical = [&](NumberFormat f) {
    if (f.active()) {
      f.rounding = f.rounding_or(c.rounding);
      f.has_rounding = true;
    }
    return f.str();
  };
  for (const Field& f : kFields) j[f.key] = canonical(c.*f.format);
  j["acc"] = c.accumulator ? canonical(c.acc) : "none";
  if (!c.layers.empty()) {
    nlohmann::json layers = nlohmann::json::array();
    for (const LayerNumerics& l : c.layers) {
      nlohmann::json o = {{"match", l.match}};
      for (const Field& f : kFields)
        if (const std::optional<NumberFormat>& nf = l.*f.override_format) o[f.key] = canonical(*nf);
      layers.push_back(o);
    }
    j["layers"] = layers;
  }
  return j;
}

LowPrecisionConfig low_precision_from_json(const nlohmann::json& j, const std::string& where) {
  LOWBIT_CHECK(j.is_object(), where, ": 'low_precision' must be an object");
  LowPrecisionConfig c;
  auto text = [&](const char* key) -> std::string {
    const nlohmann::json& v = j.at(key);
    LOWBIT_CHECK(v.is_string(), where, ": 'low_precision.", key, "' must be a string");
    return v.get<std::string>();
  };
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string& key = it.key();
    const bool known = key == "acc" || key == "rounding" || key == "layers" || field_named(key);
    LOWBIT_CHECK(known, where, ": unknown key 'low_precision.", key,
                 "' (acts, errors, grads, weights, state, acc, rounding, layers)");
  }
  try {
    for (const Field& f : kFields)
      if (j.contains(f.key)) c.*f.format = parse_number_format(text(f.key));
    if (j.contains("acc") && text("acc") != "none") {
      c.accumulator = true;
      c.acc = parse_number_format(text("acc"));
    }
    if (j.contains("rounding")) c.rounding = parse_rounding(text("rounding"));
    if (j.contains("layers")) {
      const nlohmann::json& layers = j.at("layers");
      LOWBIT_CHECK(layers.is_array(), "'layers' must be an array of {\"match\": PATTERN, SITE: FORMAT, ...}");
      for (size_t i = 0; i < layers.size(); ++i) {
        const nlohmann::json& o = layers[i];
        const std::string at = cat("layers[", i, "]");
        LOWBIT_CHECK(o.is_object() && o.contains("match") && o.at("match").is_string() &&
                         !o.at("match").get<std::string>().empty(),
                     at, " must be an object with a non-empty string \"match\" (a layer-name pattern)");
        LayerNumerics l;
        l.match = o.at("match").get<std::string>();
        for (auto it = o.begin(); it != o.end(); ++it) {
          if (it.key() == "match") continue;
          const Field* f = field_named(it.key());
          LOWBIT_CHECK(f != nullptr, at, ": unknown key '", it.key(), "' (match, ", kSiteNames,
                       "; the accumulator is model-wide)");
          LOWBIT_CHECK(it.value().is_string(), at, ".", it.key(), " must be a string");
          l.*f->override_format = parse_number_format(it.value().get<std::string>());
        }
        c.layers.push_back(std::move(l));
      }
    }
  } catch (const Error& e) {
    fail(where, ": low_precision: ", e.what());
  }
  return c;
}

}  // namespace lowbit::quant
