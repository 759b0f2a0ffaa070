// Compressed weights in the model description (format/model_desc.hpp WriteOptions, the
// "rle" and "huffman" encodings): the default writes what it always wrote; a compressed
// file reads back to the same description (so the runtime, hardware and interop readers
// see the same codes) and runs to the same scores; auto takes the smallest blob per layer;
// a corrupt compressed blob is an error naming the layer; a few bytes cannot make the
// reader allocate a huge layer (kMaxDecodedWeightsPerByte).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "format/desc_test_util.hpp"
#include "lowbit/core/rng.hpp"
#include "lowbit/format/lbm.hpp"
#include "lowbit/format/limits.hpp"
#include "lowbit/format/model_desc.hpp"
#include "lowbit/format/weight_coding.hpp"
#include "lowbit/runtime/engine.hpp"
#include "test_util.hpp"

namespace lowbit {
namespace {

using format::CodeFormat;
using format::LayerDesc;
using format::LayerKind;
using format::ModelDesc;
using format::WeightCoding;
using json = nlohmann::json;
using testing::desc_json;
using testing::expect_error_naming;
using testing::read_desc_bytes;
using Bytes = std::vector<uint8_t>;

void random_ternary(LayerDesc& l, double zeros, Rng& rng) {
  l.weights.resize(static_cast<size_t>(l.out * l.in_fan()));
  for (int32_t& w : l.weights) w = rng.uniform_double() < zeros ? 0 : (rng.below(2) ? 1 : -1);
}

void random_thresholds(LayerDesc& l, Rng& rng) {
  l.negated.assign(static_cast<size_t>(l.out), 0);
  for (uint8_t& n : l.negated) n = rng.below(4) == 0;
  l.output = CodeFormat::plus_minus_one();
  l.levels = 1;
  l.thresholds.resize(static_cast<size_t>(l.out));
  for (int32_t& t : l.thresholds) t = static_cast<int32_t>(rng.below(9)) - 4;
}

// 8x8 2-bit images; a 3x3 convolution with 70% zero ternary weights into +-1 codes; a
// 1024 -> 256 dense layer with 96% zeros; a 256 -> 128 binary (pm1) layer; a dense score
// layer with int8 weights (-3..3): one layer of each kind the writer must treat.
ModelDesc sparse_desc(uint64_t seed) {
  Rng rng(seed);
  ModelDesc d;
  d.name = "sparse";
  d.input.shape = {1, 8, 8};
  d.input.codes = CodeFormat::unsigned_bits(2);
  for (int p = 0; p < 256; ++p) d.input.table[static_cast<size_t>(p)] = static_cast<uint8_t>(p / 64);
  LayerDesc c;
  c.kind = LayerKind::kConv;
  c.name = "conv2d@1";
  c.in_h = 8, c.in_w = 8, c.in_c = 1, c.out = 16;
  c.input = d.input.codes;
  c.kernel_h = c.kernel_w = 3, c.pad_h = c.pad_w = 1;
  random_ternary(c, 0.7, rng);
  random_thresholds(c, rng);
  LayerDesc f;
  f.name = "dense@3";
  f.in_h = 8, f.in_w = 8, f.in_c = 16, f.out = 256;  // the conv's 8x8x16 map
  f.input = c.output;
  random_ternary(f, 0.96, rng);
  random_thresholds(f, rng);
  LayerDesc b = f;
  b.name = "dense@5";
  b.in_h = 1, b.in_w = 1, b.in_c = 256, b.out = 128;
  random_ternary(b, 0.0, rng);
  random_thresholds(b, rng);
  LayerDesc s;
  s.name = "dense@7";
  s.in_c = 128, s.out = 10;
  s.input = b.output;
  s.weights.resize(static_cast<size_t>(s.out * s.in_fan()));
  for (int32_t& w : s.weights) w = static_cast<int32_t>(rng.below(7)) - 3;
  s.negated.assign(10, 0);
  s.scores = true;
  s.score.scale.assign(10, 0.25f);
  d.layers = {c, f, b, s};
  return d;
}

format::WriteOptions coding(WeightCoding c) {
  format::WriteOptions o;
  o.weights = c;
  return o;
}

std::vector<std::string> encodings(const Bytes& bytes) {
  std::vector<std::string> e;
  const json m = desc_json(bytes);  // kept: a range-for over a temporary's member dangles
  for (const json& l : m.at("layers")) e.push_back(l.at("weights").at("encoding"));
  return e;
}

std::vector<uint64_t> weight_bytes(const Bytes& bytes) {
  std::vector<uint64_t> v;
  for (const auto& s : format::stored_weights(format::LbmFile::parse(bytes.data(), bytes.size(), "m.lbm")))
    v.push_back(s.bytes);
  return v;
}

TEST(ModelDescCoding, TheDefaultWritesDenseEncodingsAsBefore) {
  const ModelDesc d = sparse_desc(1);
  const Bytes plain = format::model_desc_bytes(d);
  EXPECT_EQ(format::model_desc_bytes(d, coding(WeightCoding::kDense)), plain);
  EXPECT_EQ(encodings(plain), (std::vector<std::string>{"int8", "int8", "pm1", "int8"}));
  EXPECT_EQ(desc_json(plain).at("version"), format::kModelDescMinVersion);  // no version bump
}

TEST(ModelDescCoding, CompressedFilesReadBackToTheSameDescription) {
  const ModelDesc d = sparse_desc(2);
  const Bytes plain = format::model_desc_bytes(d);
  for (WeightCoding c : {WeightCoding::kRle, WeightCoding::kHuffman, WeightCoding::kAuto}) {
    SCOPED_TRACE(format::weight_coding_name(c));
    const Bytes bytes = format::model_desc_bytes(d, coding(c));
    // Read back and written dense, it is the dense file: every field, every weight.
    EXPECT_EQ(format::model_desc_bytes(read_desc_bytes(bytes)), plain);
    EXPECT_LT(bytes.size(), plain.size());
    EXPECT_EQ(desc_json(bytes).at("version"), format::kModelDescMinVersion);
  }
  // Explicit codings compress every ternary layer (the binary one too); int8 codes beyond
  // +-1 stay dense.
  EXPECT_EQ(encodings(format::model_desc_bytes(d, coding(WeightCoding::kRle))),
            (std::vector<std::string>{"rle", "rle", "rle", "int8"}));
  EXPECT_EQ(encodings(format::model_desc_bytes(d, coding(WeightCoding::kHuffman))),
            (std::vector<std::string>{"huffman", "huffman", "huffman", "int8"}));
}

TEST(ModelDescCoding, AutoTakesTheSmallestBlobOfEachLayer) {
  const ModelDesc d = sparse_desc(3);
  const std::vector<uint64_t> dense = weight_bytes(format::model_desc_bytes(d));
  const std::vector<uint64_t> rle = weight_bytes(format::model_desc_bytes(d, coding(WeightCoding::kRle)));
  const std::vector<uint64_t> huf = weight_bytes(format::model_desc_bytes(d, coding(WeightCoding::kHuffman)));
  const Bytes bytes = format::model_desc_bytes(d, coding(WeightCoding::kAuto));
  const std::vector<uint64_t> best = weight_bytes(bytes);
  const std::vector<std::string> enc = encodings(bytes);
  for (size_t i = 0; i < best.size(); ++i) {
    EXPECT_EQ(best[i], std::min({dense[i], rle[i], huf[i]})) << "layer " << i;
    if (best[i] == dense[i]) {
      EXPECT_TRUE(enc[i] == "int8" || enc[i] == "pm1") << "dense on a tie, layer " << i;
    }
  }
  EXPECT_EQ(enc[1], "huffman");  // 96% zeros: Huffman beats RLE and 8 bits a weight
  EXPECT_EQ(enc[2], "pm1");      // binary: one bit a weight beats both
}

TEST(ModelDescCoding, TheRuntimeRunsACompressedFileToTheSameScores) {
  const ModelDesc d = sparse_desc(4);
  Rng rng(9);
  const int64_t n = 16;
  std::vector<uint8_t> images(static_cast<size_t>(n * 64));
  for (uint8_t& p : images) p = static_cast<uint8_t>(rng.below(256));
  auto scores = [&](const Bytes& bytes) {
    runtime::Engine e = runtime::Engine::from_bytes(bytes, "m.lbm");
    std::vector<float> s(static_cast<size_t>(n * 10));
    std::vector<int32_t> pred(static_cast<size_t>(n));
    e.run(images.data(), n, 1, 8, 8, s.data(), pred.data());
    return s;
  };
  const std::vector<float> dense = scores(format::model_desc_bytes(d));
  EXPECT_EQ(scores(format::model_desc_bytes(d, coding(WeightCoding::kHuffman))), dense);
  EXPECT_EQ(scores(format::model_desc_bytes(d, coding(WeightCoding::kRle))), dense);
}

// The file with one blob replaced (same JSON).
Bytes with_blob(const Bytes& bytes, const std::string& name, const Bytes& blob) {
  const format::LbmFile file = format::LbmFile::parse(bytes.data(), bytes.size(), "m.lbm");
  format::LbmWriter w;
  for (const auto& s : file.sections()) {
    if (s.kind == format::SectionKind::kJson)
      w.add_json(s.name, file.json_text(s.name));
    else if (s.name == name)
      w.add_blob(s.name, blob.data(), blob.size());
    else
      w.add_blob(s.name, s.data, s.size);
  }
  return w.bytes();
}

TEST(ModelDescCoding, ACorruptCompressedBlobNamesTheLayer) {
  const ModelDesc d = sparse_desc(5);
  const Bytes bytes = format::model_desc_bytes(d, coding(WeightCoding::kHuffman));
  const format::LbmFile file = format::LbmFile::parse(bytes.data(), bytes.size(), "m.lbm");
  const format::LbmSection& s = file.get("layer1.weights", format::SectionKind::kBlob);
  const Bytes blob(s.data, s.data + s.size);
  expect_error_naming([&] { read_desc_bytes(with_blob(bytes, "layer1.weights", Bytes(blob.begin(), blob.end() - 3))); },
                      "layer 1: weights: huffman: truncated");
  Bytes more = blob;
  more.push_back(0);
  expect_error_naming([&] { read_desc_bytes(with_blob(bytes, "layer1.weights", more)); },
                      "layer 1: weights: huffman: 1 trailing bytes");
  // The RLE of another layer's codes in its place: the counts disagree with the layer.
  const Bytes rle = format::model_desc_bytes(d, coding(WeightCoding::kRle));
  const format::LbmFile rf = format::LbmFile::parse(rle.data(), rle.size(), "m.lbm");
  const format::LbmSection& r0 = rf.get("layer0.weights", format::SectionKind::kBlob);
  const format::LbmSection& r2 = rf.get("layer2.weights", format::SectionKind::kBlob);
  expect_error_naming([&] { read_desc_bytes(with_blob(rle, "layer0.weights", Bytes(r2.data, r2.data + r2.size))); },
                      "layer 0: weights: rle");
  (void)r0;
}

TEST(ModelDescCoding, UnknownEncodingsAreRefusedByName) {
  const ModelDesc d = sparse_desc(6);
  expect_error_naming(
      [&] { testing::read_edited_desc(d, [](json& m) { m["layers"][1]["weights"]["encoding"] = "zstd"; }); },
      "unknown weight encoding 'zstd' (pm1, int8, int16, rle, huffman)");
  expect_error_naming([] { format::parse_weight_coding("gzip"); }, "dense, rle, huffman, auto");
  for (WeightCoding c : {WeightCoding::kDense, WeightCoding::kRle, WeightCoding::kHuffman, WeightCoding::kAuto})
    EXPECT_EQ(format::parse_weight_coding(format::weight_coding_name(c)), c);
}

// A flat input of `features` values, one dense layer of `out` all-zero weights, scores.
ModelDesc zero_desc(int64_t features, int64_t out) {
  ModelDesc d;
  d.name = "zeros";
  d.input.shape = {features};
  d.input.codes = CodeFormat::unsigned_bits(1);
  for (int p = 0; p < 256; ++p) d.input.table[static_cast<size_t>(p)] = p >= 128;
  LayerDesc s;
  s.in_c = features, s.out = out;
  s.input = d.input.codes;
  s.weights.assign(static_cast<size_t>(features * out), 0);
  s.negated.assign(static_cast<size_t>(out), 0);
  s.scores = true;
  s.score.scale.assign(static_cast<size_t>(out), 1.f);
  d.layers = {s};
  return d;
}

// A few bytes of RLE describe any number of zeros: the reader bounds what a file's
// compressed layers may expand to (kMaxDecodedWeightsPerByte codes per byte of the file)
// before it allocates, and the writer keeps under that bound.
TEST(ModelDescCoding, ASmallFileCannotClaimAHugeCompressedLayer) {
  // An all-zero layer, written: 64 x 8 reads back.
  const ModelDesc small = zero_desc(64, 8);
  const Bytes ok = format::model_desc_bytes(small, coding(WeightCoding::kRle));
  EXPECT_EQ(read_desc_bytes(ok).layers[0].weights, small.layers[0].weights);
  // The same file edited to claim 256^3 = 2^24 inputs: 2^27 codes (512 MiB) from a 5-byte
  // blob.
  const format::LbmFile file = format::LbmFile::parse(ok.data(), ok.size(), "m.lbm");
  json m = json::parse(file.json_text("model"));
  m["input"]["shape"] = {256, 256, 256};
  m["layers"][0]["in_shape"] = {1, 1, int64_t{1} << 24};
  format::LbmWriter w;
  w.add_json("model", m.dump());
  for (const auto& s : file.sections())
    if (s.name != "model") w.add_blob(s.name, s.data, s.size);
  expect_error_naming([&] { read_desc_bytes(w.bytes()); }, "decompression bomb");

  // The writer: 65536 x 80 zeros would be 5 bytes of RLE, beyond the bound; rle refuses,
  // auto stores the layer dense.
  const ModelDesc big = zero_desc(65536, 80);
  expect_error_naming([&] { format::model_desc_bytes(big, coding(WeightCoding::kRle)); },
                      "codes per byte");
  const Bytes dense = format::model_desc_bytes(big, coding(WeightCoding::kAuto));
  EXPECT_EQ(encodings(dense), (std::vector<std::string>{"int8"}));
  EXPECT_EQ(read_desc_bytes(dense).layers[0].weights.size(), big.layers[0].weights.size());
}

}  // namespace
}  // namespace lowbit
