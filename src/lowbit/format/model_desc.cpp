#include "lowbit/format/model_desc.hpp"

#include <algorithm>
#include <array>
#include <bit>
#include <climits>
#include <cmath>
#include <cstring>
#include <nlohmann/json.hpp>

#include "lowbit/core/error.hpp"
#include "lowbit/core/json_get.hpp"
#include "lowbit/format/lbm.hpp"
#include "lowbit/format/limits.hpp"
#include "lowbit/format/weight_coding.hpp"

namespace lowbit::format {

namespace {

using json = nlohmann::json;

static_assert(std::endian::native == std::endian::little, "blobs are little-endian; add byte swapping for this host");

int64_t product(int64_t a, int64_t b) { return a * b; }  // operands are range-checked first

std::string layer_where(size_t i) { return "layer " + std::to_string(i); }

// ---- validation (shared by writer and reader) ----

void validate_codes(const CodeFormat& c, const std::string& where) {
  LOWBIT_CHECK(c.pm1 ? c.bits == 1 : c.bits >= 1 && c.bits <= kMaxCodeBits, where, ": ", c.bits,
               "-bit codes (1..", kMaxCodeBits, ")");
  LOWBIT_CHECK(c.pm1 ? c.zero_point == 0 : c.zero_point >= 0 && c.zero_point <= (1 << c.bits) - 1, where,
               ": zero point ", c.zero_point, " of ", c.str(), " codes (0..2^bits - 1; none for +-1 codes)");
  LOWBIT_CHECK(c.count >= 1 && c.count <= kMaxSumCount, where, ": sums of ", c.count, " codes (1..", kMaxSumCount,
               ")");
  LOWBIT_CHECK(c.planes() <= kMaxCodeBits, where, ": ", c.str(), " codes take ", c.planes(), " bit-planes (at most ",
               kMaxCodeBits, ")");
}

// Codes a threshold set or the input table produces: one code per value, no sums.
void validate_single_codes(const CodeFormat& c, const std::string& where) {
  validate_codes(c, where);
  LOWBIT_CHECK(c.count == 1, where, ": ", c.str(), " (sums come only from a layer's sum_pool)");
}

void check_finite(const std::vector<float>& v, const std::string& where, const char* what) {
  for (size_t i = 0; i < v.size(); ++i)
    LOWBIT_CHECK(std::isfinite(v[i]), where, ": ", what, " of class ", i, " is ", v[i], " (not finite)");
}

void validate_input(const InputDesc& in) {
  LOWBIT_CHECK(in.shape.size() == 3 || in.shape.size() == 1, "input shape must be [C, H, W] or [features]");
  int64_t numel = 1;
  for (int64_t d : in.shape) {
    LOWBIT_CHECK(d >= 1 && d <= kMaxInputDim, "input shape dimension ", d, " outside 1..", kMaxInputDim);
    numel *= d;
  }
  LOWBIT_CHECK(numel <= kMaxInputValues, "input of ", numel, " values is too large (at most ", kMaxInputValues, ")");
  validate_single_codes(in.codes, "input");
  const int max_level = in.codes.levels();
  for (int p = 0; p < 256; ++p)
    LOWBIT_CHECK(in.table[static_cast<size_t>(p)] <= max_level, "input table level ", int(in.table[static_cast<size_t>(p)]),
                 " for pixel ", p, " exceeds ", max_level);
}

void validate_conv(const LayerDesc& l, const CodeFormat& codes, bool first, bool conv_input, const std::string& where);

// A pooling window (max or sum) over an h x w map.
void validate_pool(const PoolDesc& p, const char* what, int64_t h, int64_t w, const std::string& where) {
  if (!p.kernel) {
    LOWBIT_CHECK(p.stride == 0, where, ": ", what, " stride without a kernel");
    return;
  }
  LOWBIT_CHECK(p.kernel >= 1 && p.kernel <= kMaxPool && p.stride >= 1 && p.stride <= kMaxStride, where, ": ", what,
               " ", p.kernel, " stride ", p.stride, " (kernel 1..", kMaxPool, ", stride 1..", kMaxStride, ")");
  LOWBIT_CHECK(p.kernel <= h && p.kernel <= w, where, ": ", what, " ", p.kernel, " does not fit the ", h, "x", w,
               " map");
}

// The geometry of layer `l` against the map it receives; sizes only (no vectors).
void validate_geometry(const LayerDesc& l, const std::array<int64_t, 3>& map, const CodeFormat& codes, bool first,
                       bool conv_input, const std::string& where) {
  LOWBIT_CHECK(l.in_h == map[0] && l.in_w == map[1] && l.in_c == map[2], where, ": input map [", l.in_h, ",", l.in_w,
               ",", l.in_c, "] differs from the previous layer's output [", map[0], ",", map[1], ",", map[2], "]");
  LOWBIT_CHECK(l.out >= 1 && l.out <= kMaxOutputs, where, ": ", l.out, " outputs (1..", kMaxOutputs, ")");
  validate_codes(l.input, where + ": input");
  LOWBIT_CHECK(l.input == codes, where, ": input codes ", l.input.str(), " differ from what the ",
               first ? "input table" : "previous layer", " produces (", codes.str(), ")");
  if (l.kind == LayerKind::kDense) {
    LOWBIT_CHECK(!(first && conv_input), where, ": an image input [C, H, W] read as a map needs a convolutional first layer");
    LOWBIT_CHECK(l.pool.kernel == 0, where, ": max pooling after a dense layer");
    LOWBIT_CHECK(l.sum_pool.kernel == 0, where, ": sum pooling after a dense layer");
  } else {
    validate_conv(l, codes, first, conv_input, where);
  }
  // Per-image and per-layer sizes, before any vector of these sizes is trusted or allocated
  // (the window of a dense layer is its whole input map).
  LOWBIT_CHECK(l.in_h * l.in_w <= kMaxInputValues && l.in_h * l.in_w * l.in_c <= kMaxInputValues, where,
               ": input map of ", l.in_h, "x", l.in_w, "x", l.in_c, " values is too large");
  LOWBIT_CHECK(l.in_fan() <= kMaxInputValues, where, ": ", l.in_fan(), " inputs per output (at most ",
               kMaxInputValues, ")");
  LOWBIT_CHECK(l.conv_h() * l.conv_w() * l.out <= (int64_t{1} << 26), where, ": ", l.conv_h(), "x", l.conv_w(), "x",
               l.out, " outputs per image are too many");
  LOWBIT_CHECK(product(l.out, l.in_fan()) <= kMaxLayerWeights, where, ": ", l.out, " x ", l.in_fan(),
               " weights are too many");
}

// The convolution's own geometry: kernel, stride, padding and its value, pooling.
void validate_conv(const LayerDesc& l, const CodeFormat& codes, bool first, bool conv_input, const std::string& where) {
  LOWBIT_CHECK(!first || conv_input, where, ": a convolutional first layer needs an image input [C, H, W]");
  LOWBIT_CHECK(l.kernel_h >= 1 && l.kernel_h <= kMaxKernel && l.kernel_w >= 1 && l.kernel_w <= kMaxKernel, where,
               ": kernel ", l.kernel_h, "x", l.kernel_w, " (sides 1..", kMaxKernel, ")");
  LOWBIT_CHECK(l.stride >= 1 && l.stride <= kMaxStride, where, ": stride ", l.stride, " (1..", kMaxStride, ")");
  LOWBIT_CHECK(l.pad_h >= 0 && l.pad_w >= 0 && l.pad_h < l.kernel_h && l.pad_w < l.kernel_w, where, ": padding ",
               l.pad_h, "x", l.pad_w, " must be smaller than the ", l.kernel_h, "x", l.kernel_w,
               " kernel (a valid tap in every window)");
  LOWBIT_CHECK(l.kernel_h <= l.in_h + 2 * l.pad_h && l.kernel_w <= l.in_w + 2 * l.pad_w, where, ": kernel ",
               l.kernel_h, "x", l.kernel_w, " with padding ", l.pad_h, "x", l.pad_w, " does not fit the ", l.in_h, "x",
               l.in_w, " input");
  LOWBIT_CHECK(l.pad_value >= -1 && l.pad_value <= 1, where, ": pad_value ", l.pad_value, " (-1, 0 or +1)");
  LOWBIT_CHECK(l.pad_value == 0 || (codes.pm1 && codes.count == 1 && (l.pad_h || l.pad_w)), where, ": pad_value ",
               l.pad_value, " needs +-1 inputs (not sums) and padding");
  validate_pool(l.pool, "pooling", l.conv_h(), l.conv_w(), where);
  validate_pool(l.sum_pool, "sum pooling", l.pooled_h(), l.pooled_w(), where);
}

// One threshold per level of the output codes (thresholds for fewer levels would leave
// codes unreachable; export pads unreachable levels with INT32_MAX instead).
void check_levels(const LayerDesc& l, const std::string& where) {
  LOWBIT_CHECK(l.levels == l.output.levels(), where, ": ", l.levels, " threshold levels for ", l.output.str(),
               " output codes (", l.output.levels(), ")");
}

// The window sums of a sum pooling fit the planes every consumer handles (format/limits.hpp).
void check_sum_bits(const LayerDesc& l, const std::string& where) {
  const int64_t n = l.sum_window();
  const int64_t max_sum = n * l.output.levels();
  const int bits = static_cast<int>(std::bit_width(static_cast<uint64_t>(max_sum)));
  LOWBIT_CHECK(bits <= kMaxCodeBits, where, ": ", l.sum_pool.kernel, "x", l.sum_pool.kernel, " sum pooling of ",
               l.output.str(), " codes needs ", bits, "-bit sums; the format takes up to ", kMaxCodeBits);
}

// SYQ's grouped scales (LayerDesc::tap_group) of threshold layer l: its tap groups, their
// scales and the float thresholds.
void validate_groups(const LayerDesc& l, const std::string& where) {
  LOWBIT_CHECK(l.kind == LayerKind::kConv, where, ": tap groups on a dense layer");
  LOWBIT_CHECK(!l.has_shortcut(), where, ": tap groups and a shortcut on one layer");
  const int64_t taps = l.kernel_h * l.kernel_w, G = l.groups();
  LOWBIT_CHECK(static_cast<int64_t>(l.tap_group.size()) == taps, where, ": ", l.tap_group.size(), " tap groups for a ",
               l.kernel_h, "x", l.kernel_w, " kernel");
  LOWBIT_CHECK(G >= 1 && G <= taps, where, ": ", G, " group scales (1..", taps, ")");
  for (int32_t g : l.tap_group) LOWBIT_CHECK(g >= 0 && g < G, where, ": tap group ", g, " (0..", G - 1, ")");
  for (float s : l.group_scale)
    LOWBIT_CHECK(std::isfinite(s) && s > 0.f, where, ": group scale ", s, " (positive and finite)");
  LOWBIT_CHECK(l.thresholds.empty(), where, ": integer thresholds on a layer with tap groups (it has float ones)");
  LOWBIT_CHECK(static_cast<int64_t>(l.float_thresholds.size()) == product(l.out, l.levels), where, ": ",
               l.float_thresholds.size(), " float thresholds for ", l.out, " x ", l.levels);
  for (int64_t c = 0; c < l.out; ++c)
    for (int k = 0; k < l.levels; ++k) {
      const float t = l.float_thresholds[static_cast<size_t>(c * l.levels + k)];
      LOWBIT_CHECK(!std::isnan(t), where, ": float threshold of channel ", c, " is NaN");
      LOWBIT_CHECK(k == 0 || l.float_thresholds[static_cast<size_t>(c * l.levels + k - 1)] <= t, where,
                   ": thresholds of channel ", c, " are not sorted");
    }
}

// Everything of layer l but its geometry: vector sizes, codes, thresholds, score constants.
void validate_contents(const LayerDesc& l, bool last, const std::string& where) {
  const int64_t K = l.in_fan();
  LOWBIT_CHECK(static_cast<int64_t>(l.weights.size()) == product(l.out, K), where, ": ", l.weights.size(),
               " weights for ", l.out, " x ", K);
  const int32_t wmax = l.max_abs_weight();
  LOWBIT_CHECK(wmax <= kMaxWeightCode, where, ": weight code ", wmax, " beyond +-", kMaxWeightCode,
               " (int:8 or fewer weight bits)");
  LOWBIT_CHECK(accumulators_fit_int32(K, wmax), where, ": ", K, " inputs with weight codes up to ", wmax,
               " could overflow int32 accumulators");
  LOWBIT_CHECK(static_cast<int64_t>(l.negated.size()) == l.out, where, ": ", l.negated.size(),
               " negated flags for ", l.out, " outputs");
  for (uint8_t v : l.negated) LOWBIT_CHECK(v <= 1, where, ": a negated flag is ", int(v), " (0 or 1)");
  if (l.scores) {
    LOWBIT_CHECK(last, where, ": only the last layer produces scores");
    LOWBIT_CHECK(l.kind == LayerKind::kDense, where, ": the score layer must be dense");
    const size_t M = static_cast<size_t>(l.out);
    const ScoresDesc& s = l.score;
    LOWBIT_CHECK(s.scale.size() == M && (s.bias.empty() || s.bias.size() == M), where, ": score constants for ",
                 s.scale.size(), " classes, not ", M);
    const bool bn = !s.bn_mean.empty() || !s.bn_scale.empty() || !s.bn_shift.empty();
    LOWBIT_CHECK(!bn || (s.bn_mean.size() == M && s.bn_scale.size() == M && s.bn_shift.size() == M), where,
                 ": BatchNorm constants for other than ", M, " classes");
    check_finite(s.scale, where, "the score scale");
    check_finite(s.bias, where, "the score bias");
    check_finite(s.bn_mean, where, "the BatchNorm mean");
    check_finite(s.bn_scale, where, "the BatchNorm scale");
    check_finite(s.bn_shift, where, "the BatchNorm shift");
    return;
  }
  LOWBIT_CHECK(!last, where, ": the last layer does not produce scores");
  validate_single_codes(l.output, where + ": output");
  check_sum_bits(l, where);
  check_levels(l, where);
  if (l.grouped()) {
    validate_groups(l, where);
    return;
  }
  LOWBIT_CHECK(l.group_scale.empty() && l.float_thresholds.empty(), where,
               ": group scales or float thresholds without tap groups");
  const int64_t sets = l.threshold_sets();
  LOWBIT_CHECK(static_cast<int64_t>(l.thresholds.size()) == product(product(l.out, sets), l.levels), where, ": ",
               l.thresholds.size(), " thresholds for ", l.out, " x ", sets, " x ", l.levels);
  for (int64_t c = 0; c < l.out; ++c)
    for (int s = 0; s < sets; ++s) {
      const int32_t* t = l.threshold_set(c, s);
      for (int k = 1; k < l.levels; ++k)
        LOWBIT_CHECK(t[k - 1] <= t[k], where, ": thresholds of channel ", c,
                     sets > 1 ? cat(" for shortcut level ", s) : std::string(), " are not sorted");
    }
}

// A shortcut (LayerDesc::shortcut_from) of layer i: an earlier layer's input map of the
// shape of this layer's threshold map, its codes single, and a threshold table of bounded
// size; sizes only, so the reader can run it before reading the thresholds.
// `i`: the layer's index; `before`: layers 0..i-1.
void validate_shortcut(const LayerDesc& l, size_t i, const LayerDesc* before, const std::string& where) {
  if (!l.has_shortcut()) return;
  LOWBIT_CHECK(!l.scores, where, ": the score layer has a shortcut (only threshold layers take one)");
  LOWBIT_CHECK(l.shortcut_from >= 1 && static_cast<size_t>(l.shortcut_from) <= i, where, ": shortcut from layer ",
               l.shortcut_from, " (this layer or an earlier one after the first, 1..", i, ")");
  const LayerDesc& f = static_cast<size_t>(l.shortcut_from) == i ? l : before[l.shortcut_from];
  LOWBIT_CHECK(l.shortcut == f.input, where, ": shortcut codes ", l.shortcut.str(), " differ from layer ",
               l.shortcut_from, "'s input codes ", f.input.str());
  validate_single_codes(l.shortcut, where + ": shortcut");
  LOWBIT_CHECK(l.pool.kernel == 0, where, ": max pooling with a shortcut (the thresholds read the shortcut per pixel "
               "before any pooling)");
  LOWBIT_CHECK(f.in_h == l.pooled_h() && f.in_w == l.pooled_w() && f.in_c == l.out, where, ": shortcut map [", f.in_h,
               ",", f.in_w, ",", f.in_c, "] (layer ", l.shortcut_from, "'s input) differs from this layer's output [",
               l.pooled_h(), ",", l.pooled_w(), ",", l.out, "]");
  LOWBIT_CHECK(product(product(l.out, l.threshold_sets()), l.levels) <= kMaxLayerWeights, where, ": ", l.out, " x ",
               l.threshold_sets(), " x ", l.levels, " shortcut thresholds are too many");
}

// ---- JSON <-> structs ----

// {"format": "pm1"}, {"format": "unsigned", "bits": b} or, with a zero point,
// {"format": "affine", "bits": b, "zero_point": z} (a format of its own name, so that a
// reader that does not know zero points refuses the file instead of reading levels as
// values); "count": n for sums of n codes (absent = 1, so descriptions without sum pooling
// read and write as before).
json codes_json(const CodeFormat& c) {
  json j = c.pm1 ? json{{"format", "pm1"}} : json{{"format", "unsigned"}, {"bits", c.bits}};
  if (!c.pm1 && c.zero_point) j = json{{"format", "affine"}, {"bits", c.bits}, {"zero_point", c.zero_point}};
  if (c.count != 1) j["count"] = c.count;
  return j;
}

CodeFormat parse_codes(const json& j, const std::string& where) {
  const std::string f = json_string(j, "format", where);
  LOWBIT_CHECK(f == "pm1" || f == "unsigned" || f == "affine", where, ": unknown code format '", f,
               "' (pm1, unsigned or affine)");
  CodeFormat c = f == "pm1" ? CodeFormat::plus_minus_one()
                            : CodeFormat::unsigned_bits(static_cast<int>(json_int(j, "bits", 1, kMaxCodeBits, where)));
  if (f == "affine") c.zero_point = static_cast<int>(json_int(j, "zero_point", 1, (1 << c.bits) - 1, where));
  c.count = static_cast<int>(json_int_or(j, "count", 1, 1, kMaxSumCount, where));
  return c;
}

json pool_json(const PoolDesc& p) { return {{"kernel", p.kernel}, {"stride", p.stride}}; }

PoolDesc parse_pool(const json& p, const std::string& where) {
  return {json_int(p, "kernel", 1, kMaxPool, where), json_int(p, "stride", 1, kMaxStride, where)};
}

class BlobWriter {
 public:
  explicit BlobWriter(LbmWriter& w) : w_(w) {}
  template <class T>
  std::string add(const std::string& name, const std::vector<T>& v) {
    w_.add_blob(name, v.data(), v.size() * sizeof(T));
    return name;
  }

