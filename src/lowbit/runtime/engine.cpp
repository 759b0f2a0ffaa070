#include "lowbit/runtime/engine.hpp"

#include <omp.h>

#include <algorithm>
#include <array>
#include <bit>
#include <climits>
#include <cmath>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>

#include "lowbit/core/error.hpp"
#include "lowbit/core/fp_env.hpp"
#include "lowbit/core/threading.hpp"
#include "lowbit/core/json_get.hpp"
#include "lowbit/format/input_fit.hpp"
#include "lowbit/format/lbm.hpp"
#include "lowbit/format/limits.hpp"
#include "lowbit/kernels/bit_gemm.hpp"

namespace lowbit::runtime {

namespace {

using json = nlohmann::json;

// How codes travel between layers: +-1 bits, or unsigned codes in `bits` bit-planes.
struct Codes {
  bool pm1 = true;
  int bits = 1;
  int planes() const { return pm1 ? 1 : bits; }
};

// A dense or convolutional layer: acc = sum_j coef_j (a . s_j) over +-1 weight planes s_j
// (a = the input row, or for a convolution each output pixel's patch), optionally max
// pooled, then either thresholds into the next layer's codes or the float score map.
// Activations are maps (h, w, c): per image h*w pixels of packed_words(c) words, per plane.
struct DenseLayer {
  bool conv = false;
  int64_t h = 1, w = 1, c = 0;         // input map
  int64_t kh = 1, kw = 1, stride = 1;  // conv
  int64_t pad_h = 0, pad_w = 0;        // conv padding
  int pad_value = 0;                   // what padded taps read: 0 (exact zero) or, for +-1 codes, -1 or +1
  // +-1 inputs and padding: im2col pads with bit 0 (-1), so each output pixel near the
  // border gets pad_fix[p * out + o] = (pad_value + 1) * the sum over its padded taps of
  // the weight (making those taps read pad_value), for the pixels p listed in pad_pixels.
  std::vector<int32_t> pad_fix;
  std::vector<int64_t> pad_pixels;
  // The first convolution takes its patch rows from the input stage as byte codes and
  // multiplies them by `int_weights` (short 8-bit rows: see int_gemm_codes).
  bool dense_patches = false;
  kernels::IntMatrix int_weights;
  int64_t oh = 1, ow = 1;              // conv output (before pooling)
  int64_t pool = 0, pool_stride = 0;   // max pooling of the accumulators (0 = none)
  int64_t ph = 1, pw = 1;              // output map after pooling
  int64_t in = 0, out = 0;             // valid bits of a row (K) and output channels
  Codes input, output;
  std::vector<kernels::BinaryMatrix> planes;
  std::vector<int32_t> coef;
  int shift = 0;  // the weight planes sum to 2^shift x the trained codes (even codes: ternary, int:k)
  std::vector<uint8_t> negated;  // per output row: export negated its weights
  bool scores = false;
  int levels = 0;
  std::vector<int32_t> thresholds;  // out x levels
  // One threshold and one weight plane (or the first convolution's integer weights): the
  // GEMM writes the output bits itself (bgemm_threshold / int_gemm_codes_threshold;
  // thresholds padded to whole weight blocks), pooling then ORs bits.
  bool fused = false;
  std::vector<int32_t> fused_thresholds;
  std::vector<float> scale, bias, bn_mean, bn_scale, bn_shift;
};

// Threads working on one chunk together (batch-1 latency mode): each computes its share
// of every layer's output channels (word-aligned column ranges), the lead does the steps
// in between (input packing, patches, pooling, scores), and all meet after each step.
// The default is a team of one: no barriers.
struct Team {
  int id = 0, size = 1;
  bool lead() const { return id == 0; }
  void sync() const {
    if (size > 1) {
#pragma omp barrier
    }
  }
  // This thread's output columns [j0, j1) of n, in whole 64-column words.
  std::pair<int64_t, int64_t> columns(int64_t n) const {
    const int64_t words = (n + 63) / 64, per = (words + size - 1) / size;
    return {std::min(n, id * per * 64), std::min(n, (id + 1) * per * 64)};
  }
};

// Per-thread buffers, sized once for `chunk` images.
struct Workspace {
  std::vector<uint64_t> a, b;  // activations in bit-planes (ping-pong)
  std::vector<uint64_t> patches;  // convolution patches, per plane
  std::vector<uint8_t> image;     // one image's input codes, (c, y, x), padded to the network input
  // Flat input: one image's codes at their bit positions before packing (gaps stay 0).
  // Patches input: the chunk's patch rows of the first convolution, kh*kw*C codes each.
  std::vector<uint8_t> codes;
  std::vector<int32_t> acc, pooled;
  std::vector<uint64_t> bits;  // a fused layer's output bits before pooling
};

}  // namespace

struct Engine::Impl {
  std::string source;
  ModelInfo info;
  EngineOptions opt;
  Codes input_codes;
  // How the input reaches the first layer: "flat", one row of C*H*W codes (a dense first
  // layer); "patches", the first convolution's patch rows, each its kh*kw*C codes in
  // (dy, dx, c) order packed densely (no per-pixel word gaps: a 1-channel 3x3 patch is one
  // word, not nine).
  bool input_patches = false;
  // Batch-1 latency mode (threads share each layer's output channels) for dense networks
  // only: a convolutional network's steps between GEMMs (patches, pooling, k-bit
  // thresholds) stay on one thread, and its many small layers cost more in barriers than
  // the split gains (measured: CNV W1A1 batch 1, 72 vs 74 us; W1A2 251 vs 156 us).
  bool latency_mode = true;
  uint8_t lut[256] = {};
  // The table as a staircase when it is one (codes non-decreasing in the pixel from 0,
  // as quantizers map pixels): code = #{s : pixel >= steps[s]}; few steps vectorize as
  // compare passes, the identity (8-bit input) is a copy. Else a lookup per pixel.
  enum class LutKind { kIdentity, kSteps, kTable } lut_kind = LutKind::kTable;
  std::vector<uint8_t> steps;
  void classify_lut();
  void apply_lut(const uint8_t* img, int64_t count, uint8_t* codes) const;
  std::vector<DenseLayer> layers;
  std::vector<Workspace> work;
  int64_t max_words = 0, max_acc = 0, max_patch = 0;  // per image
  int threads = 1;

