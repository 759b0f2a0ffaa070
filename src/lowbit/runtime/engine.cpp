#include "lowbit/runtime/engine.hpp"

#include <omp.h>

#include <algorithm>
#include <array>
#include <bit>
#include <climits>
#include <cmath>
#include <cstring>
#include <limits>
#include <mutex>

#include "lowbit/core/error.hpp"
#include "lowbit/core/fp_env.hpp"
#include "lowbit/core/threading.hpp"
#include "lowbit/format/input_fit.hpp"
#include "lowbit/format/lbm.hpp"
#include "lowbit/format/model_desc.hpp"
#include "lowbit/format/semantics.hpp"
#include "lowbit/kernels/bit_gemm.hpp"

namespace lowbit::runtime {

namespace {

using Codes = format::CodeFormat;  // +-1 bits, or unsigned codes in `bits` bit-planes

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
  std::vector<float> score_row;  // one image's scores when the caller wants none
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
  std::mutex calls;  // run/trace/set_threads share `work`: one call at a time
  int64_t max_words = 0, max_acc = 0, max_patch = 0;  // per image
  int threads = 1;

  // The kernels' layouts of a validated description: packing, padding fix, fused thresholds.
  void build(const format::ModelDesc& desc);
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

// One line per layer for `lowbit summary`: shape, input codes, weights, output and how the
// runtime computes it.
std::string describe(const DenseLayer& d) {
  auto str = [](int64_t v) { return std::to_string(v); };
  const auto planes = static_cast<int64_t>(d.planes.size());
  std::string s = d.conv ? "conv " + str(d.kh) + "x" + str(d.kw) + " " + str(d.h) + "x" + str(d.w) + "x" + str(d.c)
                         : "dense " + str(d.in);
  if (d.pad_h || d.pad_w) s += " pad " + str(d.pad_h) + "x" + str(d.pad_w) + (d.pad_value ? " of " + str(d.pad_value) : "");
  if (d.conv && d.stride > 1) s += " stride " + str(d.stride);
  s += " -> " + str(d.out);
  if (d.pool) s += " + maxpool " + str(d.pool);
  s += "  (input " + d.input.str() + ", ";
  s += d.dense_patches ? std::string("integer weights on byte codes") : str(planes) + " weight plane" + (planes > 1 ? "s" : "");
  if (d.shift) s += " (doubled)";
  s += ", " + (d.scores ? std::string("scores") : str(d.levels) + " threshold(s)");
  if (d.fused) s += ", fused";
  return s + ")";
}

// A threshold on the IR's accumulator as one on 2^shift times it (INT32_MIN/MAX keep
// their meaning "always"/"never"; |acc| < 2^29 by format::accumulators_fit_int32).
int32_t shifted_threshold(int32_t t, int shift) {
  if (t == INT32_MIN || t == INT32_MAX) return t;
  return static_cast<int32_t>(std::clamp<int64_t>(int64_t{t} * (int64_t{1} << shift), INT32_MIN + 1, INT32_MAX - 1));
}

}  // namespace

// Packs the IR into the kernels' layouts (docs/DEPLOYMENT.md "How the runtime packs").
void Engine::Impl::build(const format::ModelDesc& desc) {
  info.name = desc.name;
  info.input_shape = desc.input.shape;
  const bool image = info.input_shape.size() == 3;
  info.channels = image ? info.input_shape[0] : 1;
  info.height = image ? info.input_shape[1] : 1;
  info.width = image ? info.input_shape[2] : info.input_shape[0];
  info.classes = desc.classes();
  info.input_quantizer = desc.input.quantizer;
  info.normalize = desc.input.normalize;
  input_codes = desc.input.codes;
  // How the input reaches the first layer: a convolution reads the image as its patch rows
  // (kh*kw*C codes each, packed densely); a dense layer as one row of C*H*W codes.
  input_patches = image && desc.layers.front().kind == format::LayerKind::kConv;
  std::copy(desc.input.table.begin(), desc.input.table.end(), lut);
  classify_lut();
  for (size_t i = 0; i < desc.layers.size(); ++i) {
    const format::LayerDesc& l = desc.layers[i];
    const std::string where = "layer " + std::to_string(i);
    DenseLayer d;
    d.conv = l.kind == format::LayerKind::kConv;
    d.h = l.in_h, d.w = l.in_w, d.c = l.in_c;
    d.kh = l.window_h(), d.kw = l.window_w(), d.stride = l.stride;
    d.pad_h = l.pad_h, d.pad_w = l.pad_w, d.pad_value = l.pad_value;
    d.oh = l.conv_h(), d.ow = l.conv_w();
    d.pool = l.pool.kernel, d.pool_stride = l.pool.stride;
    d.ph = l.out_h(), d.pw = l.out_w();
    d.in = l.in_fan(), d.out = l.out;
    d.input = l.input;
    d.dense_patches = i == 0 && input_patches;
    const int64_t cw = kernels::packed_words(d.c), K = d.in, M = d.out;
    if (d.conv)
      LOWBIT_CHECK(d.oh * d.ow * d.kh * d.kw * cw <= (int64_t{1} << 26), where,
                   ": per-image patch buffers of this layer would be too large");

    // Weight codes as +-1 bit-planes s_j with coefficients, sum_j coef_j s_j = 2^shift w:
    // shift 0 (all codes odd: binary, dorefa:k): q planes, coef 2^j, s_j = 2 u_j - 1 for the
    //   bits u_j of u = (w + 2^q - 1) / 2, |w| <= 2^q - 1;
    // shift 1 (some code even: ternary, int:k): 2w = s_0 + r with s_0 = +1 for w >= 0 and -1
    //   below, so r = 2w - s_0 is odd, |r| <= 2 max|w| - 1, and takes the q planes above
    //   (coef 1, 1, 2, ..., 2^(q-1)). Ternary: two planes. The accumulators are then 2^shift
    //   times the IR's, and so are the thresholds; the score scale is divided by 2^shift.
    const std::vector<int32_t>& wc = l.weights;
    d.shift = std::any_of(wc.begin(), wc.end(), [](int32_t w) { return w % 2 == 0; }) ? 1 : 0;
    int32_t max_odd = 0;
    for (int32_t w : wc) max_odd = std::max(max_odd, d.shift ? std::abs(2 * w - (w >= 0 ? 1 : -1)) : std::abs(w));
    const int q = std::max(1, static_cast<int>(std::bit_width(static_cast<uint32_t>(max_odd))));
    const int planes = q + d.shift;
    if (d.shift) d.coef.push_back(1);
    for (int j = 0; j < q; ++j) d.coef.push_back(1 << j);
    // Where IR column k = (y * ww + x) * c + ch lands in a packed row: the first convolution
    // on patch rows packs them densely; other layers pack each window pixel in whole words.
    const int64_t words = d.dense_patches ? kernels::packed_words(K) : d.kh * d.kw * cw;
    LOWBIT_CHECK(static_cast<double>(planes) * static_cast<double>(M) * static_cast<double>(words) <= double(1 << 28),
                 where, ": weights of ", planes, " x ", M, " x ", words, " words are too large");
    auto bit_of = [&](int64_t k) { return d.dense_patches ? k : (k / d.c) * cw * 64 + k % d.c; };
    std::vector<uint64_t> bits(static_cast<size_t>(planes * M * words), 0);
    auto set = [&](int plane, int64_t r, int64_t b) {
      bits[static_cast<size_t>((plane * M + r) * words + b / 64)] |= uint64_t{1} << (b % 64);
    };
    const int32_t offset = (int32_t{1} << q) - 1;
    for (int64_t r = 0; r < M; ++r)
      for (int64_t k = 0; k < K; ++k) {
        const int32_t w = wc[static_cast<size_t>(r * K + k)];
        const int64_t b = bit_of(k);
        int32_t odd = w;
        if (d.shift) {
          const int32_t s0 = w >= 0 ? 1 : -1;
          if (s0 > 0) set(0, r, b);
          odd = 2 * w - s0;
        }
        const auto u = static_cast<uint32_t>((odd + offset) / 2);
        for (int j = 0; j < q; ++j)
          if ((u >> j) & 1u) set(d.shift + j, r, b);
      }
    for (int j = 0; j < planes; ++j) d.planes.emplace_back(bits.data() + j * M * words, M, words);
    if (d.dense_patches) {
      // The first convolution multiplies byte codes by integer weights v = 2^shift w; a
      // +-1 input (code 0/1 for -1/+1) is 2 code - 1, so its sum is 2 (code . v) - sum_t v:
      // twice the weights and that bias.
      std::vector<int32_t> iw(static_cast<size_t>(M * K), 0), bias(static_cast<size_t>(M), 0);
      for (int64_t o = 0; o < M; ++o)
        for (int64_t t = 0; t < K; ++t) {
          const int32_t v = wc[static_cast<size_t>(o * K + t)] * (1 << d.shift);
          iw[static_cast<size_t>(o * K + t)] = d.input.pm1 ? 2 * v : v;
          if (d.input.pm1) bias[static_cast<size_t>(o)] -= v;
        }
      d.int_weights = kernels::IntMatrix(iw.data(), bias.data(), M, K);
    }
    if (d.conv && (d.pad_h || d.pad_w) && d.input.pm1 && d.pad_value != -1) {
      // +-1 inputs: patches pad with bit 0 (-1); each border pixel gets (pad_value + 1) x the
      // weights of its padded taps (tap_sum[o][tap]: summed over channels) so they read pad_value.
      const int64_t taps = d.kh * d.kw;
      std::vector<int32_t> tap_sum(static_cast<size_t>(M * taps), 0);
      for (int64_t o = 0; o < M; ++o)
        for (int64_t k = 0; k < K; ++k)
          tap_sum[static_cast<size_t>(o * taps + k / d.c)] += wc[static_cast<size_t>(o * K + k)] * (1 << d.shift);
      for (int64_t y = 0; y < d.oh; ++y)
        for (int64_t x = 0; x < d.ow; ++x) {
          std::vector<int32_t> fix(static_cast<size_t>(M), 0);
          bool border = false;
          for (int64_t dy = 0; dy < d.kh; ++dy)
            for (int64_t dx = 0; dx < d.kw; ++dx) {
              const int64_t iy = y * d.stride + dy - d.pad_h, ix = x * d.stride + dx - d.pad_w;
              if (iy >= 0 && iy < d.h && ix >= 0 && ix < d.w) continue;
              border = true;
              for (int64_t o = 0; o < M; ++o)
                fix[static_cast<size_t>(o)] += (d.pad_value + 1) * tap_sum[static_cast<size_t>(o * taps + dy * d.kw + dx)];
            }
          if (!border) continue;
          d.pad_pixels.push_back(y * d.ow + x);
          d.pad_fix.insert(d.pad_fix.end(), fix.begin(), fix.end());
        }
    }
    d.negated = l.negated;
    d.scores = l.scores;
    if (d.scores) {
      // float(2^s acc) * (scale / 2^s) == float(acc) * scale exactly (powers of two).
      for (float s : l.score.scale) d.scale.push_back(std::ldexp(s, -d.shift));
      d.bias = l.score.bias, d.bn_mean = l.score.bn_mean, d.bn_scale = l.score.bn_scale, d.bn_shift = l.score.bn_shift;
    } else {
      d.output = l.output;
      d.levels = l.levels;
      for (int32_t t : l.thresholds) d.thresholds.push_back(shifted_threshold(t, d.shift));
    }
    d.fused = !d.scores && d.levels == 1 && (d.dense_patches || (d.planes.size() == 1 && d.coef[0] == 1)) &&
              d.pad_pixels.empty();
    if (d.fused) {
      const int64_t padded = d.dense_patches ? d.int_weights.padded_rows() : d.planes[0].blocks() * kernels::BinaryMatrix::kBlock;
      d.fused_thresholds.assign(static_cast<size_t>(padded), INT32_MAX);
      std::copy(d.thresholds.begin(), d.thresholds.end(), d.fused_thresholds.begin());
    }
    info.binary_macs += l.macs();
    info.layers.push_back(describe(d));
    layers.push_back(std::move(d));
  }
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
    w.score_row.assign(static_cast<size_t>(info.classes), 0.f);
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
    const int64_t top = format::centre_offset(H, height) + ph, left = format::centre_offset(W, width) + pw;
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
  // The score map and argmax evaluation applies (format/semantics.hpp).
  const float* bias = d.bias.empty() ? nullptr : d.bias.data();
  const bool bn = !d.bn_mean.empty();
  for (int64_t i = 0; i < m; ++i) {
    float* row = scores ? scores + i * d.out : w.score_row.data();
    for (int64_t c = 0; c < d.out; ++c)
      row[c] = format::score(acc[i * d.out + c], c, d.scale.data(), bias, bn ? d.bn_mean.data() : nullptr,
                             d.bn_scale.data(), d.bn_shift.data());
    if (predictions) predictions[i] = format::argmax_first(row, d.out);
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
    impl->build(format::read_model_desc(file));
  } catch (const Error& e) {
    fail(file.source(), ": ", e.what());
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
  const std::lock_guard<std::mutex> lock(impl_->calls);
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
  const std::lock_guard<std::mutex> lock(impl_->calls);
  LOWBIT_CHECK(threads >= 1 && threads <= kMaxThreads, "runtime: threads must be in 1..", kMaxThreads, ", got ", threads);
  impl_->threads = threads;
  impl_->plan();
}

void Engine::run(const uint8_t* images, int64_t n, int64_t channels, int64_t height, int64_t width, float* scores,
                 int32_t* predictions) {
  const std::lock_guard<std::mutex> lock(impl_->calls);
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
