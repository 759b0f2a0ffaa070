// Compressed ternary weights: the "rle" and "huffman" weight encodings of the model
// description (docs/FORMAT.md, "Compressed weights"; user guide: docs/DEPLOYMENT.md,
// "Compressed weights"). Source: Faraone's thesis, section 3.2.4 ("Weight
// Representations") and Table 3.2: a sparse ternary network stores, for each nonzero
// weight, the number of zeros skipped since the previous one and a sign bit, either in a
// fixed-width field (run-length encoding, RLE) or as Huffman codewords (HC).
//
// The input is a stream of n codes in {-1, 0, +1} (a layer's out x K weights in the IR's
// canonical row-major order, LayerDesc::weights); binary (+-1) streams are the case without
// zeros. The nonzeros sit at positions p_1 < ... < p_m; the run before nonzero i is
// r_i = p_i - p_{i-1} - 1 (p_0 = -1), its sign bit s_i is 1 for -1 and 0 for +1. Zeros
// after p_m are implied by n, which the decoder is given (the layer's geometry).
//
// Blob layouts (bit order: bit_stream.hpp; every multi-byte header field little-endian):
//   rle      byte 0: b, the run field's width (1..32); bytes 1..4: m (u32); then entries of
//            b + 1 bits: the field F (b bits) then the sign bit. F < 2^b - 1: F zeros then
//            a weight of that sign; F = 2^b - 1: an escape, 2^b - 1 zeros and no weight
//            (its sign bit is 0). A run r is floor(r / (2^b - 1)) escapes then F = r mod
//            (2^b - 1). The writer picks the b that minimises the blob (ties: the smaller).
//   huffman  bytes 0..1: D, the run symbols (1..4096); bytes 2..5: m (u32); then the code
//            length (0..15, 0 = unused) of each of the 2D + 1 symbols, two per byte, symbol
//            2j in the low nibble of byte j, 2j + 1 in its high nibble (the last high nibble,
//            past symbol 2D, is 0); then the canonical codes (huffman.hpp) of the symbols,
//            each most significant bit first. Symbol 2r + s: r zeros then a weight of sign
//            s (r < D); symbol 2D: an escape, D zeros and no weight. The writer picks D
//            from a fixed grid (1..8, then 8 * 2^(j/4) rounded for j = 1..36: 10, 11, 13,
//            16, 19, 23, 27, 32, ... 4096; none past the first above the longest run) to
//            minimise the blob.
// Both: the payload ends after the m-th weight (no escape after it), padded with zero bits
// to a byte; the blob holds nothing after it.
//
// Decoders validate everything and throw lowbit::Error naming `what`: a truncated header or
// stream, a field width or D out of range, m > n, bad code lengths (over 15, over-subscribed,
// incomplete, or present with m = 0), an invalid code, a run that passes position n, an
// escape with its sign bit set, nonzero padding, trailing bytes. They never allocate from a
// size in the blob: the output has the n codes the caller asked for, and the Huffman tables
// at most 2 * 4096 + 1 entries.
#pragma once
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace lowbit::format {

inline constexpr int kRleMinFieldBits = 1, kRleMaxFieldBits = 32;
inline constexpr int64_t kHuffmanMaxRunSymbols = 4096;  // D
inline constexpr int kHuffmanMaxCodeBits = 15;
inline constexpr uint64_t kMaxCodedWeights = 0xffffffffu;  // n: m is stored in 32 bits
inline constexpr size_t kRleHeaderBytes = 5;
inline size_t huffman_header_bytes(int64_t run_symbols) { return 6 + static_cast<size_t>(run_symbols) + 1; }

// Every code is -1, 0 or +1 (what rle and huffman can hold).
bool is_ternary(std::span<const int32_t> codes);

// RLE with the field width that minimises the blob, or with `field_bits` (1..32). Throws
// lowbit::Error when a code is not in {-1, 0, +1}, n > kMaxCodedWeights or the width is out
// of range.
std::vector<uint8_t> rle_encode(std::span<const int32_t> codes);
std::vector<uint8_t> rle_encode(std::span<const int32_t> codes, int field_bits);
// Decodes a blob into `out` (n = out.size() codes, all written: zeros first). Throws
// lowbit::Error naming `what`; `out` is then partly written.
void rle_decode(std::span<const uint8_t> blob, std::span<int32_t> out, const std::string& what = "rle weights");

// Huffman coding with the D of the grid that minimises the blob, or with `run_symbols`
// (1..4096). Errors as rle_encode.
std::vector<uint8_t> huffman_encode(std::span<const int32_t> codes);
std::vector<uint8_t> huffman_encode(std::span<const int32_t> codes, int64_t run_symbols);
void huffman_decode(std::span<const uint8_t> blob, std::span<int32_t> out,
                    const std::string& what = "huffman weights");

// What a ternary stream costs in each representation, in bits.
struct WeightCodingSizes {
  int64_t count = 0;              // n
  int64_t minus = 0, zeros = 0, plus = 0;
  double entropy_bits = 0;        // n * H(p-, p0, p+), the order-0 bound (p_x = count of x / n)
  int64_t dense1_bits = 0;        // n: one bit a weight, `pm1` (only a binary stream, zeros = 0)
  int64_t dense2_bits = 0;        // 2n: two bits a weight, any ternary stream
  int64_t rle_bits = 0;           // 8 x the rle blob's bytes (header and padding included)
  int rle_field_bits = 0;         // its b
  int64_t huffman_bits = 0;       // 8 x the huffman blob's bytes
  int64_t huffman_run_symbols = 0;  // its D
  double sparsity() const { return count ? static_cast<double>(zeros) / static_cast<double>(count) : 0.0; }
};

// The sizes of a ternary stream (every code in {-1, 0, +1}; lowbit::Error otherwise); it
// encodes the stream both ways, so the numbers are those of real blobs.
WeightCodingSizes weight_coding_sizes(std::span<const int32_t> codes);

}  // namespace lowbit::format
