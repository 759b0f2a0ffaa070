// Length-limited canonical Huffman codes, for the "huffman" weight encoding
// (weight_coding.hpp). Three pieces, each usable alone:
//   huffman_code_lengths  optimal code lengths under a maximum length (package-merge,
//                         Larmore & Hirschberg, "A fast algorithm for optimal
//                         length-limited Huffman codes", JACM 1990);
//   canonical_codes       the canonical code of those lengths (RFC 1951 section 3.2.2: codes
//                         of one length are consecutive in symbol order, shorter codes first),
//                         so a file stores only the lengths;
//   CanonicalDecoder      decodes one symbol at a time from a BitReader, reading at most
//                         max_length bits per symbol (zlib's puff.c decoding loop).
//
//   std::vector<uint8_t> len = huffman_code_lengths(freq, 15);
//   std::vector<uint32_t> code = canonical_codes(len);
//   w.put_code(code[s], len[s]);                         // BitWriter, MSB first
//   CanonicalDecoder dec(len, 15, "layer 1: weights");   // validates the lengths
//   int s = dec.decode(reader);
#pragma once
#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "lowbit/format/bit_stream.hpp"

namespace lowbit::format {

inline constexpr int kHuffmanMaxLengthLimit = 24;  // what these functions accept as max_length

// Lengths (0 = unused) of an optimal prefix code for the symbol frequencies `freq`, none
// longer than max_length (1..24): the code minimises sum freq[k] * length[k] among all
// such codes. Symbols of frequency 0 get length 0; a single used symbol gets length 1; no
// used symbol gives all zeros. Throws lowbit::Error when more than 2^max_length symbols
// are used (no code fits). Cost O(max_length * used symbols).
std::vector<uint8_t> huffman_code_lengths(const std::vector<uint64_t>& freq, int max_length);

// The canonical code of each symbol (0 for unused ones); `lengths` must be valid (as
// CanonicalDecoder checks: complete, or a single code of length 1).
std::vector<uint32_t> canonical_codes(const std::vector<uint8_t>& lengths);

class CanonicalDecoder {
 public:
  // Validates the lengths and builds the tables: every length in 0..max_length (1..24), and
  // either no symbol is used, or the code is complete (Kraft sum exactly 1), or exactly one
  // symbol is used, with length 1 (its code is 0; the code 1 is then invalid). Throws
  // lowbit::Error naming `what` otherwise ("over-subscribed", "incomplete").
  CanonicalDecoder(const std::vector<uint8_t>& lengths, int max_length, std::string what);

  // The next symbol. Throws lowbit::Error naming `what` when the stream ends inside a code,
  // when the bits are no code (only possible with a single-symbol code, or no symbol), and
  // reads at most max_length bits.
  int decode(BitReader& r) const;
  int used() const { return static_cast<int>(symbols_.size()); }

 private:
  int max_length_;
  std::array<uint32_t, kHuffmanMaxLengthLimit + 1> count_{};  // codes of each length
  std::vector<int32_t> symbols_;  // used symbols by (length, symbol): the canonical order
  std::string what_;
};

}  // namespace lowbit::format
