// Bit streams of the compressed weight encodings (weight_coding.hpp, docs/FORMAT.md
// "Compressed weights"). One bit order everywhere, the one `pm1` weights already use: bit j
// of a stream is bit (j mod 8) of byte floor(j / 8). A v-bit field is written least
// significant bit first; a Huffman code is written most significant bit first (DEFLATE,
// RFC 1951 section 3.1.1, does both the same way). The last byte is padded with zero bits.
//
// BitReader never reads past its buffer: every read is checked against the bits left, and
// a short stream throws lowbit::Error naming `what` and the bit position.
#pragma once
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "lowbit/core/error.hpp"

namespace lowbit::format {

class BitWriter {
 public:
  // Appends the low `bits` (0..57) bits of `value`, least significant first.
  void put(uint64_t value, int bits) {
    acc_ |= (bits ? value & (~uint64_t{0} >> (64 - bits)) : 0) << fill_;
    fill_ += bits;
    bits_ += static_cast<uint64_t>(bits);
    while (fill_ >= 8) {
      out_.push_back(static_cast<uint8_t>(acc_));
      acc_ >>= 8;
      fill_ -= 8;
    }
  }
  // Appends a `length`-bit code (1..32), most significant bit first.
  void put_code(uint32_t code, int length) {
    uint32_t reversed = 0;
    for (int i = 0; i < length; ++i) reversed |= ((code >> i) & 1u) << (length - 1 - i);
    put(reversed, length);
  }
  uint64_t bits() const { return bits_; }  // written so far, before padding
  // The bytes, the last one padded with zero bits; the writer is left empty.
  std::vector<uint8_t> finish() {
    if (fill_) out_.push_back(static_cast<uint8_t>(acc_));
    acc_ = 0, fill_ = 0, bits_ = 0;
    return std::move(out_);
  }

 private:
  std::vector<uint8_t> out_;
  uint64_t acc_ = 0;
  int fill_ = 0;
  uint64_t bits_ = 0;
};

class BitReader {
 public:
  BitReader(const uint8_t* data, size_t size, std::string what) : data_(data), size_bits_(uint64_t{size} * 8), what_(std::move(what)) {}

  uint64_t position() const { return pos_; }
  uint64_t left() const { return size_bits_ - pos_; }

  // The next `bits` (0..57) bits as a field, least significant first.
  uint64_t get(int bits) {
    LOWBIT_CHECK(static_cast<uint64_t>(bits) <= left(), what_, ": truncated: needs ", bits, " bits at bit ", pos_,
                 ", the stream has ", size_bits_);
    uint64_t v = 0;
    for (int i = 0; i < bits;) {  // byte-wise: at most 8 iterations
      const uint64_t at = pos_ + static_cast<uint64_t>(i);
      const int shift = static_cast<int>(at % 8);
      const int take = std::min(8 - shift, bits - i);
      const uint64_t chunk = (uint64_t{data_[at / 8]} >> shift) & ((uint64_t{1} << take) - 1);
      v |= chunk << i;
      i += take;
    }
    pos_ += static_cast<uint64_t>(bits);
    return v;
  }
  unsigned bit() { return static_cast<unsigned>(get(1)); }

  // The end of a stream: the rest of the last byte is zero padding and no byte follows.
  void expect_end() {
    LOWBIT_CHECK(left() < 8, what_, ": ", left() / 8, " trailing bytes after the last weight (stream of ",
                 size_bits_ / 8, " bytes ends at bit ", pos_, ")");
    LOWBIT_CHECK(get(static_cast<int>(left())) == 0, what_, ": nonzero padding bits after the last weight");
  }

 private:
  const uint8_t* data_;
  uint64_t size_bits_;
  uint64_t pos_ = 0;
  std::string what_;
};

}  // namespace lowbit::format
