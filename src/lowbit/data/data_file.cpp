#include "lowbit/data/data_file.hpp"

#include <zlib.h>

#include <algorithm>
#include <climits>
#include <filesystem>

#include "lowbit/core/error.hpp"
#include "lowbit/core/file_io.hpp"

namespace lowbit::data {

namespace fs = std::filesystem;

bool is_gzip(const std::vector<uint8_t>& bytes) {
  return bytes.size() >= 2 && bytes[0] == 0x1f && bytes[1] == 0x8b;
}

namespace {

// Owns a z_stream so every error path releases zlib's state.
struct Inflater {
  z_stream zs{};
  explicit Inflater(const std::string& path) {
    // 16 + MAX_WBITS: expect a gzip header and trailer (and check the CRC-32 and length).
    if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK) fail(path, ": cannot initialise zlib");
  }
  ~Inflater() { inflateEnd(&zs); }
};

// Decompress a whole gzip file (one or more concatenated members, as gzip allows).
// The output buffer grows with the data actually produced, never from a size the
// file claims, and stops at max_bytes.
std::vector<uint8_t> gunzip(const std::vector<uint8_t>& in, const std::string& path, uint64_t max_bytes) {
  Inflater inf(path);
  z_stream& zs = inf.zs;
  // Typical compression ratios for images are 2-10x; start at 4x and double as needed.
  std::vector<uint8_t> out(static_cast<size_t>(std::min<uint64_t>(
      max_bytes + 1, std::max<uint64_t>(uint64_t(1) << 16, uint64_t(in.size()) * 4))));
  size_t in_pos = 0, out_len = 0;
  for (;;) {
    if (out_len == out.size()) {
      if (out.size() > max_bytes)
        fail(path, ": decompressed size exceeds the limit of ", max_bytes,
             " bytes (corrupt file, or not a dataset file?)");
      out.resize(static_cast<size_t>(std::min<uint64_t>(uint64_t(out.size()) * 2, max_bytes + 1)));
    }
    zs.next_in = const_cast<Bytef*>(in.data() + in_pos);
    zs.avail_in = static_cast<uInt>(std::min<size_t>(in.size() - in_pos, UINT_MAX));
    zs.next_out = out.data() + out_len;
    zs.avail_out = static_cast<uInt>(std::min<size_t>(out.size() - out_len, UINT_MAX));
    const uInt avail_in_before = zs.avail_in, avail_out_before = zs.avail_out;
    int r = inflate(&zs, Z_NO_FLUSH);
    in_pos += avail_in_before - zs.avail_in;
    out_len += avail_out_before - zs.avail_out;

    if (r == Z_STREAM_END) {
      if (in_pos == in.size()) break;
      // Another gzip member follows (what `cat a.gz b.gz` produces): keep going.
      if (in.size() - in_pos >= 2 && in[in_pos] == 0x1f && in[in_pos + 1] == 0x8b) {
        inflateReset(&zs);
        continue;
      }
      fail(path, ": ", in.size() - in_pos, " trailing bytes after the end of the gzip stream");
    }
    if (r == Z_OK || r == Z_BUF_ERROR) {
      // inflate stopped with room left in the output: it wants more input. If there is
      // none, the stream was cut short.
      if (zs.avail_out != 0 && in_pos == in.size())
        fail(path, ": gzip stream ends early after ", in.size(), " compressed bytes (truncated file?)");
      continue;
    }
    fail(path, ": corrupt gzip data (", zs.msg ? zs.msg : zError(r), ")");
  }
  out.resize(out_len);
  out.shrink_to_fit();
  return out;
}

}  // namespace

std::vector<uint8_t> read_data_file(const std::string& path, uint64_t max_bytes) {
  std::error_code ec;
  fs::file_status st = fs::status(path, ec);
  if (!fs::exists(st)) fail(path, ": no such file");
  if (!fs::is_regular_file(st)) fail(path, ": not a regular file");
  uint64_t size = fs::file_size(path, ec);
  if (ec) fail(path, ": cannot determine size (", ec.message(), ")");
  if (size > max_bytes) fail(path, ": file is ", size, " bytes, more than the limit of ", max_bytes);
  std::vector<uint8_t> bytes = read_file(path);
  if (is_gzip(bytes)) return gunzip(bytes, path, max_bytes);
  return bytes;
}

}  // namespace lowbit::data
