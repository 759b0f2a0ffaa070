// Typed, range-checked reads of values from JSON documents that come from outside the
// program: topology files, checkpoint metadata, the model description of a .lbm file.
// nlohmann::json's own get<int64_t>() truncates 10.5 to 10, wraps 18446744073709551615 to
// -1 and throws type errors that name no key; these check the type and the range before
// any size is used, and the error names the key and the bounds:
//
//   json_int(layer, "units", 1, kMaxUnits, "layers[2] (dense)")
//     -> "layers[2] (dense): 'units' must be an integer in 1..1048576, got 10.5"
//
// Header-only (only users that include it need nlohmann-json). Errors: lowbit::Error.
#pragma once
#include <cmath>
#include <cstdint>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "lowbit/core/error.hpp"
#include "lowbit/core/file_io.hpp"

namespace lowbit {

namespace json_detail {
inline std::string shown(const nlohmann::json& v) {
  std::string s = v.dump();
  return s.size() > 40 ? s.substr(0, 37) + "..." : s;
}
inline std::string key_name(std::string_view where, std::string_view key) {
  return cat(where, where.empty() ? "" : ": ", "'", key, "'");
}
}  // namespace json_detail

// Parses a JSON document a person wrote (a topology file), refusing what nlohmann accepts
// silently: a key given twice in one object ({"units": 10, "units": 20} kept the last).
// lowbit::Error naming `what` and the key or the syntax error.
inline nlohmann::json parse_json_strict(std::string_view text, std::string_view what) {
  using json = nlohmann::json;
  std::vector<std::vector<std::string>> keys;  // the keys seen so far in each open object
  std::string duplicate;
  auto callback = [&](int, json::parse_event_t event, json& parsed) {
    if (event == json::parse_event_t::object_start) keys.emplace_back();
    if (event == json::parse_event_t::object_end && !keys.empty()) keys.pop_back();
    if (event == json::parse_event_t::key && !keys.empty()) {
      const std::string k = parsed.get<std::string>();
      for (const std::string& seen : keys.back())
        if (seen == k && duplicate.empty()) duplicate = k;
      keys.back().push_back(k);
    }
    return true;
  };
  json j;
  try {
    j = json::parse(text.begin(), text.end(), callback);
  } catch (const json::parse_error& e) {
    fail(what, ": invalid JSON (", e.what(), ")");
  }
  if (!duplicate.empty()) fail(what, ": key '", duplicate, "' appears twice in one object (which one is meant?)");
  return j;
}

// parse_json_strict of a whole file (a topology, a folding, a device or a calibration
// file); errors name the path.
inline nlohmann::json read_json_file(const std::string& path) {
  const std::vector<uint8_t> bytes = read_file(path);
  return parse_json_strict(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()), path);
}

// An integer in [lo, hi]: a JSON integer (not 10.5, "10" or true) whose value fits.
inline int64_t json_int(const nlohmann::json& v, int64_t lo, int64_t hi, std::string_view what) {
  bool fits = false;
  if (v.is_number_unsigned()) {  // nlohmann stores every non-negative integer as unsigned
    const uint64_t u = v.get<uint64_t>();
    fits = hi >= 0 && u <= static_cast<uint64_t>(hi) && (lo <= 0 || u >= static_cast<uint64_t>(lo));
  } else if (v.is_number_integer()) {
    const int64_t x = v.get<int64_t>();
    fits = x >= lo && x <= hi;
  }
  if (!fits) fail(what, " must be an integer in ", lo, "..", hi, ", got ", json_detail::shown(v));
  return v.get<int64_t>();
}

// A finite number in [lo, hi] (integers are numbers too).
inline double json_number(const nlohmann::json& v, double lo, double hi, std::string_view what) {
  if (!v.is_number() || !std::isfinite(v.get<double>()) || v.get<double>() < lo || v.get<double>() > hi)
    fail(what, " must be a finite number in [", lo, ", ", hi, "], got ", json_detail::shown(v));
  return v.get<double>();
}

inline std::string json_string(const nlohmann::json& v, std::string_view what) {
  if (!v.is_string()) fail(what, " must be a string, got ", json_detail::shown(v));
  return v.get<std::string>();
}

inline bool json_bool(const nlohmann::json& v, std::string_view what) {
  if (!v.is_boolean()) fail(what, " must be true or false, got ", json_detail::shown(v));
  return v.get<bool>();
}

// The member `key` of object `obj` (an error naming `where` and the key when absent or
// when obj is not an object).
inline const nlohmann::json& json_member(const nlohmann::json& obj, std::string_view key, std::string_view where) {
  if (!obj.is_object()) fail(where, " must be a JSON object, got ", json_detail::shown(obj));
  auto it = obj.find(key);
  if (it == obj.end()) fail(where, ": missing key '", key, "'");
  return *it;
}

// Member forms: json_int(obj, "units", lo, hi, where); the optional ones return
// `fallback` when the key is absent.
inline int64_t json_int(const nlohmann::json& obj, std::string_view key, int64_t lo, int64_t hi,
                        std::string_view where) {
  return json_int(json_member(obj, key, where), lo, hi, json_detail::key_name(where, key));
}
inline int64_t json_int_or(const nlohmann::json& obj, std::string_view key, int64_t fallback, int64_t lo,
                           int64_t hi, std::string_view where) {
  return obj.is_object() && obj.contains(key) ? json_int(obj, key, lo, hi, where) : fallback;
}
inline double json_number(const nlohmann::json& obj, std::string_view key, double lo, double hi,
                          std::string_view where) {
  return json_number(json_member(obj, key, where), lo, hi, json_detail::key_name(where, key));
}
inline double json_number_or(const nlohmann::json& obj, std::string_view key, double fallback, double lo, double hi,
                             std::string_view where) {
  return obj.is_object() && obj.contains(key) ? json_number(obj, key, lo, hi, where) : fallback;
}
inline std::string json_string(const nlohmann::json& obj, std::string_view key, std::string_view where) {
  return json_string(json_member(obj, key, where), json_detail::key_name(where, key));
}
inline std::string json_string_or(const nlohmann::json& obj, std::string_view key, std::string fallback,
                                  std::string_view where) {
  return obj.is_object() && obj.contains(key) ? json_string(obj, key, where) : fallback;
}
inline bool json_bool(const nlohmann::json& obj, std::string_view key, std::string_view where) {
  return json_bool(json_member(obj, key, where), json_detail::key_name(where, key));
}
inline bool json_bool_or(const nlohmann::json& obj, std::string_view key, bool fallback, std::string_view where) {
  return obj.is_object() && obj.contains(key) ? json_bool(obj, key, where) : fallback;
}

// An array of at most max_len integers, each in [lo, hi].
inline std::vector<int64_t> json_ints(const nlohmann::json& v, size_t max_len, int64_t lo, int64_t hi,
                                      std::string_view what) {
  if (!v.is_array() || v.size() > max_len)
    fail(what, " must be an array of at most ", max_len, " integers, got ", json_detail::shown(v));
  std::vector<int64_t> out;
  out.reserve(v.size());
  for (size_t i = 0; i < v.size(); ++i) out.push_back(json_int(v[i], lo, hi, cat(what, "[", i, "]")));
  return out;
}
inline std::vector<int64_t> json_ints(const nlohmann::json& obj, std::string_view key, size_t max_len, int64_t lo,
                                      int64_t hi, std::string_view where) {
  return json_ints(json_member(obj, key, where), max_len, lo, hi, json_detail::key_name(where, key));
}

}  // namespace lowbit
