// Whole-file reads and atomic writes. An atomic write goes to a temporary file in the
// same folder, is flushed to disk, then renamed over the target: a reader (or a crash)
// sees either the old file or the new one, never a half-written one.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace lowbit {

std::vector<uint8_t> read_file(const std::string& path);  // throws naming the path
void write_file_atomic(const std::string& path, std::string_view bytes);
inline void write_file_atomic(const std::string& path, const std::vector<uint8_t>& bytes) {
  write_file_atomic(path, std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
}
bool file_exists(const std::string& path);
void make_dirs(const std::string& path);

// CRC-32 (IEEE, as zlib and PNG use); `crc` continues a running checksum.
uint32_t crc32(const void* data, size_t size, uint32_t crc = 0);

}  // namespace lowbit