  void parse(const format::LbmFile& file);
  // Words of one plane of one image's flat input codes (a patches input is not packed).
  int64_t input_words() const {
    return input_patches ? 0 : kernels::packed_words(info.channels * info.height * info.width);
  }
  // Image i of an m-image chunk into the first layer's input: flat, as bit-planes in
  // `planes` (plane b at planes + b * m * input_words()); patches, as code rows in w.codes.
  void prepare_input(Workspace& w, const uint8_t* img, int64_t height, int64_t width, int64_t i, int64_t m,
                     uint64_t* planes) const;
  // Checks images of channels x height x width against the model input (format/input_fit.hpp)
  // and returns them as the runtime reads them: a flat model ([features]) takes each image
  // as one row of C*H*W values, 1 x features.
  std::array<int64_t, 2> fit_images(int64_t n, int64_t channels, int64_t height, int64_t width) const {
    LOWBIT_CHECK(n >= 0, source, ": image count ", n, " is negative");
    format::check_images_fit(info.input_shape, channels, height, width, source);
    return flat_input() ? std::array<int64_t, 2>{1, info.width} : std::array<int64_t, 2>{height, width};
  }
  bool flat_input() const { return info.input_shape.size() == 1; }
  void plan();
  void run_chunk(Workspace& w, const uint8_t* images, int64_t m, int64_t height, int64_t width, float* scores,
                 int32_t* predictions, std::vector<std::vector<int32_t>>* trace = nullptr, const Team& team = {}) const;
  // A layer's steps after its GEMM, on the lead thread: padding fix, trace, pooling, then
  // thresholds into `next` or the scores and predictions.
  void finish_layer(Workspace& w, size_t l, int64_t m, int32_t* acc, uint64_t* next, float* scores,
                    int32_t* predictions, std::vector<std::vector<int32_t>>* trace) const;
};

namespace {

template <class T>
std::vector<T> blob(const format::LbmFile& f, const json& name_value, size_t count, const std::string& where) {
  const std::string name = json_string(name_value, where + ": the section name");
  const format::LbmSection* s = f.find(name);
  LOWBIT_CHECK(s && s->kind == format::SectionKind::kBlob, where, ": no blob section '", name, "'");
  LOWBIT_CHECK(s->size == count * sizeof(T), where, ": section '", name, "' has ", s->size, " bytes, expected ",
               count * sizeof(T));
  static_assert(std::endian::native == std::endian::little, "the runtime reads little-endian blobs directly");
  std::vector<T> v(count);
  if (count) std::memcpy(v.data(), s->data, s->size);
  return v;
}

// Float constants of the score layer: the arithmetic evaluation repeats must be finite.
void check_finite(const std::vector<float>& v, const std::string& where, const char* what) {
  for (size_t i = 0; i < v.size(); ++i)
    LOWBIT_CHECK(std::isfinite(v[i]), where, ": ", what, " of class ", i, " is ", v[i], " (not finite)");
}

Codes parse_codes(const json& j, const std::string& where) {
  Codes c;
  const std::string f = json_string(j, "format", where);
  if (f == "pm1") return c;
  LOWBIT_CHECK(f == "planes", where, ": unknown code format '", f, "' (pm1 or planes)");
  c.pm1 = false;
  c.bits = static_cast<int>(json_int(j, "bits", 1, format::kMaxCodeBits, where));
  return c;
}

bool same(const Codes& a, const Codes& b) { return a.pm1 == b.pm1 && (a.pm1 || a.bits == b.bits); }

// One line per layer for `lowbit summary`: shape, input codes, weights, output and how the
// runtime computes it.
std::string describe(const DenseLayer& d, int planes) {
  auto str = [](int64_t v) { return std::to_string(v); };
  std::string s = d.conv ? "conv " + str(d.kh) + "x" + str(d.kw) + " " + str(d.h) + "x" + str(d.w) + "x" + str(d.c)
                         : "dense " + str(d.in);
  if (d.pad_h || d.pad_w) s += " pad " + str(d.pad_h) + "x" + str(d.pad_w) + (d.pad_value ? " of " + str(d.pad_value) : "");
  if (d.conv && d.stride > 1) s += " stride " + str(d.stride);
  s += " -> " + str(d.out);
  if (d.pool) s += " + maxpool " + str(d.pool);
  s += "  (input " + (d.input.pm1 ? std::string("+-1") : str(d.input.bits) + "-bit") + ", ";
  s += d.dense_patches ? std::string("integer weights on byte codes") : str(planes) + " weight plane" + (planes > 1 ? "s" : "");
  if (d.shift) s += " (doubled)";
  s += ", " + (d.scores ? std::string("scores") : str(d.levels) + " threshold(s)");
  if (d.fused) s += ", fused";
  return s + ")";
}

}  // namespace

// Every message is relative to the file ("layer 3: ..."); load() names the file once.
void Engine::Impl::parse(const format::LbmFile& file) {
  namespace F = format;
  json m;
  try {
    m = json::parse(file.json_text("model"));
  } catch (const json::exception& e) {
    fail("section 'model' is not valid JSON: ", e.what());
  }
  LOWBIT_CHECK(m.is_object() && m.value("kind", json()) == "lowbit-model", "not a lowbit model (kind ",
               m.is_object() ? m.value("kind", json()).dump() : m.dump().substr(0, 20), ")");
  info.name = json_string(m, "name", "model");
  info.classes = json_int(m, "classes", 1, F::kMaxOutputs, "model");
  const json& in = json_member(m, "input", "model");
  info.input_shape = json_ints(in, "shape", 3, 1, F::kMaxInputDim, "input");
  LOWBIT_CHECK(info.input_shape.size() == 3 || info.input_shape.size() == 1, "input shape must be [C, H, W] or [features]");
  // Bounds before any size is multiplied: every product below stays far from overflow.
  int64_t numel = 1;
  for (int64_t d : info.input_shape) numel *= d;
  LOWBIT_CHECK(numel <= F::kMaxInputValues, "input of ", numel, " values is too large (at most ", F::kMaxInputValues, ")");
  const bool image = info.input_shape.size() == 3;
  info.channels = image ? info.input_shape[0] : 1;
  info.height = image ? info.input_shape[1] : 1;
  info.width = image ? info.input_shape[2] : info.input_shape[0];
  info.input_quantizer = json_string_or(in, "quantizer", "", "input");
  info.normalize = json_string_or(in, "normalize", "", "input");
  input_codes = parse_codes(in, "input");
  const std::string layout = json_string_or(in, "layout", "flat", "input");
  LOWBIT_CHECK(layout == "flat" || layout == "patches", "input layout '", layout, "' (flat or patches)");
  input_patches = layout == "patches";
  LOWBIT_CHECK(!input_patches || image, "a patches input needs a [C, H, W] shape");
  const std::vector<uint8_t> table = blob<uint8_t>(file, json_member(in, "lut", "input"), 256, "input");
  const int max_code = input_codes.pm1 ? 1 : (1 << input_codes.bits) - 1;
  for (int p = 0; p < 256; ++p) {
    LOWBIT_CHECK(table[static_cast<size_t>(p)] <= max_code, "input table code ", int(table[static_cast<size_t>(p)]),
                 " for pixel ", p, " exceeds ", max_code);
    lut[p] = table[static_cast<size_t>(p)];
  }
  classify_lut();
  std::array<int64_t, 3> map = input_patches ? std::array<int64_t, 3>{info.height, info.width, info.channels}
                                         : std::array<int64_t, 3>{1, 1, numel};
  Codes codes = input_codes;
  bool ended = false;
  const json& ls = json_member(m, "layers", "model");
  LOWBIT_CHECK(ls.is_array() && !ls.empty() && static_cast<int64_t>(ls.size()) <= F::kMaxLayers,
               "'layers' must be an array of 1..", F::kMaxLayers, " layers");
  for (size_t i = 0; i < ls.size(); ++i) {
    const json& l = ls[i];
    const std::string where = "layer " + std::to_string(i);
    LOWBIT_CHECK(!ended, where, ": layers after the score layer");
    const std::string op = json_string(l, "op", where);
    LOWBIT_CHECK(op == "dense" || op == "conv", where, ": unknown op '", op, "' (this runtime knows: dense, conv)");
    DenseLayer d;
    d.conv = op == "conv";
    d.h = map[0], d.w = map[1], d.c = map[2];
    const std::vector<int64_t> in_shape = json_ints(l, "in_shape", 3, 1, F::kMaxInputValues, where);
    LOWBIT_CHECK(in_shape == std::vector<int64_t>(map.begin(), map.end()), where, ": input map ",
                 json(in_shape).dump(), " differs from the previous layer's output [", map[0], ",", map[1], ",",
                 map[2], "]");
    d.in = json_int(l, "in", 1, numel * F::kMaxKernel * F::kMaxKernel, where);
    d.out = json_int(l, "out", 1, F::kMaxOutputs, where);
    const int64_t cw = kernels::packed_words(d.c);
    int64_t words = 0;
    if (d.conv) {
      const auto k = json_ints(l, "kernel", 2, 1, F::kMaxKernel, where);
      const auto pad = l.contains("padding") ? json_ints(l, "padding", 2, 0, F::kMaxKernel, where)
                                             : std::vector<int64_t>{0, 0};
      LOWBIT_CHECK(k.size() == 2 && pad.size() == 2 && pad[0] < k[0] && pad[1] < k[1] && k[0] <= d.h + 2 * pad[0] &&
                       k[1] <= d.w + 2 * pad[1],
                   where, ": kernel ", json(k).dump(), " with padding ", json(pad).dump(), " does not fit the ", d.h,
                   "x", d.w, " input");
      d.kh = k[0], d.kw = k[1], d.pad_h = pad[0], d.pad_w = pad[1];
      d.pad_value = static_cast<int>(json_int_or(l, "pad_value", 0, -1, 1, where));
      LOWBIT_CHECK(d.pad_value == 0 || codes.pm1, where, ": pad_value ", d.pad_value, " needs +-1 inputs");
      d.stride = json_int(l, "stride", 1, F::kMaxStride, where);
      d.oh = (d.h + 2 * d.pad_h - d.kh) / d.stride + 1, d.ow = (d.w + 2 * d.pad_w - d.kw) / d.stride + 1;
      LOWBIT_CHECK(d.in == d.kh * d.kw * d.c, where, ": ", d.in, " inputs for a ", d.kh, "x", d.kw, "x", d.c, " patch");
      d.dense_patches = i == 0 && input_patches;
      words = d.dense_patches ? kernels::packed_words(d.in) : d.kh * d.kw * cw;
      d.ph = d.oh, d.pw = d.ow;
      if (l.contains("pool")) {
        const json& pool = l.at("pool");
        d.pool = json_int(pool, "kernel", 1, F::kMaxPool, where + ": pool");
        d.pool_stride = json_int(pool, "stride", 1, F::kMaxStride, where + ": pool");
        LOWBIT_CHECK(d.pool <= d.oh && d.pool <= d.ow, where, ": pooling ", pool.dump(), " does not fit the ", d.oh,
                     "x", d.ow, " output");
        d.ph = (d.oh - d.pool) / d.pool_stride + 1, d.pw = (d.ow - d.pool) / d.pool_stride + 1;
      }
    } else {
      LOWBIT_CHECK(!(i == 0 && input_patches), where, ": a patches input needs a convolutional first layer");
      LOWBIT_CHECK(d.in == d.h * d.w * d.c, where, ": takes ", d.in, " features, its input has ", d.h * d.w * d.c);
      words = d.h * d.w * cw;
    }
    d.input = parse_codes(json_member(l, "input", where), where + ": input");
    LOWBIT_CHECK(same(d.input, codes), where, ": input codes differ from what the previous layer produces");
    const json& w = json_member(l, "weights", where);
    const std::string wwhere = where + ": weights";
    const int planes = static_cast<int>(json_int(w, "planes", 1, F::kMaxWeightPlanes, wwhere));
    d.shift = static_cast<int>(json_int_or(w, "shift", 0, 0, 1, wwhere));
    for (int64_t c : json_ints(w, "coef", F::kMaxWeightPlanes, -F::kMaxWeightCoef, F::kMaxWeightCoef, wwhere))
      d.coef.push_back(static_cast<int32_t>(c));
    LOWBIT_CHECK(static_cast<int>(d.coef.size()) == planes, wwhere, ": ", d.coef.size(), " coefficients for ", planes,
                 " planes");
    // Accumulators stay far from int32 overflow (format/limits.hpp).
    LOWBIT_CHECK(F::accumulators_fit_int32(d.in, d.coef), where, ": accumulators could overflow int32");
    LOWBIT_CHECK(static_cast<double>(planes) * static_cast<double>(d.out) * static_cast<double>(words) <= double(1 << 28),
                 where, ": weights of ", planes, " x ", d.out, " x ", words, " words are too large");
    const auto bits = blob<uint64_t>(file, json_member(w, "blob", wwhere), static_cast<size_t>(planes * d.out * words), where);
    for (int j = 0; j < planes; ++j) d.planes.emplace_back(bits.data() + j * d.out * words, d.out, words);
    if (d.dense_patches) {
      // w[o][t] = sum_j coef_j (+-1); a +-1 input (code 0/1 for -1/+1) is 2 code - 1, so
      // its sum is 2 (code . w) - sum_t w[t]: twice the weights and that bias.
      std::vector<int32_t> iw(static_cast<size_t>(d.out * d.in), 0), bias(static_cast<size_t>(d.out), 0);
      for (int64_t o = 0; o < d.out; ++o)
        for (int64_t t = 0; t < d.in; ++t) {
          int32_t v = 0;
          for (int j = 0; j < planes; ++j)
            v += ((bits[static_cast<size_t>((j * d.out + o) * words + t / 64)] >> (t % 64)) & 1u) ? d.coef[j] : -d.coef[j];
          iw[static_cast<size_t>(o * d.in + t)] = codes.pm1 ? 2 * v : v;
          if (codes.pm1) bias[static_cast<size_t>(o)] -= v;
        }
      d.int_weights = kernels::IntMatrix(iw.data(), bias.data(), d.out, d.in);
    }
    if (d.conv && (d.pad_h || d.pad_w) && codes.pm1 && d.pad_value != -1) {
      // Weight of tap (dy, dx) summed over channels, per output: tap_sum[o][tap].
      const int64_t taps = d.kh * d.kw;
      std::vector<int32_t> tap_sum(static_cast<size_t>(d.out * taps), 0);
      for (int64_t o = 0; o < d.out; ++o)
        for (int64_t tap = 0; tap < taps; ++tap)
          for (int64_t ch = 0; ch < d.c; ++ch) {
            const int64_t b = d.dense_patches ? tap * d.c + ch : tap * cw * 64 + ch;
            for (int j = 0; j < planes; ++j)
              tap_sum[static_cast<size_t>(o * taps + tap)] +=
                  ((bits[static_cast<size_t>((j * d.out + o) * words + b / 64)] >> (b % 64)) & 1u) ? d.coef[j] : -d.coef[j];
          }
      for (int64_t y = 0; y < d.oh; ++y)
        for (int64_t x = 0; x < d.ow; ++x) {
          std::vector<int32_t> fix(static_cast<size_t>(d.out), 0);
          bool border = false;
          for (int64_t dy = 0; dy < d.kh; ++dy)
            for (int64_t dx = 0; dx < d.kw; ++dx) {
              const int64_t iy = y * d.stride + dy - d.pad_h, ix = x * d.stride + dx - d.pad_w;
              if (iy >= 0 && iy < d.h && ix >= 0 && ix < d.w) continue;
              border = true;
              for (int64_t o = 0; o < d.out; ++o)
                fix[static_cast<size_t>(o)] += (d.pad_value + 1) * tap_sum[static_cast<size_t>(o * taps + dy * d.kw + dx)];
            }
          if (!border) continue;
          d.pad_pixels.push_back(y * d.ow + x);
          d.pad_fix.insert(d.pad_fix.end(), fix.begin(), fix.end());
        }
    }
    d.negated.assign(static_cast<size_t>(d.out), 0);
    if (w.contains("negated_rows"))
      for (int64_t r : json_ints(w, "negated_rows", static_cast<size_t>(d.out), 0, d.out - 1, wwhere))
        d.negated[static_cast<size_t>(r)] = 1;
    const json& o = json_member(l, "output", where);
    const std::string owhere = where + ": output";
    if (json_string(o, "format", owhere) == "scores") {
      d.scores = true;
      const size_t M = static_cast<size_t>(d.out);
      d.scale = blob<float>(file, json_member(o, "scale", owhere), M, where);
      check_finite(d.scale, where, "the score scale");
      if (o.contains("bias")) {
        d.bias = blob<float>(file, o.at("bias"), M, where);
        check_finite(d.bias, where, "the score bias");
      }
      if (o.contains("bn")) {
        const json& bn = o.at("bn");
        d.bn_mean = blob<float>(file, json_member(bn, "mean", owhere + ": bn"), M, where);
        d.bn_scale = blob<float>(file, json_member(bn, "scale", owhere + ": bn"), M, where);
        d.bn_shift = blob<float>(file, json_member(bn, "shift", owhere + ": bn"), M, where);
        check_finite(d.bn_mean, where, "the BatchNorm mean");
        check_finite(d.bn_scale, where, "the BatchNorm scale");
        check_finite(d.bn_shift, where, "the BatchNorm shift");
      }
      LOWBIT_CHECK(d.out == info.classes, where, ": ", d.out, " scores for ", info.classes, " classes");
      LOWBIT_CHECK(!d.conv, where, ": the score layer must be dense");
      ended = true;
    } else {
      d.output = parse_codes(o, owhere);
      const int expect = d.output.pm1 ? 1 : (1 << d.output.bits) - 1;
      d.levels = static_cast<int>(json_int(o, "levels", 1, expect, owhere));
      LOWBIT_CHECK(kernels::threshold_bits(d.levels) == d.output.planes(), where, ": ", d.levels,
                   " threshold levels do not fit the output codes");
      d.thresholds = blob<int32_t>(file, json_member(o, "thresholds", owhere), static_cast<size_t>(d.out * d.levels), where);
      for (int64_t c = 0; c < d.out; ++c)
        for (int l = 1; l < d.levels; ++l)
          LOWBIT_CHECK(d.thresholds[static_cast<size_t>(c * d.levels + l - 1)] <= d.thresholds[static_cast<size_t>(c * d.levels + l)],
                       where, ": thresholds of channel ", c, " are not sorted");
      codes = d.output;
    }
    d.fused = !d.scores && d.levels == 1 && (d.dense_patches || (d.planes.size() == 1 && d.coef[0] == 1)) &&
              d.pad_pixels.empty();
    if (d.fused) {
      const int64_t padded = d.dense_patches ? d.int_weights.padded_rows() : d.planes[0].blocks() * kernels::BinaryMatrix::kBlock;
      d.fused_thresholds.assign(static_cast<size_t>(padded), INT32_MAX);
      std::copy(d.thresholds.begin(), d.thresholds.end(), d.fused_thresholds.begin());
    }
    LOWBIT_CHECK(d.oh * d.ow * d.out <= (int64_t{1} << 26) && d.oh * d.ow * d.kh * d.kw * cw <= (int64_t{1} << 26),
                 where, ": per-image buffers of this layer would be too large");
    map = {d.ph, d.pw, d.out};
    info.binary_macs += d.in * d.out * d.oh * d.ow;
    info.layers.push_back(describe(d, planes));
    layers.push_back(std::move(d));
  }
  LOWBIT_CHECK(ended, "the last layer does not produce scores");
  latency_mode = std::none_of(layers.begin(), layers.end(), [](const DenseLayer& d) { return d.conv; });
}

void Engine::Impl::plan() {
  max_words = input_codes.planes() * input_words();
  max_acc = 0, max_patch = 0;
  int64_t max_bits = 0;
  for (const DenseLayer& d : layers) {
    if (d.fused && d.pool) max_bits = std::max(max_bits, d.oh * d.ow * kernels::packed_words(d.out));
    max_acc = std::max(max_acc, d.oh * d.ow * d.out);
    if (d.conv && !d.dense_patches) max_patch = std::max(max_patch, d.input.planes() * d.oh * d.ow * d.kh * d.kw * kernels::packed_words(d.c));
    if (!d.scores) max_words = std::max(max_words, d.output.planes() * d.ph * d.pw * kernels::packed_words(d.out));
  }
  work.assign(static_cast<size_t>(threads), Workspace{});
  for (Workspace& w : work) {
    w.a.assign(static_cast<size_t>(opt.chunk * max_words), 0);
    w.b.assign(static_cast<size_t>(opt.chunk * max_words), 0);
    w.patches.assign(static_cast<size_t>(opt.chunk * max_patch), 0);
    constexpr int64_t kSlack = 8;  // prepare_input copies windows 8 bytes at a time
    const DenseLayer& first = layers.front();
    if (input_patches)  // the padded image the first convolution's patches come from
      w.image.assign(static_cast<size_t>(info.channels * (info.height + 2 * first.pad_h) * (info.width + 2 * first.pad_w) +
                                         kSlack),
                     0);
    w.codes.assign(static_cast<size_t>(input_patches ? opt.chunk * first.oh * first.ow * first.in + kSlack
                                                     : input_words() * 64),
                   0);  // gaps are never written: they stay 0
    w.acc.assign(static_cast<size_t>(opt.chunk * max_acc), 0);
    w.pooled.assign(static_cast<size_t>(opt.chunk * max_acc), 0);
    w.bits.assign(static_cast<size_t>(opt.chunk * max_bits), 0);
  }
}

void Engine::Impl::classify_lut() {
  bool identity = true, staircase = lut[0] == 0;
  steps.clear();
  for (int p = 0; p < 256; ++p) {
    identity = identity && lut[p] == p;
    if (p > 0 && lut[p] < lut[p - 1]) staircase = false;
    if (p > 0)
      for (int c = lut[p - 1]; c < lut[p]; ++c) steps.push_back(static_cast<uint8_t>(p));
  }
  constexpr size_t kMaxSteps = 15;  // 4-bit inputs and below
  lut_kind = identity ? LutKind::kIdentity : staircase && steps.size() <= kMaxSteps ? LutKind::kSteps : LutKind::kTable;
}

void Engine::Impl::apply_lut(const uint8_t* img, int64_t count, uint8_t* codes) const {
  switch (lut_kind) {
    case LutKind::kIdentity:
      std::memcpy(codes, img, static_cast<size_t>(count));
      return;
    case LutKind::kSteps:
      std::fill(codes, codes + count, uint8_t{0});
      for (uint8_t s : steps)  // one compare pass per step: vectorizes
        for (int64_t t = 0; t < count; ++t) codes[t] = static_cast<uint8_t>(codes[t] + (img[t] >= s));
      return;
    case LutKind::kTable:
      for (int64_t t = 0; t < count; ++t) codes[t] = lut[img[t]];
      return;
  }
}

void Engine::Impl::prepare_input(Workspace& w, const uint8_t* img, int64_t height, int64_t width, int64_t i,
                                 int64_t m, uint64_t* planes) const {
  // Codes of the image centre-padded with pixel 0, as data::make_batch pads, in (c, y, x)
  // order, inside a border of code 0 (exact 0) when the first convolution pads: an
  // (H + 2 ph) x (W + 2 pw) map per channel. A flat input packs them as they are (w.codes:
  // C*H*W codes, then zeros).
  const int64_t C = info.channels, H = info.height, W = info.width;
  const int64_t ph = input_patches ? layers.front().pad_h : 0, pw = input_patches ? layers.front().pad_w : 0;
  const int64_t Hp = H + 2 * ph, Wp = W + 2 * pw;
  uint8_t* codes = input_patches ? w.image.data() : w.codes.data();
  if (height == H && width == W && ph == 0 && pw == 0) {
    apply_lut(img, C * H * W, codes);
  } else {
    std::fill(codes, codes + C * Hp * Wp, uint8_t{0});
    const int64_t top = (H - height) / 2 + ph, left = (W - width) / 2 + pw;
    for (int64_t c = 0; c < C; ++c) {
      if (height != H || width != W)
        for (int64_t y = 0; y < H; ++y) std::fill_n(codes + (c * Hp + y + ph) * Wp + pw, W, lut[0]);
      for (int64_t y = 0; y < height; ++y)
        apply_lut(img + (c * height + y) * width, width, codes + (c * Hp + y + top) * Wp + left);
    }
  }
  if (!input_patches) {
    kernels::pack_planes(input_words(), input_codes.planes(), codes, planes + i * input_words(), m * input_words());
    return;
  }
  // Patch rows of the first convolution, (dy, dx, c) order.
  const DenseLayer& d = layers.front();
  uint8_t* row = w.codes.data() + i * d.oh * d.ow * d.in;
  for (int64_t oy = 0; oy < d.oh; ++oy)
    for (int64_t ox = 0; ox < d.ow; ++ox)
      for (int64_t dy = 0; dy < d.kh; ++dy) {
        const uint8_t* src = codes + (oy * d.stride + dy) * Wp + ox * d.stride;
        if (C == 1 && d.kw <= 8) {
          // 8 bytes at once (a fixed-size copy is one move; a kw-byte one was a libc call):
          // the bytes past kw are overwritten by the next window row, or land in the slack.
          std::memcpy(row, src, 8);
          row += d.kw;
          continue;
        }
        for (int64_t dx = 0; dx < d.kw; ++dx)
          for (int64_t c = 0; c < C; ++c) *row++ = src[c * Hp * Wp + dx];
      }
}

void Engine::Impl::run_chunk(Workspace& w, const uint8_t* images, int64_t m, int64_t height, int64_t width,
                             float* scores, int32_t* predictions, std::vector<std::vector<int32_t>>* trace,
                             const Team& team) const {
  const int64_t image_size = info.channels * height * width;
  uint64_t* cur = w.a.data();
  uint64_t* next = w.b.data();
  if (team.lead())
    for (int64_t i = 0; i < m; ++i) prepare_input(w, images + i * image_size, height, width, i, m, cur);
  team.sync();
  for (size_t l = 0; l < layers.size(); ++l) {
    const DenseLayer& d = layers[l];
    // GEMM operand: the input rows themselves (dense), or one patch row per output pixel.
    const uint64_t* a = cur;
    const int64_t rows = d.conv ? m * d.oh * d.ow : m;
    if (d.conv && !d.dense_patches) {
      const int64_t in_plane = m * d.h * d.w * kernels::packed_words(d.c);
      const int64_t patch_plane = rows * d.kh * d.kw * kernels::packed_words(d.c);
      if (team.lead())
        for (int b = 0; b < d.input.planes(); ++b)
          kernels::im2col_bits(m, d.h, d.w, d.c, d.kh, d.kw, d.stride, cur + b * in_plane,
                               w.patches.data() + b * patch_plane, d.pad_h, d.pad_w);
      team.sync();
      a = w.patches.data();
    }
    const auto [j0, j1] = team.columns(d.out);
    if (d.fused && !trace) {  // trace wants the accumulators: it takes the unfused path
      uint64_t* bits = d.pool ? w.bits.data() : next;
      if (j0 < j1) {
        if (d.dense_patches)
          kernels::int_gemm_codes_threshold(rows, w.codes.data(), d.in, d.int_weights, d.fused_thresholds.data(), bits,
                                            j0, j1);
        else
          kernels::bgemm_threshold(rows, d.in, d.input.pm1 ? 0 : d.input.bits, a, d.planes[0],
                                   d.fused_thresholds.data(), bits, j0, j1);
      }
      team.sync();
      if (d.pool) {
        if (team.lead()) kernels::maxpool_or(m, d.oh, d.ow, d.out, d.pool, d.pool_stride, bits, next);
        team.sync();
      }
      std::swap(cur, next);
      continue;
    }
    int32_t* acc = w.acc.data();
    if (j0 < j1) {
      if (d.dense_patches) kernels::int_gemm_codes(rows, w.codes.data(), d.in, d.int_weights, acc, d.out, j0, j1);
      for (size_t j = 0; j < d.planes.size() && !d.dense_patches; ++j) {
        const bool accumulate = j > 0;
        if (d.input.pm1)
          kernels::bgemm_pm1(rows, d.in, a, d.planes[j], d.coef[j], accumulate, acc, d.out, j0, j1);
        else
          kernels::bgemm_planes(rows, d.in, d.input.bits, a, d.planes[j], d.coef[j], accumulate, acc, d.out, j0, j1);
      }
    }
    team.sync();
    if (team.lead()) finish_layer(w, l, m, acc, next, scores, predictions, trace);
    team.sync();
    if (!d.scores) std::swap(cur, next);
  }
}

void Engine::Impl::finish_layer(Workspace& w, size_t l, int64_t m, int32_t* acc, uint64_t* next, float* scores,
                                int32_t* predictions, std::vector<std::vector<int32_t>>* trace) const {
  const DenseLayer& d = layers[l];
  int64_t rows = d.conv ? m * d.oh * d.ow : m;
  for (int64_t i = 0; i < m && !d.pad_pixels.empty(); ++i)
    for (size_t p = 0; p < d.pad_pixels.size(); ++p) {
      int32_t* a = acc + (i * d.oh * d.ow + d.pad_pixels[p]) * d.out;
      const int32_t* fix = d.pad_fix.data() + p * static_cast<size_t>(d.out);
      for (int64_t o = 0; o < d.out; ++o) a[o] += fix[o];
    }
  if (trace) {
    std::vector<int32_t>& t = (*trace)[l];
    for (int64_t i = 0; i < rows * d.out; ++i) {
      const int32_t v = acc[i] >> d.shift;  // exact: a shifted layer's accumulators are even
      t.push_back(d.negated[static_cast<size_t>(i % d.out)] ? -v : v);
    }
  }
  if (d.pool) {
    // Max pooling of the accumulators = pooling of the codes (levels are non-decreasing in acc).
    int32_t* out = w.pooled.data();
    kernels::maxpool_i32(m, d.oh, d.ow, d.out, d.pool, d.pool_stride, acc, out);
    acc = out;
    rows = m * d.ph * d.pw;
  }
  if (!d.scores) {
    kernels::threshold_planes(rows, d.out, acc, d.out, d.levels, d.thresholds.data(), next);
    return;
  }
  // The float map evaluation applies (same operations, same order; docs/DEPLOYMENT.md).
  for (int64_t i = 0; i < m; ++i) {
    float best = -std::numeric_limits<float>::infinity();
    int32_t arg = 0;
    for (int64_t c = 0; c < d.out; ++c) {
      const auto k = static_cast<size_t>(c);
      float y = static_cast<float>(acc[i * d.out + c]) * d.scale[k];
      if (!d.bias.empty()) y = y + d.bias[k];
      if (!d.bn_mean.empty()) y = (y - d.bn_mean[k]) * d.bn_scale[k] + d.bn_shift[k];
      if (scores) scores[i * d.out + c] = y;
      if (c == 0 || y > best) best = y, arg = static_cast<int32_t>(c);
    }
    if (predictions) predictions[i] = arg;
  }
}

Engine::Engine(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Engine::Engine(Engine&&) noexcept = default;
Engine& Engine::operator=(Engine&&) noexcept = default;
Engine::~Engine() = default;

Engine Engine::from_file(const format::LbmFile& file, const EngineOptions& opt) {
  LOWBIT_CHECK(opt.chunk >= 1 && opt.chunk <= 4096, file.source(), ": EngineOptions::chunk ", opt.chunk,
               " outside 1..4096");
  LOWBIT_CHECK(opt.threads >= 0 && opt.threads <= kMaxThreads, file.source(), ": EngineOptions::threads ",
               opt.threads, " outside 0..", kMaxThreads, " (0 = all cores)");
  auto impl = std::make_unique<Impl>();
  impl->source = file.source();
  impl->opt = opt;
  try {
    impl->parse(file);
  } catch (const Error& e) {
    fail(file.source(), ": ", e.what());
  } catch (const json::exception& e) {
    fail(file.source(), ": model description: ", e.what());
  }
  impl->threads = opt.threads > 0 ? opt.threads : omp_get_max_threads();
  impl->plan();
  return Engine(std::move(impl));
}

Engine Engine::load(const std::string& path, const EngineOptions& opt) {
  return from_file(format::LbmFile::read(path), opt);
}

Engine Engine::from_bytes(const std::vector<uint8_t>& bytes, const std::string& what, const EngineOptions& opt) {
  return from_file(format::LbmFile::parse(bytes.data(), bytes.size(), what), opt);
}

const ModelInfo& Engine::info() const { return impl_->info; }

std::vector<std::vector<int32_t>> Engine::trace(const uint8_t* images, int64_t n, int64_t channels, int64_t height,
                                                int64_t width) {
  Impl& im = *impl_;
  const auto [h, w] = im.fit_images(n, channels, height, width);
  FpContractScope fp;
  std::vector<std::vector<int32_t>> out(im.layers.size());
  const int64_t image_size = im.info.channels * h * w;
  for (int64_t s = 0; s < n; s += im.opt.chunk) {
    const int64_t m = std::min(im.opt.chunk, n - s);
    im.run_chunk(im.work[0], images + s * image_size, m, h, w, nullptr, nullptr, &out);
  }
  return out;
}
int Engine::threads() const { return impl_->threads; }

void Engine::set_threads(int threads) {
  LOWBIT_CHECK(threads >= 1 && threads <= kMaxThreads, "runtime: threads must be in 1..", kMaxThreads, ", got ", threads);
  impl_->threads = threads;
  impl_->plan();
}

void Engine::run(const uint8_t* images, int64_t n, int64_t channels, int64_t height, int64_t width, float* scores,
                 int32_t* predictions) {
  Impl& im = *impl_;
  const auto [h, w] = im.fit_images(n, channels, height, width);
  const int64_t image_size = im.info.channels * h * w, classes = im.info.classes;
  if (n > 0 && n < im.threads && n <= im.opt.chunk && im.latency_mode) {
    // Fewer images than threads (batch-1 latency): the threads share each layer's output
    // channels instead of images.
#pragma omp parallel num_threads(im.threads)
    {
      FpContractScope fp;  // the contract's float mode on this thread, the caller's restored after
      const Team team{omp_get_thread_num(), omp_get_num_threads()};
      im.run_chunk(im.work[0], images, n, h, w, scores, predictions, nullptr, team);
    }
    return;
  }
  const int64_t chunk = std::min(im.opt.chunk, std::max<int64_t>(1, (n + im.threads - 1) / im.threads));
  const int64_t tasks = (n + chunk - 1) / chunk;
#pragma omp parallel num_threads(im.threads) if (tasks > 1)
  {
    FpContractScope fp;
#pragma omp for schedule(dynamic, 1)
    for (int64_t t = 0; t < tasks; ++t) {
      const int64_t s = t * chunk, m = std::min(chunk, n - s);
      im.run_chunk(im.work[static_cast<size_t>(omp_get_thread_num())], images + s * image_size, m, h, w,
                   scores ? scores + s * classes : nullptr, predictions ? predictions + s : nullptr);
    }
  }
}

}  // namespace lowbit::runtime
