// BNN-PYNQ export (src/lowbit/hw/bnn_pynq_*): random full-size models of each of the five
// overlays are exported, read back by an independent reader and run through an independent
// integer model of the overlay (bnn_pynq_board.hpp); every hidden layer's codes, the outputs
// and the class must equal lowbit's runtime on every image: random images, all-0, all-255,
// and images whose accumulators land exactly on thresholds (the thresholds are set from the
// accumulators those images produce, layer after layer).
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <limits>
#include <map>
#include <set>

#include "data/data_files.hpp"
#include "hw/bnn_pynq_board.hpp"
#include "lowbit/core/error.hpp"
#include "lowbit/core/rng.hpp"
#include "lowbit/format/lbm.hpp"
#include "lowbit/hw/bnn_pynq_files.hpp"
#include "lowbit/hw/bnn_pynq_predict.hpp"
#include "lowbit/runtime/engine.hpp"
#include "test_util.hpp"

namespace lowbit {
namespace {

namespace bp = hw::bnn_pynq;
using format::CodeFormat;
using format::LayerDesc;
using format::LayerKind;
using format::ModelDesc;

CodeFormat code_of(bp::InputCode k) {
  switch (k) {
    case bp::InputCode::kBit: return CodeFormat::plus_minus_one();
    case bp::InputCode::kInt2: return CodeFormat::unsigned_bits(2, 1);
    case bp::InputCode::kFixed8: return CodeFormat::unsigned_bits(8, 128);
  }
  return {};
}

struct Options {
  int64_t in_channels = 1;  // CNV: 1 (grey, replicated) or 3
  int64_t classes = 10;
  float last_sign = 1.f;    // CNV: the shared score map's sign
};

// A random description of the overlay's exact shape: +-1 (or -2..1) weights, thresholds
// around the middle of each layer's accumulator range, a random score map.
ModelDesc random_desc(const bp::Overlay& o, const Options& opt, Rng& rng) {
  ModelDesc d;
  d.name = o.name + "-random";
  const bool lfc = o.input == bp::OverlayInput::kMnistBits;
  d.input.shape = lfc ? std::vector<int64_t>{1, 28, 28} : std::vector<int64_t>{opt.in_channels, 32, 32};
  d.input.codes = lfc ? CodeFormat::plus_minus_one() : CodeFormat::unsigned_bits(8, 128);
  for (int c = 0; c < 256; ++c)
    d.input.table[static_cast<size_t>(c)] =
        static_cast<uint8_t>(lfc ? (c >= 128) : bp::cifar_fixed_code(c) + 128);
  d.input.quantizer = lfc ? "binary" : "fixed:8,7:signed";
  d.input.normalize = "minus_one_one";
  for (size_t i = 0; i < o.layers.size(); ++i) {
    const bp::OverlayLayer& ol = o.layers[i];
    const bool last = i + 1 == o.layers.size();
    LayerDesc l;
    l.name = "layer@" + std::to_string(i);
    l.input = code_of(ol.input);
    if (ol.conv) {
      l.kind = LayerKind::kConv;
      l.in_h = l.in_w = ol.ifm_dim;
      l.in_c = i == 0 ? opt.in_channels : ol.ifm_ch;
      l.kernel_h = l.kernel_w = 3;
      if (ol.pool_after) l.pool = {2, 2};
    } else {
      l.in_c = i == 0 ? 784 : ol.mw;
    }
    l.out = last ? opt.classes : ol.mh;
    for (int64_t k = 0; k < l.out * l.in_fan(); ++k) {
      // 2-bit weights: -2..1, but -1..1 on the last layer, whose rows may be negated.
      const int32_t w = ol.weight_bits == 1 ? (rng.below(2) ? 1 : -1)
                                            : static_cast<int32_t>(rng.below(last ? 3 : 4)) - (last ? 1 : 2);
      l.weights.push_back(w);
    }
    l.negated.assign(static_cast<size_t>(l.out), 0);
    const double spread = std::sqrt(static_cast<double>(l.in_fan())) * l.input.max_abs_value();
    const auto around = [&](double s) { return static_cast<int32_t>(std::lround((rng.uniform() * 2 - 1) * s)); };
    if (last) {
      l.scores = true;
      format::ScoresDesc& s = l.score;
      for (int64_t c = 0; c < l.out; ++c) {
        if (lfc) {  // per-class maps, some decreasing, so rows are negated
          s.scale.push_back((rng.below(4) ? 1.f : -1.f) * (0.01f + rng.uniform()));
          s.bias.push_back(static_cast<float>((rng.uniform() * 2 - 1) * spread * 0.02));
          s.bn_mean.push_back(static_cast<float>(rng.uniform() - 0.5));
          s.bn_scale.push_back(rng.below(5) ? 1.5f : -0.7f);
          s.bn_shift.push_back(static_cast<float>(rng.uniform() - 0.5));
        } else {  // one shared map
          s.scale.push_back(0.05f * opt.last_sign);
          s.bn_mean.push_back(0.25f);
          s.bn_scale.push_back(2.f);
          s.bn_shift.push_back(-0.5f);
        }
      }
    } else {
      const bool a2 = ol.thresholds == 2;
      l.output = a2 ? CodeFormat::unsigned_bits(2, 1) : CodeFormat::plus_minus_one();
      l.levels = a2 ? 3 : 1;
      for (int64_t o2 = 0; o2 < l.out; ++o2) {
        int32_t t0 = around(spread * 0.5);
        if (rng.below(50) == 0) t0 = std::numeric_limits<int32_t>::min();  // every accumulator fires it
        if (a2) {
          int32_t t1 = t0 == std::numeric_limits<int32_t>::min() ? around(spread * 0.5)
                                                                 : t0 + static_cast<int32_t>(rng.below(8));
          if (rng.below(50) == 0) t1 = std::numeric_limits<int32_t>::max();  // none does
          l.thresholds.insert(l.thresholds.end(), {t0, t1, std::numeric_limits<int32_t>::max()});
        } else {
          l.thresholds.push_back(rng.below(50) == 0 ? std::numeric_limits<int32_t>::max() : t0);
        }
      }
    }
    d.layers.push_back(std::move(l));
  }
  return d;
}

runtime::Engine engine_of(const ModelDesc& d) { return runtime::Engine::from_bytes(format::model_desc_bytes(d), "m.lbm"); }

struct Images {
  int64_t n = 0, c = 1, h = 28, w = 28;
  std::vector<uint8_t> px;
};

// Random images, then all-0 and all-255.
Images test_images(int64_t n_random, int64_t c, int64_t h, int64_t w, Rng& rng) {
  Images im{n_random + 2, c, h, w, {}};
  for (int64_t i = 0; i < n_random * c * h * w; ++i) im.px.push_back(static_cast<uint8_t>(rng.below(256)));
  im.px.insert(im.px.end(), static_cast<size_t>(c * h * w), 0);
  im.px.insert(im.px.end(), static_cast<size_t>(c * h * w), 255);
  return im;
}

// Sets thresholds of layers 0..L-2 to accumulators the images produce (layer after layer, as
// each change moves the later layers' inputs), so codes are decided exactly at a threshold.
void land_on_thresholds(ModelDesc& d, const Images& im, Rng& rng) {
  for (size_t l = 0; l + 1 < d.layers.size(); ++l) {
    runtime::Engine e = engine_of(d);
    const std::vector<int32_t> acc = e.trace(im.px.data(), im.n, im.c, im.h, im.w)[l];
    LayerDesc& L = d.layers[l];
    const int64_t per_image = static_cast<int64_t>(acc.size()) / im.n;
    for (int k = 0; k < 24; ++k) {
      const int64_t at = static_cast<int64_t>(rng.below(static_cast<uint64_t>(acc.size())));
      const int64_t o = at % L.out;  // the trace is (image, y, x, channel)
      (void)per_image;
      int32_t* t = L.thresholds.data() + o * L.levels;
      t[0] = acc[static_cast<size_t>(at)] + (k % 2);  // equal (fires) or one above (does not)
      if (L.levels == 3) t[1] = std::max(t[1], t[0]);
    }
  }
}

// The overlay's host input for image i: LFC the 28x28 image; CNV its CIFAR record planes
// (centre-padded to 32x32 with 0, a grey channel replicated).
std::vector<uint8_t> host_image(const bp::Overlay& o, const Images& im, int64_t i) {
  const uint8_t* src = im.px.data() + i * im.c * im.h * im.w;
  if (o.input == bp::OverlayInput::kMnistBits) return {src, src + 784};
  std::vector<uint8_t> rec(3 * 1024, 0);
  const int64_t oy = (32 - im.h) / 2, ox = (32 - im.w) / 2;
  for (int64_t c = 0; c < 3; ++c)
    for (int64_t y = 0; y < im.h; ++y)
      for (int64_t x = 0; x < im.w; ++x)
        rec[static_cast<size_t>(c * 1024 + (y + oy) * 32 + x + ox)] =
            src[(im.c == 1 ? 0 : c) * im.h * im.w + y * im.w + x];
  return rec;
}

// lowbit's value of hidden layer l's output map (after pooling), from the runtime's trace.
std::vector<int> lowbit_map(const LayerDesc& L, const std::vector<int32_t>& acc, int64_t i) {
  const int64_t ch = L.conv_h(), cw = L.conv_w(), per = ch * cw * L.out;
  std::vector<int> v(static_cast<size_t>(per));
  for (int64_t k = 0; k < per; ++k) {
    const int64_t o = k % L.out;
    v[static_cast<size_t>(k)] =
        L.output.value(format::threshold_level(L.thresholds.data() + o * L.levels, L.levels, acc[static_cast<size_t>(i * per + k)]));
  }
  if (!L.pool.kernel) return v;
  std::vector<int> p;
  for (int64_t y = 0; y < L.pooled_h(); ++y)
    for (int64_t x = 0; x < L.pooled_w(); ++x)
      for (int64_t o = 0; o < L.out; ++o) {
        int m = -1000;
        for (int64_t dy = 0; dy < 2; ++dy)
          for (int64_t dx = 0; dx < 2; ++dx) m = std::max(m, v[static_cast<size_t>(((2 * y + dy) * cw + 2 * x + dx) * L.out + o)]);
        p.push_back(m);
      }
  return p;
}

// Exports d for overlay o into a fresh folder, runs every image on the board model and on
// lowbit, and compares layer by layer.
void check_agreement(const bp::Overlay& o, const ModelDesc& d, const Images& im) {
  SCOPED_TRACE(o.name);
  const bp::OverlayParams params = bp::overlay_params(d, o);
  data::testing::TempDir tmp;
  const std::string dir = tmp.str();
  const std::vector<std::string> names = bp::default_class_names("x", params.classes);
  const std::string folder = bp::write_parameter_dir(dir, "set", o.name, bp::parameter_files(params, names));
  const testing::board::Board b = testing::board::load(folder, o, params.classes);
  runtime::Engine e = engine_of(d);
  const auto trace = e.trace(im.px.data(), im.n, im.c, im.h, im.w);
  std::vector<int32_t> pred(static_cast<size_t>(im.n));
  e.run(im.px.data(), im.n, im.c, im.h, im.w, nullptr, pred.data());
  int64_t fired = 0, silent = 0;
  std::set<int32_t> values;
  for (int64_t i = 0; i < im.n; ++i) {
    SCOPED_TRACE("image " + std::to_string(i));
    const testing::board::Result r = testing::board::run(b, host_image(o, im, i));
    for (size_t l = 0; l + 1 < d.layers.size(); ++l) {
      const std::vector<int> mine = lowbit_map(d.layers[l], trace[l], i);
      std::vector<int> theirs = r.maps[l];
      if (o.layers[l].thresholds == 1)
        for (int& v : theirs) v = 2 * v - 1;  // bit 1 = +1, bit 0 = -1
      ASSERT_EQ(theirs, mine) << "layer " << l;
    }
    std::vector<int32_t> out(static_cast<size_t>(params.classes));
    bp::overlay_outputs(params, trace.back().data() + i * params.classes, out.data());
    for (int64_t c = 0; c < params.classes; ++c) {
      ASSERT_EQ(r.out[static_cast<size_t>(c)], out[static_cast<size_t>(c)]) << "class " << c;
      (out[static_cast<size_t>(c)] > 0 ? fired : silent)++;
      values.insert(out[static_cast<size_t>(c)]);
    }
    EXPECT_EQ(r.cls, bp::batch_class(params, out.data()));
    // CNV with a positive shared map: the overlay's first maximum is lowbit's argmax, except
    // where no output is positive (the host then says 0).
    if (o.output == bp::OverlayOutput::kAccumulators16 && *std::max_element(out.begin(), out.end()) > 0 &&
        params.output.row_sign[0] > 0) {
      EXPECT_EQ(bp::single_image_class(params, out.data()), pred[static_cast<size_t>(i)]);
    }
  }
  if (o.output == bp::OverlayOutput::kClassBits) {  // the test means something: bits of both kinds
    EXPECT_GT(fired, 0);
    EXPECT_GT(silent, 0);
  } else {
    EXPECT_GT(values.size(), 1u);
  }
}

TEST(BnnPynq, LfcOverlaysAgreeWithLowbitOnEveryImage) {
  for (const char* name : {"lfcW1A1", "lfcW1A2"}) {
    const bp::Overlay& o = bp::overlay(name);
    Rng rng(7);
    Images im = test_images(10, 1, 28, 28, rng);
    ModelDesc d = random_desc(o, {}, rng);
    land_on_thresholds(d, im, rng);
    check_agreement(o, d, im);
  }
}

TEST(BnnPynq, CnvOverlaysAgreeWithLowbitOnEveryImage) {
  struct Case {
    const char* name;
    Options opt;
    int64_t c, h, w;
  };
  // Grey 28x28 images (centre-padded, replicated to R, G, B), RGB 32x32 images, and a
  // negative shared score map (the overlay holds every row negated).
  for (const Case& k : {Case{"cnvW1A1", {1, 10, 1.f}, 1, 28, 28}, Case{"cnvW1A2", {3, 10, 1.f}, 3, 32, 32},
                        Case{"cnvW2A2", {1, 10, -1.f}, 1, 32, 32}, Case{"cnvW1A1", {3, 7, -1.f}, 3, 32, 32}}) {
    SCOPED_TRACE(k.name);
    const bp::Overlay& o = bp::overlay(k.name);
    Rng rng(11);
    Images im = test_images(3, k.c, k.h, k.w, rng);
    ModelDesc d = random_desc(o, k.opt, rng);
    land_on_thresholds(d, im, rng);
    check_agreement(o, d, im);
  }
}

// The same on small overlays of the same kinds (custom shapes and foldings; the code takes
// any consistent table), over many seeds: LFC-like nets with a padded first layer in W1A1,
// W1A2 and a W2A2 variant, and CNV-like nets with both pools, in W1A1, W1A2 and W2A2.
bp::OverlayLayer small_fc(int64_t mw, int64_t mh, int64_t simd, int64_t pe) {
  bp::OverlayLayer l;
  l.mw = mw, l.mh = mh, l.simd = simd, l.pe = pe;
  return l;
}

bp::OverlayLayer small_conv(int64_t in_ch, int64_t dim, int64_t out_ch, int64_t simd, int64_t pe, bool pool) {
  bp::OverlayLayer l;
  l.conv = true, l.kernel = 3, l.ifm_ch = in_ch, l.ifm_dim = dim, l.ofm_ch = out_ch, l.ofm_dim = dim - 2;
  l.mw = 9 * in_ch, l.mh = out_ch, l.simd = simd, l.pe = pe, l.pool_after = pool;
  return l;
}

// Sets the arithmetic of every layer as the real overlays of that precision do.
bp::Overlay with_precision(bp::Overlay o, int wbits, int abits) {
  const bool lfc = o.input == bp::OverlayInput::kMnistBits;
  for (size_t i = 0; i < o.layers.size(); ++i) {
    bp::OverlayLayer& l = o.layers[i];
    const bool last = i + 1 == o.layers.size();
    l.weight_bits = wbits;
    l.thresholds = last ? (lfc ? 1 : 0) : (abits == 1 ? 1 : 2);
    if (!lfc && i == 0) {
      l.input = bp::InputCode::kFixed8, l.acc = bp::Accumulate::kFixedInput;
    } else if (wbits == 1 && abits == 1) {
      l.input = bp::InputCode::kBit, l.acc = bp::Accumulate::kXnorPopcount;
    } else {
      l.input = i == 0 ? bp::InputCode::kBit : bp::InputCode::kInt2, l.acc = bp::Accumulate::kSignedDot;
    }
  }
  o.name += "W" + std::to_string(wbits) + "A" + std::to_string(abits);
  return o;
}

TEST(BnnPynq, SmallOverlaysAgreeWithLowbitOverManySeeds) {
  bp::Overlay lfc{"smallLfc", bp::OverlayInput::kMnistBits, bp::OverlayOutput::kClassBits, {}, 16};
  lfc.layers = {small_fc(832, 48, 32, 8), small_fc(48, 32, 16, 4), small_fc(32, 16, 4, 4)};
  bp::Overlay cnv{"smallCnv", bp::OverlayInput::kCifarFixed, bp::OverlayOutput::kAccumulators16, {}, 16};
  cnv.layers = {small_conv(3, 32, 4, 3, 2, false), small_conv(4, 30, 4, 4, 4, true), small_conv(4, 14, 8, 4, 2, false),
                small_conv(8, 12, 8, 8, 4, true),  small_conv(8, 5, 8, 4, 2, false),  small_conv(8, 3, 16, 8, 4, false),
                small_fc(16, 32, 4, 8),            small_fc(32, 16, 8, 2)};
  for (const auto& [base, wa] : std::vector<std::pair<bp::Overlay, std::pair<int, int>>>{
           {lfc, {1, 1}}, {lfc, {1, 2}}, {lfc, {2, 2}}, {cnv, {1, 1}}, {cnv, {1, 2}}, {cnv, {2, 2}}}) {
    const bp::Overlay o = with_precision(base, wa.first, wa.second);
    const bool is_lfc = o.input == bp::OverlayInput::kMnistBits;
    for (uint64_t seed = 1; seed <= 6; ++seed) {
      SCOPED_TRACE("seed " + std::to_string(seed));
      Rng rng(seed);
      Options opt{seed % 2 ? 1 : 3, 2 + static_cast<int64_t>(seed % 14), seed % 3 ? 1.f : -1.f};
      Images im = is_lfc ? test_images(6, 1, 28, 28, rng) : test_images(4, opt.in_channels, 28 + 4 * (seed % 2 == 0), 28 + 4 * (seed % 2 == 0), rng);
      ModelDesc d = random_desc(o, opt, rng);
      land_on_thresholds(d, im, rng);
      check_agreement(o, d, im);
    }
  }
}

// The file set and sizes of each overlay: WMEM = NF * SF words per weight file and TMEM =
// NF lines per threshold file, as BNN-PYNQ's config.h states them (e.g. LFC layer 0: 32
// weight files of 3,328 bytes, 32 threshold files of 256).
TEST(BnnPynq, FileSetsMatchTheOverlaysConfigs) {
  struct Expect {
    const char* name;
    std::vector<int64_t> wmem, tmem;
  };
  const std::vector<Expect> all = {
      {"lfcW1A1", {416, 512, 512, 512}, {32, 16, 32, 4}},
      {"lfcW1A2", {416, 512, 512, 512}, {32, 16, 32, 4}},
      {"cnvW1A1", {36, 36, 144, 288, 2304, 18432, 32768, 32768, 8192}, {4, 2, 8, 8, 64, 256, 512, 512, 16}},
      {"cnvW1A2", {36, 36, 144, 288, 2304, 18432, 32768, 32768, 8192}, {4, 2, 8, 8, 64, 256, 512, 512, 16}},
      {"cnvW2A2", {72, 144, 576, 1152, 9216, 73728, 65536, 65536, 8192}, {8, 4, 16, 16, 64, 256, 512, 256, 16}},
  };
  for (const Expect& x : all) {
    SCOPED_TRACE(x.name);
    const bp::Overlay& o = bp::overlay(x.name);
    Rng rng(3);
    const bp::OverlayParams p = bp::overlay_params(random_desc(o, {}, rng), o);
    const auto files = bp::parameter_files(p, bp::default_class_names("fashion-mnist", 10));
    std::map<std::string, size_t> size;
    for (const auto& f : files) size[f.name] = f.bytes.size();
    size_t expected_files = 1;
    for (size_t l = 0; l < o.layers.size(); ++l) {
      const int64_t pe = o.layers[l].pe, nthr = o.layers[l].thresholds;
      EXPECT_EQ(o.layers[l].nf() * o.layers[l].sf(), x.wmem[l]) << "layer " << l;
      EXPECT_EQ(o.layers[l].nf(), x.tmem[l]) << "layer " << l;
      for (int64_t q = 0; q < pe; ++q) {
        const std::string base = std::to_string(l) + "-" + std::to_string(q);
        EXPECT_EQ(size[base + "-weights.bin"], static_cast<size_t>(x.wmem[l] * 8)) << base;
        if (nthr) {
          EXPECT_EQ(size[base + "-thres.bin"], static_cast<size_t>(x.tmem[l] * nthr * 8)) << base;
        }
        expected_files += nthr ? 2 : 1;
      }
    }
    EXPECT_EQ(files.size(), expected_files);
    // BNN-PYNQ's own parameter folders hold 289 (LFC), 179 (CNV W1) and 101 (CNV W2A2) files.
    EXPECT_EQ(files.size(), x.name[0] == 'l' ? 289u : (x.name[4] == '2' ? 101u : 179u));
    const std::string classes(files.back().bytes.begin(), files.back().bytes.end());
    EXPECT_EQ(classes.substr(0, 12), "T-shirt/top\n");
    // Deterministic: the same parameters, the same bytes.
    const auto again = bp::parameter_files(p, bp::default_class_names("fashion-mnist", 10));
    for (size_t i = 0; i < files.size(); ++i) ASSERT_EQ(files[i].bytes, again[i].bytes) << files[i].name;
  }
}

std::string refusal(const ModelDesc& d, const char* network) {
  return testing::error_of([&] { (void)bp::overlay_params(d, bp::overlay(network)); });
}

// Models that do not fit are refused, one line per mismatch, naming the layer and the cure.
TEST(BnnPynq, MismatchesAreRefusedNamingTheLayerAndReason) {
  Rng rng(5);
  const ModelDesc lfc = random_desc(bp::overlay("lfcW1A1"), {}, rng);
  // An A1 model is not the A2 overlay: every hidden layer says so.
  std::string m = refusal(lfc, "lfcW1A2");
  EXPECT_NE(m.find("layer 0 (layer@0): lfcW1A2 outputs -1/0/+1 here"), std::string::npos) << m;
  EXPECT_NE(m.find("layer 2 (layer@2)"), std::string::npos) << m;
  EXPECT_NE(m.find("layer 1 (layer@1): lfcW1A2 feeds this layer -1/0/+1 codes"), std::string::npos) << m;
  // Nor a CNV: the count of layers.
  m = refusal(lfc, "cnvW1A1");
  EXPECT_NE(m.find("cnvW1A1 has 9 weighted layers"), std::string::npos) << m;

  ModelDesc d = lfc;
  d.layers[1].out = 512;  // narrower hidden layer (then layer 2 reads 512 inputs)
  d.layers[1].weights.resize(static_cast<size_t>(512 * 1024));
  d.layers[1].negated.resize(512);
  d.layers[1].thresholds.resize(512);
  d.layers[2].in_c = 512;
  d.layers[2].weights.resize(static_cast<size_t>(1024 * 512));
  m = refusal(d, "lfcW1A1");
  EXPECT_NE(m.find("layer 1 (layer@1): lfcW1A1 has 1024 outputs here, this layer 512"), std::string::npos) << m;
  EXPECT_NE(m.find("layer 2 (layer@2): lfcW1A1 takes 1024 inputs here, this layer 512"), std::string::npos) << m;

  d = lfc;
  d.input.table[127] = 1;  // binarized at 127 instead of 128
  m = refusal(d, "lfcW1A1");
  EXPECT_NE(m.find("input: pixel 127 gives +1"), std::string::npos) << m;
  d = lfc;
  d.layers[3].weights[5] = 3;
  m = refusal(d, "lfcW1A1");
  EXPECT_NE(m.find("layer 3 (layer@3): weight 3 (output 0) does not fit lfcW1A1's binary weights"), std::string::npos) << m;

  const ModelDesc cnv = random_desc(bp::overlay("cnvW1A1"), {}, rng);
  d = cnv;
  d.layers.back().score.scale[3] *= 1.5f;  // a per-class scale: raw accumulators cannot carry it
  m = refusal(d, "cnvW1A1");
  EXPECT_NE(m.find("layer 8 (layer@8): class 3's score map"), std::string::npos) << m;
  EXPECT_NE(m.find("--last-bn tensor"), std::string::npos) << m;
  d = cnv;
  d.layers[1].pool = {};
  m = refusal(d, "cnvW1A1");
  EXPECT_NE(m.find("layer 1 (layer@1): cnvW1A1 max-pools 2x2 after this layer; this model does not"), std::string::npos)
      << m;
  d = cnv;
  for (auto& t : d.input.table) t = static_cast<uint8_t>(std::min(255, t + 1));
  m = refusal(d, "cnvW1A1");
  EXPECT_NE(m.find("--input-quantizer fixed:8,7:signed"), std::string::npos) << m;
  // Every mismatch at once: the input and the last layer's per-class map (a user fixing
  // one should not meet the next only after training again).
  d = cnv;
  for (auto& t : d.input.table) t = static_cast<uint8_t>(std::min(255, t + 1));
  d.layers.back().score.bn_shift[2] += 1.f;
  m = refusal(d, "cnvW1A1");
  EXPECT_NE(m.find("input: pixel"), std::string::npos) << m;
  EXPECT_NE(m.find("class 2's score map"), std::string::npos) << m;
  // An 8-bit input on LFC: the input says what to train (--input-bits 1), and layer 0 does
  // not add a misleading hint about activations.
  d = lfc;
  d.input.codes = CodeFormat::unsigned_bits(8);
  for (int c = 0; c < 256; ++c) d.input.table[static_cast<size_t>(c)] = static_cast<uint8_t>(c);
  d.layers[0].input = d.input.codes;
  m = refusal(d, "lfcW1A1");
  EXPECT_NE(m.find("--input-bits 1"), std::string::npos) << m;
  EXPECT_EQ(m.find("layer 0 (layer@0): lfcW1A1 feeds this layer"), std::string::npos) << m;
  // Weights that need a 2-bit negation of -2 on a decreasing class map.
  Options neg{1, 10, -1.f};
  d = random_desc(bp::overlay("cnvW2A2"), neg, rng);
  d.layers.back().weights[0] = -2;
  m = refusal(d, "cnvW2A2");
  EXPECT_NE(m.find("no 2-bit negation"), std::string::npos) << m;
  // find_overlay picks the one that fits.
  EXPECT_EQ(bp::find_overlay(lfc)->name, "lfcW1A1");
  EXPECT_EQ(bp::find_overlay(cnv)->name, "cnvW1A1");
}

// A folder written again replaces the old one whole; the dataset name is a plain folder name.
TEST(BnnPynq, ParameterFolderIsReplacedWhole) {
  Rng rng(9);
  const bp::Overlay& o = bp::overlay("lfcW1A1");
  const bp::OverlayParams p = bp::overlay_params(random_desc(o, {}, rng), o);
  data::testing::TempDir tmp;
  const std::string dir = tmp.str();
  const std::vector<bp::ParamFile> files = bp::parameter_files(p, bp::default_class_names("x", 10));
  const std::string folder = bp::write_parameter_dir(dir, "set", o.name, files);
  write_file_atomic(folder + "/stray.bin", std::string_view("x"));
  bp::write_parameter_dir(dir, "set", o.name, files);
  EXPECT_FALSE(file_exists(folder + "/stray.bin"));
  EXPECT_TRUE(file_exists(folder + "/3-15-thres.bin"));
  size_t entries = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir + "/set")) entries += e.is_directory();
  EXPECT_EQ(entries, 1u);  // no temporary folder left
  EXPECT_THROW(bp::write_parameter_dir(dir, "../up", o.name, files), Error);
  EXPECT_THROW(bp::parameter_files(p, {"a", "b"}), Error);
  std::vector<std::string> bad = bp::default_class_names("x", 10);
  bad[2] = "two\nlines";
  EXPECT_THROW(bp::parameter_files(p, bad), Error);
}

