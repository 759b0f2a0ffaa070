// Helpers of the model-description tests: a description's bytes read back, its model JSON,
// and the description read after an edit of that JSON (same blobs): what read_model_desc
// sees when a file lies. Shared by model_desc_test.cpp and model_desc_shortcut_test.cpp.
#pragma once
#include <functional>
#include <nlohmann/json.hpp>
#include <vector>

#include "lowbit/format/lbm.hpp"
#include "lowbit/format/model_desc.hpp"

namespace lowbit::testing {

inline format::ModelDesc read_desc_bytes(const std::vector<uint8_t>& bytes) {
  return format::read_model_desc(format::LbmFile::parse(bytes.data(), bytes.size(), "m.lbm"));
}

inline nlohmann::json desc_json(const std::vector<uint8_t>& bytes) {
  const format::LbmFile file = format::LbmFile::parse(bytes.data(), bytes.size(), "m.lbm");
  return nlohmann::json::parse(file.json_text("model"));
}

inline format::ModelDesc read_edited_desc(const format::ModelDesc& d,
                                          const std::function<void(nlohmann::json&)>& edit) {
  const std::vector<uint8_t> bytes = format::model_desc_bytes(d);
  const format::LbmFile file = format::LbmFile::parse(bytes.data(), bytes.size(), "m.lbm");
  nlohmann::json m = nlohmann::json::parse(file.json_text("model"));
  edit(m);
  format::LbmWriter w;
  w.add_json("model", m.dump());
  for (const auto& sec : file.sections())
    if (sec.name != "model") w.add_blob(sec.name, sec.data, sec.size);
  return read_desc_bytes(w.bytes());
}

}  // namespace lowbit::testing
