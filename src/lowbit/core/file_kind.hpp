// Telling a file's kind from its first bytes, for messages that say what a wrong file is
// ("an ONNX model: lowbit import it first") instead of "bad magic".
#pragma once
#include <cstddef>
#include <cstdint>

namespace lowbit {

// An ONNX ModelProto as every exporter writes it (protobuf, fields in number order): field 1
// `ir_version` (tag 0x08, a small varint), then a length-delimited field (producer_name,
// graph, opset_import, ...). A heuristic for error messages only; readers still parse.
inline bool looks_like_onnx(const uint8_t* p, size_t n) {
  if (n < 3 || p[0] != 0x08 || p[1] == 0 || p[1] > 20) return false;
  const uint8_t tag = p[2];
  return (tag & 0x07) == 2 && (tag >> 3) >= 2 && (tag >> 3) <= 20;
}

}  // namespace lowbit
