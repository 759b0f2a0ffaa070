// Read a whole dataset file into memory, gunzipping it when it starts with the gzip
// magic bytes (1f 8b). Dataset files come both ways (MNIST is distributed as .gz),
// so every reader goes through here and never has to care.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace lowbit::data {

// Upper bound on a dataset file's (decompressed) size. The largest files we expect
// are tens of MB (EMNIST byclass: ~550 MB); the bound stops a corrupt or hostile
// gzip stream (a "zip bomb") from exhausting memory.
inline constexpr uint64_t kMaxDataFileBytes = uint64_t(2) << 30;  // 2 GiB

// The file's bytes, decompressed if it is gzip. Errors name `path`: missing file,
// not a regular file, corrupt/truncated gzip, trailing bytes after the gzip stream,
// or content larger than max_bytes.
std::vector<uint8_t> read_data_file(const std::string& path, uint64_t max_bytes = kMaxDataFileBytes);

bool is_gzip(const std::vector<uint8_t>& bytes);

}  // namespace lowbit::data
