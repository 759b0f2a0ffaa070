// Little-endian byte writer and bounds-checked reader for our binary files
// (checkpoints now, .lbm model files later). The reader never trusts a length it
// reads: every read is checked against the bytes that remain, and the error names
// the file and the field.
#pragma once
#include <cstdint>
#include <cstring>
#include <string>
#include <type_traits>
#include <vector>

#include "lowbit/core/error.hpp"

namespace lowbit {

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "lowbit's file formats assume a little-endian host");

class ByteWriter {
 public:
  template <class T>
  void put(T v) {
    static_assert(std::is_trivially_copyable_v<T>);
    append(&v, sizeof(T));
  }
  void put_string(const std::string& s) {
    put<uint32_t>(static_cast<uint32_t>(s.size()));
    append(s.data(), s.size());
  }
  void append(const void* p, size_t n) {
    const auto* b = static_cast<const uint8_t*>(p);
    bytes_.insert(bytes_.end(), b, b + n);
  }
  void pad_to(size_t alignment) {
    while (bytes_.size() % alignment) bytes_.push_back(0);
  }
  size_t size() const { return bytes_.size(); }
  std::vector<uint8_t>& bytes() { return bytes_; }

 private:
  std::vector<uint8_t> bytes_;
};

class ByteReader {
 public:
  ByteReader(const uint8_t* data, size_t size, std::string source)
      : p_(data), size_(size), source_(std::move(source)) {}

  template <class T>
  T get(const char* what) {
    static_assert(std::is_trivially_copyable_v<T>);
    T v;
    std::memcpy(&v, take(sizeof(T), what), sizeof(T));
    return v;
  }
  std::string get_string(const char* what, size_t max_len = 1u << 24) {
    uint32_t n = get<uint32_t>(what);
    if (n > max_len) fail(source_, ": ", what, " length ", n, " exceeds limit ", max_len, " (corrupt file?)");
    const uint8_t* s = take(n, what);
    return std::string(reinterpret_cast<const char*>(s), n);
  }
  const uint8_t* take(size_t n, const char* what) {
    if (n > size_ - pos_) fail(source_, ": truncated while reading ", what, " (need ", n, " bytes at offset ", pos_, ", have ", size_ - pos_, ")");
    const uint8_t* r = p_ + pos_;
    pos_ += n;
    return r;
  }
  size_t pos() const { return pos_; }
  size_t remaining() const { return size_ - pos_; }
  const std::string& source() const { return source_; }

 private:
  const uint8_t* p_;
  size_t size_;
  size_t pos_ = 0;
  std::string source_;
};

}  // namespace lowbit
