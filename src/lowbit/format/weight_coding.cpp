#include "lowbit/format/weight_coding.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "lowbit/core/error.hpp"
#include "lowbit/format/bit_stream.hpp"
#include "lowbit/format/huffman.hpp"

namespace lowbit::format {

namespace {

// ---- the runs of a stream (what the parameter searches need) ----

// Runs below kHistRuns are counted per (run, sign); longer ones are listed. The searches
// then cost O(longest counted run + long runs) per candidate instead of O(m): a dense
// ternary layer has up to 2^27 nonzeros, a sparse one few long runs.
constexpr uint64_t kHistRuns = 2 * static_cast<uint64_t>(kHuffmanMaxRunSymbols);

struct Runs {
  uint64_t m = 0, max_run = 0;
  std::vector<uint64_t> hist[2];  // [sign][run], runs < kHistRuns
  std::vector<std::pair<uint64_t, unsigned>> long_runs;  // (run, sign)
};

void check_stream(std::span<const int32_t> codes) {
  LOWBIT_CHECK(codes.size() <= kMaxCodedWeights, "compressed weights: ", codes.size(), " codes (at most ",
               kMaxCodedWeights, ")");
}

[[noreturn]] void not_ternary(size_t i, int32_t c) {
  fail("compressed weights hold codes -1, 0, +1 only; code ", i, " is ", c);
}

Runs runs_of(std::span<const int32_t> codes) {
  check_stream(codes);
  Runs r;
  uint64_t run = 0;
  for (size_t i = 0; i < codes.size(); ++i) {
    const int32_t c = codes[i];
    if (c == 0) {
      ++run;
      continue;
    }
    if (c != 1 && c != -1) not_ternary(i, c);
    const unsigned sign = c < 0;
    if (run < kHistRuns) {
      // Sized to the longest run seen, so that a small layer's searches stay small.
      if (run >= r.hist[sign].size()) r.hist[sign].resize(run + 1, 0);
      ++r.hist[sign][run];
    } else
      r.long_runs.push_back({run, sign});
    r.max_run = std::max(r.max_run, run);
    ++r.m;
    run = 0;
  }
  return r;
}

uint64_t bytes_of_bits(uint64_t bits) { return (bits + 7) / 8; }

// ---- RLE ----

uint64_t rle_escape(int b) { return (uint64_t{1} << b) - 1; }

uint64_t rle_blob_bytes(const Runs& r, int b) {
  const uint64_t e = rle_escape(b);
  uint64_t entries = 0;
  for (unsigned s = 0; s < 2; ++s)
    for (uint64_t run = 0; run < r.hist[s].size(); ++run)
      if (const uint64_t k = r.hist[s][run]) entries += k * (1 + run / e);
  for (const auto& [run, sign] : r.long_runs) entries += 1 + run / e;
  return kRleHeaderBytes + bytes_of_bits(entries * static_cast<uint64_t>(b + 1));
}

int best_rle_bits(const Runs& r) {
  int best = kRleMinFieldBits;
  uint64_t best_bytes = rle_blob_bytes(r, best);
  for (int b = kRleMinFieldBits + 1; b <= kRleMaxFieldBits; ++b) {
    const uint64_t bytes = rle_blob_bytes(r, b);
    if (bytes < best_bytes) best = b, best_bytes = bytes;
  }
  return best;
}

void put_u32(std::vector<uint8_t>& out, uint64_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
}

uint64_t get_le(std::span<const uint8_t> b, size_t at, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v |= uint64_t{b[at + static_cast<size_t>(i)]} << (8 * i);
  return v;
}

// Calls emit(run, sign) for each nonzero of a ternary stream.
template <class Emit>
void for_each_nonzero(std::span<const int32_t> codes, Emit&& emit) {
  uint64_t run = 0;
  for (size_t i = 0; i < codes.size(); ++i) {
    const int32_t c = codes[i];
    if (c == 0) {
      ++run;
      continue;
    }
    if (c != 1 && c != -1) not_ternary(i, c);
    emit(run, static_cast<unsigned>(c < 0));
    run = 0;
  }
}

// ---- Huffman ----

// The D grid: 1..8, then 8 * 2^(j/4) rounded, j = 1..36 (up to 4096).
std::vector<int64_t> run_symbol_grid() {
  std::vector<int64_t> g;
  for (int64_t d = 1; d <= 8; ++d) g.push_back(d);
  for (int j = 1; j <= 36; ++j) {
    const auto d = static_cast<int64_t>(std::lround(8.0 * std::exp2(j / 4.0)));
    if (d > g.back()) g.push_back(std::min(d, kHuffmanMaxRunSymbols));
  }
  return g;
}

// Symbol frequencies for D run symbols: 2r + s for a weight after r < D zeros, 2D for an
// escape (D zeros, no weight).
std::vector<uint64_t> huffman_frequencies(const Runs& r, int64_t d) {
  const auto ud = static_cast<uint64_t>(d);
  std::vector<uint64_t> f(static_cast<size_t>(2 * d + 1), 0);
  for (unsigned s = 0; s < 2; ++s)
    for (uint64_t run = 0; run < r.hist[s].size(); ++run)
      if (const uint64_t k = r.hist[s][run]) {
        f[2 * (run % ud) + s] += k;
        f[2 * ud] += k * (run / ud);
      }
  for (const auto& [run, s] : r.long_runs) {
    f[2 * (run % ud) + s] += 1;
    f[2 * ud] += run / ud;
  }
  return f;
}

uint64_t huffman_payload_bits(const std::vector<uint64_t>& f, const std::vector<uint8_t>& len) {
  uint64_t bits = 0;
  for (size_t k = 0; k < f.size(); ++k) bits += f[k] * len[k];
  return bits;
}

int64_t best_run_symbols(const Runs& r) {
  int64_t best = 1;
  uint64_t best_bytes = UINT64_MAX;
  for (int64_t d : run_symbol_grid()) {
    const std::vector<uint64_t> f = huffman_frequencies(r, d);
    const uint64_t bytes = huffman_header_bytes(d) + bytes_of_bits(huffman_payload_bits(f, huffman_code_lengths(f, kHuffmanMaxCodeBits)));
    if (bytes < best_bytes) best = d, best_bytes = bytes;
    if (static_cast<uint64_t>(d) > r.max_run) break;  // larger D: no fewer escapes, a longer header
  }
  return best;
}

// ---- decoding, shared ----

// The header's m against n and the stream, before anything is decoded.
void check_count(uint64_t m, size_t n, uint64_t min_bits_each, uint64_t payload_bits, const std::string& what) {
  LOWBIT_CHECK(m <= n, what, ": ", m, " nonzero weights in a layer of ", n);
  LOWBIT_CHECK(m * min_bits_each <= payload_bits, what, ": truncated: ", m, " nonzero weights need at least ",
               m * min_bits_each, " bits, the stream has ", payload_bits);
}

// Places the weight of nonzero i after `zeros` zeros from `pos`.
void place(std::span<int32_t> out, uint64_t& pos, uint64_t zeros, unsigned sign, uint64_t i, const std::string& what) {
  LOWBIT_CHECK(zeros < out.size() - pos, what, ": nonzero weight ", i, " at position ", pos + zeros,
               " is past the layer's ", out.size(), " weights");
  pos += zeros;
  out[pos++] = sign ? -1 : 1;
}

// An escape of `zeros` zeros from `pos`: a weight must still follow inside the layer.
void skip(std::span<int32_t> out, uint64_t& pos, uint64_t zeros, uint64_t i, const std::string& what) {
  LOWBIT_CHECK(zeros < out.size() - pos, what, ": an escape before nonzero weight ", i, " runs to position ",
               pos + zeros, ", past the layer's ", out.size(), " weights");
  pos += zeros;
}

}  // namespace

bool is_ternary(std::span<const int32_t> codes) {
  return std::all_of(codes.begin(), codes.end(), [](int32_t c) { return c >= -1 && c <= 1; });
}

std::vector<uint8_t> rle_encode(std::span<const int32_t> codes) { return rle_encode(codes, best_rle_bits(runs_of(codes))); }

std::vector<uint8_t> rle_encode(std::span<const int32_t> codes, int b) {
  check_stream(codes);
  LOWBIT_CHECK(b >= kRleMinFieldBits && b <= kRleMaxFieldBits, "rle: field width ", b, " outside ", kRleMinFieldBits,
               "..", kRleMaxFieldBits);
  const uint64_t e = rle_escape(b);
  BitWriter w;
  uint64_t m = 0;
  for_each_nonzero(codes, [&](uint64_t run, unsigned sign) {
    for (uint64_t k = run / e; k; --k) w.put(e, b + 1);  // escape, sign bit 0
    w.put((run % e) | (uint64_t{sign} << b), b + 1);
    ++m;
  });
  std::vector<uint8_t> out = {static_cast<uint8_t>(b)};
  put_u32(out, m);
  const std::vector<uint8_t> payload = w.finish();
  out.insert(out.end(), payload.begin(), payload.end());
  return out;
}

void rle_decode(std::span<const uint8_t> blob, std::span<int32_t> out, const std::string& what) {
  LOWBIT_CHECK(out.size() <= kMaxCodedWeights, what, ": ", out.size(), " codes (at most ", kMaxCodedWeights, ")");
  LOWBIT_CHECK(blob.size() >= kRleHeaderBytes, what, ": truncated header (", blob.size(), " of ", kRleHeaderBytes,
               " bytes)");
  const int b = blob[0];
  LOWBIT_CHECK(b >= kRleMinFieldBits && b <= kRleMaxFieldBits, what, ": field width ", b, " outside ",
               kRleMinFieldBits, "..", kRleMaxFieldBits);
  const uint64_t m = get_le(blob, 1, 4);
  BitReader r(blob.data() + kRleHeaderBytes, blob.size() - kRleHeaderBytes, what);
  check_count(m, out.size(), static_cast<uint64_t>(b + 1), r.left(), what);
  std::fill(out.begin(), out.end(), 0);
  const uint64_t e = rle_escape(b);
  uint64_t pos = 0;
  for (uint64_t i = 0; i < m;) {  // each entry reads b + 1 >= 2 bits: at most size * 4 entries
    const uint64_t field = r.get(b);
    const unsigned sign = r.bit();
    if (field == e) {
      LOWBIT_CHECK(sign == 0, what, ": escape with its sign bit set at bit ", r.position() - 1);
      skip(out, pos, e, i, what);
    } else {
      place(out, pos, field, sign, i++, what);
    }
  }
  r.expect_end();
}

namespace {

std::vector<uint8_t> huffman_encode_runs(std::span<const int32_t> codes, const Runs& runs, int64_t d) {
  const std::vector<uint64_t> f = huffman_frequencies(runs, d);
  const std::vector<uint8_t> len = huffman_code_lengths(f, kHuffmanMaxCodeBits);
  const std::vector<uint32_t> code = canonical_codes(len);
  std::vector<uint8_t> out = {static_cast<uint8_t>(d), static_cast<uint8_t>(d >> 8)};
  put_u32(out, runs.m);
  const size_t symbols = len.size();  // 2D + 1
  for (size_t k = 0; k < symbols; k += 2)
    out.push_back(static_cast<uint8_t>(len[k] | (k + 1 < symbols ? len[k + 1] << 4 : 0)));
  const auto ud = static_cast<uint64_t>(d);
  const size_t escape = 2 * static_cast<size_t>(d);
  BitWriter w;
  for_each_nonzero(codes, [&](uint64_t run, unsigned sign) {
    for (uint64_t k = run / ud; k; --k) w.put_code(code[escape], len[escape]);
    const size_t s = 2 * static_cast<size_t>(run % ud) + sign;
    w.put_code(code[s], len[s]);
  });
  const std::vector<uint8_t> payload = w.finish();
  out.insert(out.end(), payload.begin(), payload.end());
  return out;
}

}  // namespace

std::vector<uint8_t> huffman_encode(std::span<const int32_t> codes) {
  const Runs runs = runs_of(codes);
  return huffman_encode_runs(codes, runs, best_run_symbols(runs));
}

std::vector<uint8_t> huffman_encode(std::span<const int32_t> codes, int64_t d) {
  LOWBIT_CHECK(d >= 1 && d <= kHuffmanMaxRunSymbols, "huffman: ", d, " run symbols outside 1..", kHuffmanMaxRunSymbols);
  return huffman_encode_runs(codes, runs_of(codes), d);
}

void huffman_decode(std::span<const uint8_t> blob, std::span<int32_t> out, const std::string& what) {
  LOWBIT_CHECK(out.size() <= kMaxCodedWeights, what, ": ", out.size(), " codes (at most ", kMaxCodedWeights, ")");
  LOWBIT_CHECK(blob.size() >= 6, what, ": truncated header (", blob.size(), " of 6 bytes)");
  const int64_t d = static_cast<int64_t>(get_le(blob, 0, 2));
  LOWBIT_CHECK(d >= 1 && d <= kHuffmanMaxRunSymbols, what, ": ", d, " run symbols outside 1..", kHuffmanMaxRunSymbols);
  const uint64_t m = get_le(blob, 2, 4);
  const size_t header = huffman_header_bytes(d);
  LOWBIT_CHECK(blob.size() >= header, what, ": truncated code lengths (", blob.size(), " bytes, the header of ", d,
               " run symbols has ", header, ")");
  const size_t symbols = 2 * static_cast<size_t>(d) + 1;
  std::vector<uint8_t> len(symbols);
  for (size_t k = 0; k < symbols; ++k) len[k] = static_cast<uint8_t>((blob[6 + k / 2] >> (4 * (k % 2))) & 15u);
  LOWBIT_CHECK((blob[header - 1] >> 4) == 0, what, ": nonzero padding nibble after the last code length");
  const bool any_code = std::any_of(len.begin(), len.end(), [](uint8_t l) { return l != 0; });
  LOWBIT_CHECK(any_code == (m != 0), what, m ? ": no code lengths for " : ": code lengths for ", m,
               " nonzero weights");
  const CanonicalDecoder dec(len, kHuffmanMaxCodeBits, what);
  BitReader r(blob.data() + header, blob.size() - header, what);
  check_count(m, out.size(), 1, r.left(), what);
  std::fill(out.begin(), out.end(), 0);
  const auto ud = static_cast<uint64_t>(d);
  const auto escape = static_cast<int>(2 * d);
  uint64_t pos = 0;
  for (uint64_t i = 0; i < m;) {  // each symbol reads >= 1 bit: at most size * 8 symbols
    const int s = dec.decode(r);
    if (s == escape)
      skip(out, pos, ud, i, what);
    else
      place(out, pos, static_cast<uint64_t>(s / 2), static_cast<unsigned>(s % 2), i++, what);
  }
  r.expect_end();
}

WeightCodingSizes weight_coding_sizes(std::span<const int32_t> codes) {
  WeightCodingSizes z;
  z.count = static_cast<int64_t>(codes.size());
  for (size_t i = 0; i < codes.size(); ++i) {
    const int32_t c = codes[i];
    if (c < -1 || c > 1) not_ternary(i, c);
    (c < 0 ? z.minus : c > 0 ? z.plus : z.zeros)++;
  }
  for (int64_t k : {z.minus, z.zeros, z.plus})
    if (k) z.entropy_bits -= static_cast<double>(k) * std::log2(static_cast<double>(k) / static_cast<double>(z.count));
  z.dense1_bits = z.count;
  z.dense2_bits = 2 * z.count;
  const std::vector<uint8_t> rle = rle_encode(codes);
  z.rle_bits = static_cast<int64_t>(rle.size()) * 8;
  z.rle_field_bits = rle[0];
  const std::vector<uint8_t> huf = huffman_encode(codes);
  z.huffman_bits = static_cast<int64_t>(huf.size()) * 8;
  z.huffman_run_symbols = static_cast<int64_t>(get_le(huf, 0, 2));
  return z;
}

}  // namespace lowbit::format