// The test images in the overlays' input formats: MNIST idx files (LFC), CIFAR-10 records
// with the grey channel replicated and centre padding (CNV).
TEST(BnnPynq, ImageFilesInTheOverlaysInputFormats) {
  std::vector<uint8_t> px(2 * 28 * 28);
  for (size_t i = 0; i < px.size(); ++i) px[i] = static_cast<uint8_t>(i * 7);
  const int32_t labels[2] = {3, 9};
  auto f = bp::overlay_image_files(bp::overlay("lfcW1A1"), px.data(), labels, 2, 1, 28, 28);
  ASSERT_EQ(f.size(), 2u);
  EXPECT_EQ(f[0].bytes.size(), 16u + 2 * 784);
  EXPECT_EQ(f[0].bytes[3], 0x03);  // idx3 magic 0x00000803
  EXPECT_EQ(f[0].bytes[16 + 784 + 5], px[784 + 5]);
  EXPECT_EQ(f[1].bytes.size(), 8u + 2);
  EXPECT_EQ(f[1].bytes[9], 9);
  f = bp::overlay_image_files(bp::overlay("cnvW1A1"), px.data(), labels, 2, 1, 28, 28);
  ASSERT_EQ(f.size(), 1u);
  ASSERT_EQ(f[0].bytes.size(), 2u * 3073);
  const uint8_t* rec = f[0].bytes.data() + 3073;  // the second record
  EXPECT_EQ(rec[0], 9);
  for (int c = 0; c < 3; ++c) {
    EXPECT_EQ(rec[1 + c * 1024 + 0], 0);                           // padding
    EXPECT_EQ(rec[1 + c * 1024 + 2 * 32 + 2], px[784]);            // pixel (0, 0) at (2, 2)
    EXPECT_EQ(rec[1 + c * 1024 + 29 * 32 + 29], px[784 + 27 * 28 + 27]);
  }
  EXPECT_THROW(bp::overlay_image_files(bp::overlay("lfcW1A1"), px.data(), labels, 1, 1, 32, 28), Error);
}

}  // namespace
}  // namespace lowbit
