#include "lowbit/quant/low_precision.hpp"

#include "lowbit/core/error.hpp"

namespace lowbit::quant {

namespace {
struct Field {
  const char* key;
  NumberFormat LowPrecisionConfig::*format;
};
constexpr Field kFields[] = {{"acts", &LowPrecisionConfig::acts},       {"errors", &LowPrecisionConfig::errors},
                             {"grads", &LowPrecisionConfig::grads},     {"weights", &LowPrecisionConfig::weights},
                             {"state", &LowPrecisionConfig::state}};
}  // namespace

bool LowPrecisionConfig::active() const {
  for (const Field& f : kFields)
    if ((this->*f.format).active()) return true;
  return accumulator;
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
  if (uses_default) s += cat(" rounding=", rounding_name(rounding));
  return s;
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
    bool known = key == "acc" || key == "rounding";
    for (const Field& f : kFields) known = known || key == f.key;
    LOWBIT_CHECK(known, where, ": unknown key 'low_precision.", key,
                 "' (acts, errors, grads, weights, state, acc, rounding)");
  }
  try {
    for (const Field& f : kFields)
      if (j.contains(f.key)) c.*f.format = parse_number_format(text(f.key));
    if (j.contains("acc") && text("acc") != "none") {
      c.accumulator = true;
      c.acc = parse_number_format(text("acc"));
    }
    if (j.contains("rounding")) c.rounding = parse_rounding(text("rounding"));
  } catch (const Error& e) {
    fail(where, ": low_precision: ", e.what());
  }
  return c;
}

}  // namespace lowbit::quant
