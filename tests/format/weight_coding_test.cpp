// Compressed ternary weights (format/weight_coding.hpp, huffman.hpp): lossless round trips
// from dense to 99.9% sparse, the edge streams of both codecs (empty, single weights, runs
// at and beyond the RLE field and the Huffman escape), the documented bit layout pinned by
// hand-computed bytes, length-limited Huffman against an exhaustive oracle, every decoder
// check, a mutation loop that may only ever throw lowbit::Error, and the acceptance:
// Huffman on runs within 10% of the order-0 entropy bound at iid sparsities 90-98%.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <map>
#include <queue>

#include "lowbit/core/rng.hpp"
#include "lowbit/format/huffman.hpp"
#include "lowbit/format/weight_coding.hpp"
#include "test_util.hpp"

namespace lowbit {
namespace {

using format::huffman_decode;
using format::huffman_encode;
using format::rle_decode;
using format::rle_encode;
using testing::expect_error_naming;
using Codes = std::vector<int32_t>;
using Bytes = std::vector<uint8_t>;

// n iid codes: 0 with probability `zeros`, else -1 with probability `minus` (of nonzeros).
Codes random_codes(size_t n, double zeros, uint64_t seed, double minus = 0.5) {
  Rng rng(seed);
  Codes c(n);
  for (int32_t& x : c) x = rng.uniform_double() < zeros ? 0 : (rng.uniform_double() < minus ? -1 : 1);
  return c;
}

Codes rle_back(const Bytes& blob, size_t n) {
  Codes out(n, 7);  // not zero: the decoder must write every code
  rle_decode(blob, out);
  return out;
}

Codes huffman_back(const Bytes& blob, size_t n) {
  Codes out(n, 7);
  huffman_decode(blob, out);
  return out;
}

void expect_round_trips(const Codes& c, const std::string& what) {
  SCOPED_TRACE(what);
  EXPECT_EQ(rle_back(rle_encode(c), c.size()), c);
  EXPECT_EQ(huffman_back(huffman_encode(c), c.size()), c);
}

// The zeros followed by one weight: `zeros` 0s then `w`.
Codes run_then(size_t zeros, int32_t w) {
  Codes c(zeros, 0);
  c.push_back(w);
  return c;
}

TEST(WeightCoding, RoundTripsFromDenseToNearlyEmpty) {
  uint64_t seed = 1;
  for (double zeros : {0.0, 0.1, 0.5, 0.9, 0.95, 0.976, 0.99, 0.999})
    for (size_t n : {size_t{1}, size_t{7}, size_t{100}, size_t{4099}, size_t{30000}})
      for (double minus : {0.5, 0.1, 1.0}) expect_round_trips(random_codes(n, zeros, seed++, minus), cat(n, " codes, ", zeros, " zeros, ", minus, " minus"));
}

TEST(WeightCoding, EveryRleWidthAndRunSymbolCountRoundTrips) {
  const Codes c = random_codes(5000, 0.97, 3);
  for (int b = format::kRleMinFieldBits; b <= format::kRleMaxFieldBits; ++b)
    EXPECT_EQ(rle_back(rle_encode(c, b), c.size()), c) << "b = " << b;
  for (int64_t d : {int64_t{1}, int64_t{2}, int64_t{3}, int64_t{33}, int64_t{255}, int64_t{4096}})
    EXPECT_EQ(huffman_back(huffman_encode(c, d), c.size()), c) << "D = " << d;
}

TEST(WeightCoding, EdgeStreams) {
  std::vector<std::pair<std::string, Codes>> cases = {
      {"empty", {}},
      {"all zeros", Codes(1000, 0)},
      {"one +1", {1}},
      {"one -1", {-1}},
      {"single nonzero at the start", [] { Codes c(500, 0); c[0] = -1; return c; }()},
      {"single nonzero at the end", run_then(499, 1)},
      {"leading and trailing zero runs", [] { Codes c(300, 0); c[120] = 1; c[121] = -1; c[200] = 1; return c; }()},
      {"all +1", Codes(777, 1)},
      {"all -1", Codes(777, -1)},
      {"binary (pm1) stream", [] { Codes c = random_codes(1001, 0.0, 9); return c; }()},
      {"one huge run", run_then(100000, -1)},
  };
  for (const auto& [what, c] : cases) {
    expect_round_trips(c, what);
    for (int b : {1, 2, 3, 8, 32}) EXPECT_EQ(rle_back(rle_encode(c, b), c.size()), c) << what << ", b = " << b;
    for (int64_t d : {int64_t{1}, int64_t{4}, int64_t{4096}})
      EXPECT_EQ(huffman_back(huffman_encode(c, d), c.size()), c) << what << ", D = " << d;
  }
}

// The RLE field of b bits holds runs up to 2^b - 2; 2^b - 1 is the escape (that many zeros
// and no weight), so a run r takes floor(r / (2^b - 1)) escapes and one more entry.
TEST(WeightCoding, RleRunsAtTheFieldLimitTakeEscapes) {
  const int b = 3;  // escape = 7 zeros
  for (size_t run : {size_t{5}, size_t{6}, size_t{7}, size_t{8}, size_t{13}, size_t{14}, size_t{15}, size_t{7 * 5 + 2}}) {
    const Codes c = run_then(run, -1);
    const Bytes blob = rle_encode(c, b);
    const size_t entries = 1 + run / 7;
    EXPECT_EQ(blob.size(), format::kRleHeaderBytes + (entries * (b + 1) + 7) / 8) << "run " << run;
    EXPECT_EQ(rle_back(blob, c.size()), c) << "run " << run;
  }
  // The same for the Huffman escape (D zeros, no weight).
  for (size_t run : {size_t{3}, size_t{4}, size_t{5}, size_t{8}, size_t{4 * 6 + 1}}) {
    const Codes c = run_then(run, 1);
    EXPECT_EQ(huffman_back(huffman_encode(c, 4), c.size()), c) << "run " << run;
  }
}

// docs/FORMAT.md's bit layout, by hand: runs 2 (+1), 1 (-1), 9 (+1) with b = 2 (escape 3):
// entries (field | sign << 2) 010, 101, then 011 011 011 (three escapes) and 000, LSB
// first: bits 0101 0111 | 0110 1100 | 00 -> bytes 0xEA 0x36 0x00.
TEST(WeightCoding, RleBitLayoutIsTheDocumentedOne) {
  const Codes c = {0, 0, 1, 0, -1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0};
  const Bytes blob = rle_encode(c, 2);
  EXPECT_EQ(blob, (Bytes{0x02, 0x03, 0x00, 0x00, 0x00, 0xEA, 0x36, 0x00}));
  EXPECT_EQ(rle_back(blob, c.size()), c);
}

// D = 1: symbols 0 (run 0, +1), 1 (run 0, -1), 2 (escape: one zero). The stream 0, +1 x 4,
// -1 has frequencies {4, 1, 1}: lengths {1, 2, 2}, canonical codes 0, 10, 11. Codes go out
// most significant bit first: escape 11, then 0 0 0 0, then 10 -> bits 1100 0010 -> 0x43.
TEST(WeightCoding, HuffmanBitLayoutIsTheDocumentedOne) {
  const Codes c = {0, 1, 1, 1, 1, -1};
  const Bytes blob = huffman_encode(c, 1);
  EXPECT_EQ(blob, (Bytes{0x01, 0x00, 0x05, 0x00, 0x00, 0x00, 0x21, 0x02, 0x43}));
  EXPECT_EQ(huffman_back(blob, c.size()), c);
  // Two symbols of one bit each; a single symbol gets the one-bit code 0.
  EXPECT_EQ(huffman_encode(Codes{1, -1}, 1), (Bytes{0x01, 0x00, 0x02, 0x00, 0x00, 0x00, 0x11, 0x00, 0x02}));
  EXPECT_EQ(huffman_encode(Codes{1, 1, 1}, 1), (Bytes{0x01, 0x00, 0x03, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00}));
}

// ---- length-limited Huffman ----

uint64_t cost(const std::vector<uint64_t>& f, const std::vector<uint8_t>& len) {
  uint64_t c = 0;
  for (size_t i = 0; i < f.size(); ++i) c += f[i] * len[i];
  return c;
}

double kraft(const std::vector<uint8_t>& len) {
  double k = 0;
  for (uint8_t l : len)
    if (l) k += std::ldexp(1.0, -l);
  return k;
}

// The optimal cost with lengths in 1..max_len, by trying every length vector (small n).
uint64_t brute_force_cost(const std::vector<uint64_t>& f, int max_len) {
  uint64_t best = UINT64_MAX;
  std::vector<uint8_t> len(f.size(), 1);
  std::function<void(size_t)> go = [&](size_t i) {
    if (i == f.size()) {
      if (kraft(len) <= 1.0) best = std::min(best, cost(f, len));
      return;
    }
    for (int l = 1; l <= max_len; ++l) len[i] = static_cast<uint8_t>(l), go(i + 1);
  };
  go(0);
  return best;
}

// The classic (unlimited) Huffman cost: sum of the merged weights.
uint64_t huffman_cost(const std::vector<uint64_t>& f) {
  std::priority_queue<uint64_t, std::vector<uint64_t>, std::greater<>> q(f.begin(), f.end());
  uint64_t c = 0;
  while (q.size() > 1) {
    const uint64_t a = q.top();
    q.pop();
    const uint64_t b = q.top();
    q.pop();
    c += a + b;
    q.push(a + b);
  }
  return c;
}

TEST(Huffman, PackageMergeIsOptimalUnderTheLimit) {
  Rng rng(5);
  for (int trial = 0; trial < 200; ++trial) {
    const size_t n = 2 + rng.below(5);
    const int max_len = static_cast<int>(std::max<uint64_t>(1 + rng.below(4), static_cast<uint64_t>(std::ceil(std::log2(n)))));
    std::vector<uint64_t> f(n);
    for (uint64_t& x : f) x = 1 + rng.below(rng.below(2) ? 1000 : 5);
    const std::vector<uint8_t> len = format::huffman_code_lengths(f, max_len);
    EXPECT_EQ(cost(f, len), brute_force_cost(f, max_len)) << "trial " << trial;
    EXPECT_DOUBLE_EQ(kraft(len), 1.0);
    for (uint8_t l : len) EXPECT_LE(l, max_len);
  }
}

TEST(Huffman, MatchesPlainHuffmanWhenTheLimitDoesNotBindAndHoldsItWhenItDoes) {
  Rng rng(6);
  std::vector<uint64_t> f(300);
  for (uint64_t& x : f) x = 1 + rng.below(10000);
  EXPECT_EQ(cost(f, format::huffman_code_lengths(f, 24)), huffman_cost(f));
  // Fibonacci frequencies make plain Huffman codes as deep as the alphabet (40 symbols).
  std::vector<uint64_t> fib = {1, 1};
  while (fib.size() < 40) fib.push_back(fib[fib.size() - 1] + fib[fib.size() - 2]);
  const std::vector<uint8_t> len = format::huffman_code_lengths(fib, 15);
  EXPECT_EQ(*std::max_element(len.begin(), len.end()), 15);
  EXPECT_DOUBLE_EQ(kraft(len), 1.0);
  EXPECT_GE(cost(fib, len), huffman_cost(fib));
  // Unused symbols get no code; more symbols than 2^max_length is an error.
  EXPECT_EQ(format::huffman_code_lengths({0, 5, 0, 5}, 15), (std::vector<uint8_t>{0, 1, 0, 1}));
  expect_error_naming([] { format::huffman_code_lengths(std::vector<uint64_t>(5, 1), 2); }, "do not fit");
}

// ---- decoder checks ----

TEST(WeightCoding, RleDecoderRefusesBadStreams) {
  const Codes c = {0, 0, 1, 0, -1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0};
  const Bytes good = rle_encode(c, 2);  // 02 | 03 00 00 00 | EA 36 00
  auto decode = [&](Bytes b, size_t n) { return [b, n] { rle_back(b, n); }; };
  expect_error_naming(decode(Bytes{0x02, 0x03}, c.size()), "truncated header");
  expect_error_naming(decode(Bytes{0x00, 0, 0, 0, 0}, c.size()), "field width 0");
  expect_error_naming(decode(Bytes{33, 0, 0, 0, 0}, c.size()), "field width 33");
  Bytes many = good;
  many[1] = 200;  // m = 200 > n
  expect_error_naming(decode(many, c.size()), "200 nonzero weights in a layer of 17");
  Bytes more = good;
  more[1] = 10;  // ten weights need 30 bits; the stream has 24
  expect_error_naming(decode(more, c.size()), "10 nonzero weights need at least 30 bits");
  // Without the last byte the sixth entry (bits 15..17) is cut.
  expect_error_naming(decode(Bytes(good.begin(), good.end() - 1), c.size()), "truncated: needs 2 bits at bit 15");
  expect_error_naming(decode(good, 3), "nonzero weight 1 at position 4 is past the layer's 3 weights");
  expect_error_naming(decode(good, 10), "escape before nonzero weight 2");  // the second escape reaches 11
  Bytes sign = good;
  sign[6] |= 0x01;  // stream bit 8: the sign bit of the first escape (bits 6..8)
  expect_error_naming(decode(sign, c.size()), "escape with its sign bit set");
  Bytes pad = good;
  pad[7] = 0x04;  // bit 18: padding
  expect_error_naming(decode(pad, c.size()), "nonzero padding");
  Bytes trailing = good;
  trailing.push_back(0);
  expect_error_naming(decode(trailing, c.size()), "1 trailing bytes");
  EXPECT_EQ(rle_back(good, c.size()), c);  // the unedited blob decodes
}

TEST(WeightCoding, HuffmanDecoderRefusesBadStreams) {
  const Codes c = {0, 1, 1, 1, 1, -1};
  const Bytes good = huffman_encode(c, 1);  // 01 00 | 05 00 00 00 | 21 02 | 43
  auto decode = [&](Bytes b, size_t n) { return [b, n] { huffman_back(b, n); }; };
  expect_error_naming(decode(Bytes{1, 0, 5}, c.size()), "truncated header");
  expect_error_naming(decode(Bytes{0, 0, 0, 0, 0, 0, 0}, c.size()), "0 run symbols");
  expect_error_naming(decode(Bytes{0x01, 0x10, 0, 0, 0, 0}, c.size()), "4097 run symbols");
  expect_error_naming(decode(Bytes(good.begin(), good.begin() + 7), c.size()), "truncated code lengths");
  Bytes over = good;
  over[6] = 0x11, over[7] = 0x01;  // three codes of one bit
  expect_error_naming(decode(over, c.size()), "over-subscribed");
  Bytes incomplete = good;
  incomplete[6] = 0x21, incomplete[7] = 0x03;  // 1, 2, 3 bits: one 3-bit code unassigned
  expect_error_naming(decode(incomplete, c.size()), "incomplete");
  Bytes nibble = good;
  nibble[7] |= 0x10;  // the padding nibble after symbol 2D
  expect_error_naming(decode(nibble, c.size()), "padding nibble");
  Bytes none = good;
  none[2] = 0;  // m = 0 with code lengths
  expect_error_naming(decode(none, c.size()), "code lengths for 0 nonzero weights");
  expect_error_naming(decode(Bytes{1, 0, 2, 0, 0, 0, 0, 0}, c.size()), "no code lengths for 2");
  expect_error_naming(decode(good, 3), "5 nonzero weights in a layer of 3");
  expect_error_naming(decode(good, 5), "past the layer's 5 weights");
  Bytes trailing = good;
  trailing.push_back(0);
  expect_error_naming(decode(trailing, c.size()), "1 trailing bytes");
  Bytes more = good;
  more[2] = 6;  // a sixth weight: the stream ends
  expect_error_naming(decode(more, c.size()), "truncated");
  // A single one-bit code is 0; the bit 1 is no code.
  const Bytes single = huffman_encode(Codes{1, 1, 1}, 1);
  Bytes bad_code = single;
  bad_code.back() = 0x02;  // 0, then 1 and fifteen more bits that start no code
  bad_code.push_back(0);
  expect_error_naming(decode(bad_code, 3), "invalid Huffman code");
  expect_error_naming([] { format::CanonicalDecoder({16, 1, 1}, 15, "w"); }, "code length 16 of symbol 0 exceeds 15");
  EXPECT_EQ(huffman_back(good, c.size()), c);
}

TEST(WeightCoding, EncodersRefuseWhatTheyCannotHold) {
  expect_error_naming([] { rle_encode(Codes{0, 2, 1}); }, "code 1 is 2");
  expect_error_naming([] { huffman_encode(Codes{-3}); }, "code 0 is -3");
  expect_error_naming([] { rle_encode(Codes{1}, 0); }, "field width 0");
  expect_error_naming([] { huffman_encode(Codes{1}, 4097); }, "4097 run symbols");
  EXPECT_TRUE(format::is_ternary(Codes{-1, 0, 1}));
  EXPECT_FALSE(format::is_ternary(Codes{-1, 0, 2}));
}

// Bit flips, byte edits, truncations and appends of valid blobs: every decode either
// succeeds or throws lowbit::Error (anything else fails the test; ASan builds also catch
// out-of-bounds reads). An RLE stream is canonical for its b: a mutant that decodes is the
// encoding of what it decodes to.
TEST(WeightCoding, MutatedStreamsDecodeOrThrowLowbitErrors) {
  Rng rng(11);
  std::vector<Codes> streams = {random_codes(300, 0.9, 1), random_codes(64, 0.5, 2), run_then(40, 1), Codes(50, 0),
                                random_codes(2000, 0.99, 3)};
  int decoded = 0, refused = 0;
  for (const Codes& c : streams)
    for (int codec = 0; codec < 2; ++codec) {
      const Bytes good = codec ? huffman_encode(c) : rle_encode(c);
      for (int trial = 0; trial < 400; ++trial) {
        Bytes b = good;
        for (int edits = 1 + static_cast<int>(rng.below(3)); edits; --edits) {
          switch (rng.below(4)) {
            case 0: if (!b.empty()) b[rng.below(b.size())] ^= static_cast<uint8_t>(1u << rng.below(8)); break;
            case 1: if (!b.empty()) b[rng.below(b.size())] = static_cast<uint8_t>(rng.next_u32()); break;
            case 2: b.resize(rng.below(b.size() + 1)); break;
            default: b.push_back(static_cast<uint8_t>(rng.next_u32()));
          }
        }
        const size_t n = rng.below(4) ? c.size() : rng.below(2 * c.size() + 2);
        Codes out(n);
        try {
          if (codec)
            huffman_decode(b, out);
          else
            rle_decode(b, out);
          ++decoded;
          EXPECT_TRUE(format::is_ternary(out));
          if (!codec) {
            EXPECT_EQ(rle_encode(out, b[0]), b);
          }
        } catch (const Error&) {
          ++refused;
        }
      }
    }
  EXPECT_GT(refused, 1000);
  EXPECT_GT(decoded, 10);  // some mutants are valid streams (a flipped sign, a moved weight)
}

// ---- sizes ----

// The acceptance (thesis section 3.2.4, Table 3.2): Huffman on the runs within 10% of
// the order-0 entropy bound n * H(p-, p0, p+) at iid sparsities of 90-98%, on an LFC-sized
// 784 x 1024 layer. RLE is larger, but within 15%.
TEST(WeightCoding, HuffmanIsWithinTenPercentOfTheEntropyBound) {
  uint64_t seed = 20;
  for (double zeros : {0.90, 0.92, 0.95, 0.976, 0.98}) {
    const Codes c = random_codes(784 * 1024, zeros, seed++);
    const format::WeightCodingSizes z = format::weight_coding_sizes(c);
    // The bound from the counts, computed here.
    std::map<int32_t, double> count;
    for (int32_t x : c) count[x] += 1;
    double h = 0;
    for (const auto& [code, k] : count) h -= k * std::log2(k / static_cast<double>(c.size()));
    EXPECT_NEAR(z.entropy_bits, h, 1e-6 * h);
    EXPECT_EQ(z.count, static_cast<int64_t>(c.size()));
    EXPECT_EQ(z.zeros, static_cast<int64_t>(count[0]));
    EXPECT_EQ(z.dense2_bits, 2 * z.count);
    EXPECT_EQ(z.huffman_bits, static_cast<int64_t>(huffman_encode(c).size()) * 8);
    EXPECT_EQ(z.rle_bits, static_cast<int64_t>(rle_encode(c).size()) * 8);
    EXPECT_GE(static_cast<double>(z.huffman_bits), h) << zeros;  // no code beats the bound on iid data
    EXPECT_LE(static_cast<double>(z.huffman_bits), 1.10 * h) << zeros << " zeros: huffman " << z.huffman_bits
                                                             << " bits, bound " << h;
    EXPECT_LE(static_cast<double>(z.rle_bits), 1.15 * h) << zeros;  // fixed-width fields: 7-10% above here
    std::cout << "[ sizes    ] 784x1024 at " << zeros << " zeros: entropy " << std::lround(h) << ", huffman "
              << z.huffman_bits << " (D " << z.huffman_run_symbols << "), rle " << z.rle_bits << " (b "
              << z.rle_field_bits << "), 2-bit " << z.dense2_bits << " bits\n";
  }
}

TEST(WeightCoding, BestParametersAreTheSmallest) {
  const Codes c = random_codes(20000, 0.95, 30);
  const size_t best_rle = rle_encode(c).size();
  for (int b = format::kRleMinFieldBits; b <= format::kRleMaxFieldBits; ++b) EXPECT_LE(best_rle, rle_encode(c, b).size());
  const size_t best_huffman = huffman_encode(c).size();
  for (int64_t d : {1, 2, 4, 8, 16, 19, 23, 27, 32, 64, 128})  // grid values
    EXPECT_LE(best_huffman, huffman_encode(c, d).size()) << d;
}

TEST(WeightCoding, LargeLayerRoundTrips) {
  const Codes c = random_codes(1024 * 1024, 0.95, 40);
  expect_round_trips(c, "1024 x 1024 at 95% zeros");
  const Codes sparse = random_codes(1024 * 1024, 0.999, 41);
  expect_round_trips(sparse, "1024 x 1024 at 99.9% zeros");
}

}  // namespace
}  // namespace lowbit