 private:
  LbmWriter& w_;
};

// Weight codes: "pm1" when every code is -1 or +1 (one bit each, bit 1 = +1, LSB first,
// densely in canonical order), else int8 or int16 little-endian.
std::string weight_encoding(const LayerDesc& l) {
  bool pm1 = true;
  int32_t wmax = 0;
  for (int32_t w : l.weights) {
    pm1 = pm1 && (w == 1 || w == -1);
    wmax = std::max(wmax, w < 0 ? -w : w);
  }
  if (pm1) return "pm1";
  return wmax <= 127 ? "int8" : "int16";
}

std::vector<uint8_t> encode_weights(const std::vector<int32_t>& w, const std::string& enc) {
  if (enc == "pm1") {
    std::vector<uint8_t> out((w.size() + 7) / 8, 0);
    for (size_t i = 0; i < w.size(); ++i)
      if (w[i] > 0) out[i / 8] = static_cast<uint8_t>(out[i / 8] | (1u << (i % 8)));
    return out;
  }
  const size_t width = enc == "int8" ? 1 : 2;
  std::vector<uint8_t> out(w.size() * width);
  for (size_t i = 0; i < w.size(); ++i) {
    if (width == 1) {
      out[i] = static_cast<uint8_t>(static_cast<int8_t>(w[i]));
    } else {
      const auto v = static_cast<int16_t>(w[i]);
      std::memcpy(out.data() + 2 * i, &v, 2);
    }
  }
  return out;
}

// A layer's weights as the writer stores them: the encoding's name and the blob.
struct StoredBlob {
  std::string encoding;
  std::vector<uint8_t> blob;
  bool compressed() const { return encoding == "rle" || encoding == "huffman"; }
};

StoredBlob dense_blob(const LayerDesc& l) {
  const std::string enc = weight_encoding(l);
  return {enc, encode_weights(l.weights, enc)};
}

StoredBlob choose_blob(const LayerDesc& l, WeightCoding coding) {
  if (coding == WeightCoding::kDense || !is_ternary(l.weights)) return dense_blob(l);
  if (coding == WeightCoding::kRle) return {"rle", rle_encode(l.weights)};
  if (coding == WeightCoding::kHuffman) return {"huffman", huffman_encode(l.weights)};
  StoredBlob best = dense_blob(l);  // kAuto: the first smallest of dense, rle, huffman
  for (StoredBlob c : {StoredBlob{"rle", rle_encode(l.weights)}, StoredBlob{"huffman", huffman_encode(l.weights)}})
    if (c.blob.size() < best.blob.size()) best = std::move(c);
  return best;
}

// The reader's decompression-bomb bound (kMaxDecodedWeightsPerByte), checked against the
// weight blobs and the input table only (the reader also counts the JSON and the other
// blobs, so a file that passes here passes there). Auto stores the layer that expands most
// dense until the file fits; an explicit rle or huffman is refused.
void fit_decoded_bound(const ModelDesc& d, std::vector<StoredBlob>& blobs, WeightCoding coding) {
  for (;;) {
    uint64_t bytes = 256, codes = 0;
    size_t worst = blobs.size();
    double worst_ratio = 0;
    for (size_t i = 0; i < blobs.size(); ++i) {
      bytes += blobs[i].blob.size();
      if (!blobs[i].compressed()) continue;
      codes += d.layers[i].weights.size();
      const double ratio = static_cast<double>(d.layers[i].weights.size()) / static_cast<double>(blobs[i].blob.size());
      if (ratio > worst_ratio) worst = i, worst_ratio = ratio;
    }
    if (codes <= bytes * static_cast<uint64_t>(kMaxDecodedWeightsPerByte)) return;
    LOWBIT_CHECK(coding == WeightCoding::kAuto, layer_where(worst), ": ", codes, " compressed weight codes in ", bytes,
                 " bytes exceed the reader's bound of ", kMaxDecodedWeightsPerByte,
                 " codes per byte (format/limits.hpp); write with --weight-coding auto or dense");
    blobs[worst] = dense_blob(d.layers[worst]);
  }
}

const LbmSection& any_blob_section(const LbmFile& f, const json& name_value, const std::string& where) {
  const std::string name = json_string(name_value, where + ": the section name");
  const LbmSection* s = f.find(name);
  LOWBIT_CHECK(s && s->kind == SectionKind::kBlob, where, ": no blob section '", name, "'");
  return *s;
}

const LbmSection& blob_section(const LbmFile& f, const json& name_value, uint64_t bytes, const std::string& where) {
  const LbmSection& s = any_blob_section(f, name_value, where);
  LOWBIT_CHECK(s.size == bytes, where, ": section '", s.name, "' has ", s.size, " bytes, expected ", bytes);
  return s;
}

template <class T>
std::vector<T> read_blob(const LbmFile& f, const json& name_value, size_t count, const std::string& where) {
  const LbmSection& s = blob_section(f, name_value, count * sizeof(T), where);
  std::vector<T> v(count);
  if (count) std::memcpy(v.data(), s.data, s.size);
  return v;
}

// `compressed_left`: the codes compressed blobs may still expand to in this file
// (kMaxDecodedWeightsPerByte), decremented here.
std::vector<int32_t> read_weights(const LbmFile& f, const json& w, size_t count, uint64_t& compressed_left,
                                  const std::string& where) {
  // The blob must hold exactly `count` codes before anything is allocated: the vector is
  // then at most 32 times the file's bytes (pm1), 4 times its bytes otherwise.
  const std::string enc = json_string(w, "encoding", where);
  if (enc == "rle" || enc == "huffman") {
    // `count` comes from the checked geometry, but a few bytes can claim it: the file-wide
    // bound comes before the allocation.
    const LbmSection& s = any_blob_section(f, json_member(w, "blob", where), where);
    LOWBIT_CHECK(count <= compressed_left, where, ": ", enc, " blob of ", s.size, " bytes for ", count,
                 " codes: the file's compressed layers expand beyond ", kMaxDecodedWeightsPerByte,
                 " codes per byte of the file (a decompression bomb?)");
    compressed_left -= count;
    std::vector<int32_t> out(count);
    const std::span<const uint8_t> blob(s.data, static_cast<size_t>(s.size));
    if (enc == "rle")
      rle_decode(blob, out, where + ": rle");
    else
      huffman_decode(blob, out, where + ": huffman");
    return out;
  }
  if (enc == "pm1") {
    const LbmSection& s = blob_section(f, json_member(w, "blob", where), (count + 7) / 8, where);
    std::vector<int32_t> out(count);
    for (size_t i = 0; i < count; ++i) out[i] = (s.data[i / 8] >> (i % 8)) & 1u ? 1 : -1;
    return out;
  }
  LOWBIT_CHECK(enc == "int8" || enc == "int16", where, ": unknown weight encoding '", enc, "' (pm1, int8, int16, rle, huffman)");
  const size_t width = enc == "int8" ? 1 : 2;
  const LbmSection& s = blob_section(f, json_member(w, "blob", where), count * width, where);
  std::vector<int32_t> out(count);
  for (size_t i = 0; i < count; ++i) {
    if (width == 1) {
      out[i] = static_cast<int8_t>(s.data[i]);
    } else {
      int16_t v;
      std::memcpy(&v, s.data + 2 * i, 2);
      out[i] = v;
    }
  }
  return out;
}


}  // namespace

int64_t LayerDesc::max_abs_accumulator() const {
  const int64_t max_x = std::max<int64_t>(input.max_abs_value(), std::abs(pad_value));
  const int64_t k_n = in_fan();
  int64_t max_row = 0;
  for (int64_t o = 0; o < out; ++o) {
    int64_t row = 0;
    for (int64_t k = 0; k < k_n; ++k) row += std::abs(int64_t{weights[static_cast<size_t>(o * k_n + k)]});
    max_row = std::max(max_row, row);
  }
  return max_row * max_x;
}

int32_t LayerDesc::max_abs_weight() const {
  int32_t m = 0;
  for (int32_t w : weights) m = std::max(m, w < 0 ? (w == INT32_MIN ? INT32_MAX : -w) : w);
  return m;
}

std::array<int64_t, 3> input_map(const std::vector<int64_t>& shape, LayerKind first) {
  if (shape.size() == 3 && first == LayerKind::kConv) return {shape[1], shape[2], shape[0]};
  int64_t numel = 1;
  for (int64_t v : shape) numel *= v;
  return {1, 1, numel};
}

void validate(const ModelDesc& d) {
  validate_input(d.input);
  LOWBIT_CHECK(!d.layers.empty() && static_cast<int64_t>(d.layers.size()) <= kMaxLayers, "a model has 1..",
               kMaxLayers, " layers, this one ", d.layers.size());
  const LayerKind first = d.layers.front().kind;
  const bool conv_input = d.input.shape.size() == 3 && first == LayerKind::kConv;
  std::array<int64_t, 3> map = input_map(d.input.shape, first);
  CodeFormat codes = d.input.codes;
  for (size_t i = 0; i < d.layers.size(); ++i) {
    const LayerDesc& l = d.layers[i];
    const std::string where = layer_where(i);
    validate_geometry(l, map, codes, i == 0, conv_input, where);
    validate_shortcut(l, i, d.layers.data(), where);
    validate_contents(l, i + 1 == d.layers.size(), where);
    map = {l.out_h(), l.out_w(), l.out};
    if (!l.scores) codes = l.out_codes();
  }
}

const char* weight_coding_name(WeightCoding c) {
  switch (c) {
    case WeightCoding::kDense: return "dense";
    case WeightCoding::kRle: return "rle";
    case WeightCoding::kHuffman: return "huffman";
    case WeightCoding::kAuto: return "auto";
  }
  return "?";
}

WeightCoding parse_weight_coding(const std::string& name) {
  for (WeightCoding c : {WeightCoding::kDense, WeightCoding::kRle, WeightCoding::kHuffman, WeightCoding::kAuto})
    if (name == weight_coding_name(c)) return c;
  fail("unknown weight coding '", name, "' (dense, rle, huffman, auto)");
}

void write_model_desc(const ModelDesc& d, LbmWriter& w, const WriteOptions& opt) {
  validate(d);
  std::vector<StoredBlob> weight_blobs;
  for (const LayerDesc& l : d.layers) weight_blobs.push_back(choose_blob(l, opt.weights));
  fit_decoded_bound(d, weight_blobs, opt.weights);
  BlobWriter blobs(w);
  json input = {{"shape", d.input.shape},
                {"codes", codes_json(d.input.codes)},
                {"table", blobs.add("input.table", std::vector<uint8_t>(d.input.table.begin(), d.input.table.end()))},
                {"quantizer", d.input.quantizer},
                {"normalize", d.input.normalize}};
  json layers = json::array();
  for (size_t i = 0; i < d.layers.size(); ++i) {
    const LayerDesc& l = d.layers[i];
    const std::string p = "layer" + std::to_string(i);
    json j = {{"op", l.kind == LayerKind::kConv ? "conv" : "dense"},
              {"name", l.name},
              {"in_shape", {l.in_h, l.in_w, l.in_c}},
              {"out", l.out},
              {"input", codes_json(l.input)}};
    if (l.kind == LayerKind::kConv) {
      j["kernel"] = {l.kernel_h, l.kernel_w};
      j["stride"] = l.stride;
      j["padding"] = {l.pad_h, l.pad_w};
      j["pad_value"] = l.pad_value;
      if (l.pool.kernel) j["pool"] = pool_json(l.pool);
      if (l.sum_pool.kernel) j["sum_pool"] = pool_json(l.sum_pool);
    }
    const StoredBlob& wb = weight_blobs[i];
    j["weights"] = {{"blob", blobs.add(p + ".weights", wb.blob)}, {"encoding", wb.encoding}};
    json neg = json::array();
    for (int64_t r = 0; r < l.out; ++r)
      if (l.negated[static_cast<size_t>(r)]) neg.push_back(r);
    j["negated"] = neg;
    if (l.scores) {
      json o = {{"format", "scores"}, {"scale", blobs.add(p + ".scale", l.score.scale)}};
      if (!l.score.bias.empty()) o["bias"] = blobs.add(p + ".bias", l.score.bias);
      if (!l.score.bn_mean.empty())
        o["bn"] = {{"mean", blobs.add(p + ".bn_mean", l.score.bn_mean)},
                   {"scale", blobs.add(p + ".bn_scale", l.score.bn_scale)},
                   {"shift", blobs.add(p + ".bn_shift", l.score.bn_shift)}};
      j["output"] = o;
    } else {
      json o = codes_json(l.output);
      o["levels"] = l.levels;
      if (l.grouped()) {
        // A name of its own, so that a reader that does not know tap groups finds no
        // "thresholds" and refuses the layer.
        o["float_thresholds"] = blobs.add(p + ".float_thresholds", l.float_thresholds);
        j["groups"] = {{"count", l.groups()}, {"taps", l.tap_group}, {"scale", blobs.add(p + ".group_scale", l.group_scale)}};
      } else {
        o["thresholds"] = blobs.add(p + ".thresholds", l.thresholds);
      }
      j["output"] = o;
      if (l.has_shortcut()) j["shortcut"] = {{"from", l.shortcut_from}};
    }
    layers.push_back(j);
  }
  // The lowest version that holds the description (kModelDescVersion's comment).
  const bool shortcuts = std::any_of(d.layers.begin(), d.layers.end(),
                                     [](const LayerDesc& l) { return l.has_shortcut() || l.grouped(); });
  const int version = shortcuts ? kModelDescVersion : kModelDescMinVersion;
  const json m = {{"kind", "lowbit-model"}, {"version", version}, {"name", d.name},
                  {"classes", d.classes()}, {"input", input},          {"layers", layers}};
  w.add_json("model", m.dump(1));
}

std::vector<uint8_t> model_desc_bytes(const ModelDesc& desc, const WriteOptions& opt) {
  LbmWriter w;
  write_model_desc(desc, w, opt);
  return w.bytes();
}

namespace {

ModelDesc read_desc(const LbmFile& file) {
  const json m = parse_json_strict(file.json_text("model"), "section 'model'");
  LOWBIT_CHECK(m.is_object() && m.value("kind", json()) == "lowbit-model", "not a lowbit model (kind ",
               m.is_object() ? m.value("kind", json()).dump() : m.dump().substr(0, 20), ")");
  const int64_t version = m.contains("version") ? json_int(m, "version", 1, 1 << 20, "model") : 1;
  LOWBIT_CHECK(version >= kModelDescMinVersion && version <= kModelDescVersion, "model description version ", version,
               "; this lowbit reads versions ", kModelDescMinVersion, "..", kModelDescVersion,
               version < kModelDescVersion
                   ? " (the file was written by an older lowbit export): export the checkpoint again"
                   : " (the file was written by a newer lowbit)");
  // The decompression-bomb bound of compressed weights, over the whole file's sections.
  uint64_t file_bytes = 0;
  for (const LbmSection& s : file.sections()) file_bytes += s.size;
  uint64_t compressed_left = file_bytes * static_cast<uint64_t>(kMaxDecodedWeightsPerByte);
  ModelDesc d;
  d.name = json_string(m, "name", "model");
  const int64_t classes = json_int(m, "classes", 1, kMaxOutputs, "model");
  const json& in = json_member(m, "input", "model");
  d.input.shape = json_ints(in, "shape", 3, 1, kMaxInputDim, "input");
  d.input.codes = parse_codes(json_member(in, "codes", "input"), "input: codes");
  const std::vector<uint8_t> table = read_blob<uint8_t>(file, json_member(in, "table", "input"), 256, "input");
  std::copy(table.begin(), table.end(), d.input.table.begin());
  d.input.quantizer = json_string_or(in, "quantizer", "", "input");
  d.input.normalize = json_string_or(in, "normalize", "", "input");
  validate_input(d.input);

  const json& ls = json_member(m, "layers", "model");
  LOWBIT_CHECK(ls.is_array() && !ls.empty() && static_cast<int64_t>(ls.size()) <= kMaxLayers,
               "'layers' must be an array of 1..", kMaxLayers, " layers");
  // Geometry first, layer by layer, so that every blob size below is a product of checked
  // numbers (validate() then re-checks the whole description).
  const LayerKind first = ls[0].is_object() && ls[0].value("op", json()) == "conv" ? LayerKind::kConv : LayerKind::kDense;
  const bool conv_input = d.input.shape.size() == 3 && first == LayerKind::kConv;
  std::array<int64_t, 3> map = input_map(d.input.shape, first);
  CodeFormat codes = d.input.codes;
  for (size_t i = 0; i < ls.size(); ++i) {
    const json& j = ls[i];
    const std::string where = layer_where(i);
    LayerDesc l;
    const std::string op = json_string(j, "op", where);
    LOWBIT_CHECK(op == "dense" || op == "conv", where, ": unknown op '", op, "' (this lowbit knows: dense, conv)");
    l.kind = op == "conv" ? LayerKind::kConv : LayerKind::kDense;
    l.name = json_string_or(j, "name", "", where);
    const auto shape = json_ints(j, "in_shape", 3, 1, kMaxInputValues, where);
    LOWBIT_CHECK(shape.size() == 3, where, ": in_shape must be [h, w, c]");
    l.in_h = shape[0], l.in_w = shape[1], l.in_c = shape[2];
    l.out = json_int(j, "out", 1, kMaxOutputs, where);
    l.input = parse_codes(json_member(j, "input", where), where + ": input");
    if (l.kind == LayerKind::kConv) {
      const auto k = json_ints(j, "kernel", 2, 1, kMaxKernel, where);
      const auto pad = json_ints(j, "padding", 2, 0, kMaxKernel, where);
      LOWBIT_CHECK(k.size() == 2 && pad.size() == 2, where, ": kernel and padding are [h, w] pairs");
      l.kernel_h = k[0], l.kernel_w = k[1], l.pad_h = pad[0], l.pad_w = pad[1];
      l.stride = json_int(j, "stride", 1, kMaxStride, where);
      l.pad_value = static_cast<int>(json_int(j, "pad_value", -1, 1, where));
      if (j.contains("pool")) l.pool = parse_pool(j.at("pool"), where + ": pool");
    }
    // Read for either op, so that a dense layer carrying one is refused, not misread.
    if (j.contains("sum_pool")) l.sum_pool = parse_pool(j.at("sum_pool"), where + ": sum_pool");
    validate_geometry(l, map, codes, i == 0, conv_input, where);  // bounds every blob size below
    const json& w = json_member(j, "weights", where);
    l.weights = read_weights(file, w, static_cast<size_t>(l.out * l.in_fan()), compressed_left, where + ": weights");
    l.negated.assign(static_cast<size_t>(l.out), 0);
    for (int64_t r : json_ints(j, "negated", static_cast<size_t>(l.out), 0, l.out - 1, where))
      l.negated[static_cast<size_t>(r)] = 1;
    const json& o = json_member(j, "output", where);
    const std::string owhere = where + ": output";
    if (json_string(o, "format", owhere) == "scores") {
      LOWBIT_CHECK(!j.contains("shortcut"), where, ": the score layer has a shortcut (only threshold layers take one)");
      LOWBIT_CHECK(!j.contains("groups"), where, ": the score layer has tap groups (only threshold layers take them)");
      l.scores = true;
      const size_t M = static_cast<size_t>(l.out);
      l.score.scale = read_blob<float>(file, json_member(o, "scale", owhere), M, owhere);
      if (o.contains("bias")) l.score.bias = read_blob<float>(file, o.at("bias"), M, owhere);
      if (o.contains("bn")) {
        const json& bn = o.at("bn");
        l.score.bn_mean = read_blob<float>(file, json_member(bn, "mean", owhere + ": bn"), M, owhere);
        l.score.bn_scale = read_blob<float>(file, json_member(bn, "scale", owhere + ": bn"), M, owhere);
        l.score.bn_shift = read_blob<float>(file, json_member(bn, "shift", owhere + ": bn"), M, owhere);
      }
    } else {
      l.output = parse_codes(o, owhere);
      validate_single_codes(l.output, owhere);
      check_sum_bits(l, where);
      l.levels = static_cast<int>(json_int(o, "levels", 1, l.output.levels(), owhere));
      check_levels(l, where);
      if (j.contains("shortcut")) {
        LOWBIT_CHECK(version >= 3, where, ": a shortcut in a version ", version, " description");
        l.shortcut_from = static_cast<int>(json_int(json_member(j, "shortcut", where), "from", 1,
                                                    static_cast<int64_t>(i), where + ": shortcut"));
        l.shortcut = static_cast<size_t>(l.shortcut_from) == i ? l.input : d.layers[static_cast<size_t>(l.shortcut_from)].input;
        validate_shortcut(l, i, d.layers.data(), where);  // bounds the thresholds' size
      }
      if (j.contains("groups")) {
        LOWBIT_CHECK(version >= 3, where, ": tap groups in a version ", version, " description");
        LOWBIT_CHECK(l.kind == LayerKind::kConv, where, ": tap groups on a dense layer");
        const json& g = j.at("groups");
        const int64_t taps = l.kernel_h * l.kernel_w;
        const int64_t count = json_int(g, "count", 1, taps, where + ": groups");
        for (int64_t t : json_ints(g, "taps", static_cast<size_t>(taps), 0, count - 1, where + ": groups"))
          l.tap_group.push_back(static_cast<int32_t>(t));
        LOWBIT_CHECK(static_cast<int64_t>(l.tap_group.size()) == taps, where, ": groups: 'taps' must list ", taps,
                     " groups");
        l.group_scale = read_blob<float>(file, json_member(g, "scale", where + ": groups"), static_cast<size_t>(count),
                                         where + ": groups");
        l.float_thresholds = read_blob<float>(file, json_member(o, "float_thresholds", owhere),
                                              static_cast<size_t>(l.out * l.levels), owhere);
      } else {
        l.thresholds = read_blob<int32_t>(file, json_member(o, "thresholds", owhere),
                                          static_cast<size_t>(l.out * l.threshold_sets() * l.levels), owhere);
      }
    }
    map = {l.out_h(), l.out_w(), l.out};
    if (!l.scores) codes = l.out_codes();
    d.layers.push_back(std::move(l));
  }
  validate(d);
  LOWBIT_CHECK(d.classes() == classes, "'classes' is ", classes, " but the score layer has ", d.classes(), " outputs");
  return d;
}

}  // namespace

std::vector<StoredWeights> stored_weights(const LbmFile& file) {
  const json m = parse_json_strict(file.json_text("model"), "section 'model'");
  const json& ls = json_member(m, "layers", "model");
  LOWBIT_CHECK(ls.is_array(), "'layers' must be an array");
  std::vector<StoredWeights> out;
  for (size_t i = 0; i < ls.size(); ++i) {
    const std::string where = layer_where(i) + ": weights";
    const json& w = json_member(ls[i], "weights", layer_where(i));
    out.push_back({json_string(w, "encoding", where), any_blob_section(file, json_member(w, "blob", where), where).size});
  }
  return out;
}

ModelDesc read_model_desc(const LbmFile& file) {
  try {
    return read_desc(file);
  } catch (const json::exception& e) {  // every access is checked first; this is a safety net
    fail("model description: ", e.what());
  }
}

}  // namespace lowbit::format
