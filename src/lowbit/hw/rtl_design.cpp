#include "lowbit/hw/rtl_design.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <numeric>

#include "lowbit/core/error.hpp"
#include "lowbit/hw/finn_model.hpp"
#include "lowbit/hw/folding.hpp"

namespace lowbit::hw {

using format::CodeFormat;
using format::LayerDesc;
using format::LayerKind;

namespace {

// Bits of a two's complement integer holding every value of [lo, hi] (at least 2).
int signed_bits(int64_t lo, int64_t hi) {
  int b = 2;
  while (lo < -(int64_t{1} << (b - 1)) || hi > (int64_t{1} << (b - 1)) - 1) ++b;
  return b;
}

int bits_for(int64_t max_value) { return std::max(1, static_cast<int>(std::bit_width(static_cast<uint64_t>(max_value)))); }

// A word of `width` bits assembled from fields, printed as hex (MSB first).
class Word {
 public:
  explicit Word(int64_t width) : bits_(static_cast<size_t>(width), 0) {}
  void set(int64_t lsb, int64_t n, int64_t value) {  // two's complement, low n bits
    for (int64_t b = 0; b < n; ++b) bits_[static_cast<size_t>(lsb + b)] = static_cast<uint8_t>((static_cast<uint64_t>(value) >> b) & 1u);
  }
  std::string hex() const {
    const int64_t w = static_cast<int64_t>(bits_.size());
    std::string s(static_cast<size_t>((w + 3) / 4), '0');
    for (int64_t d = 0; d < static_cast<int64_t>(s.size()); ++d) {
      int v = 0;
      for (int b = 0; b < 4 && d * 4 + b < w; ++b) v |= bits_[static_cast<size_t>(d * 4 + b)] << b;
      s[s.size() - 1 - static_cast<size_t>(d)] = "0123456789abcdef"[v];
    }
    return s;
  }

 private:
  std::vector<uint8_t> bits_;
};

std::string sanitize(const std::string& name) {
  std::string s;
  for (char c : name) s += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
  return s.empty() ? "model" : s;
}

std::string q(const std::string& s) { return cat("\"", s, "\""); }

// The stream between stages as the walk builds the chain.
struct Stream {
  int64_t elems = 1, bits = 8;
  int64_t per_frame = 0;  // elements per frame
};

class Builder {
 public:
  Builder(const format::ModelDesc& desc, const Graph& g) : desc_(desc), g_(g) {}

  RtlDesign build() {
    d_.graph = g_;
    d_.top = cat("lowbit_", sanitize(desc_.name));
    input_order();
    for (size_t i = 0; i < g_.nodes.size(); ++i) unit(static_cast<int>(i));
    for (const RtlStage& s : d_.stages) {
      LOWBIT_CHECK(s.in_width() <= kMaxStreamBits && s.out_width() <= kMaxStreamBits, s.name, ": a stream of ",
                   std::max(s.in_width(), s.out_width()), " bits (at most ", kMaxStreamBits, ")");
    }
    for (const MemImage& m : d_.mems) d_.memory_bits += m.width * static_cast<int64_t>(m.lines.size());
    return std::move(d_);
  }

 private:
  void input_order() {
    const LayerDesc& first = desc_.layers.front();
    const auto& sh = desc_.input.shape;
    int64_t total = 1;
    for (int64_t v : sh) total *= v;
    d_.in_bytes = total;
    d_.input_index.resize(static_cast<size_t>(total));
    if (first.kind == LayerKind::kConv && sh.size() == 3) {
      const int64_t C = sh[0], H = sh[1], W = sh[2];
      size_t k = 0;
      for (int64_t y = 0; y < H; ++y)
        for (int64_t x = 0; x < W; ++x)
          for (int64_t c = 0; c < C; ++c) d_.input_index[k++] = (c * H + y) * W + x;
    } else {
      std::iota(d_.input_index.begin(), d_.input_index.end(), int64_t{0});
    }
    // The input port is as wide as the first unit's input: no converter in front of it.
    const Node& n = g_.nodes.front();
    const int64_t e = n.kind == NodeKind::kThresholding ? n.pe : n.simd;
    cur_ = {e, 8, total};
    d_.in_elems = e;
  }

  // Width converters from the current stream to `elems` elements per beat.
  void convert_to(int64_t elems) {
    if (cur_.elems == elems) return;
    auto dwc = [&](int64_t from, int64_t to) {
      RtlStage s;
      s.name = cat("dwc_", dwc_count_++);
      s.module = "lb_dwc";
      s.params = {{"IN_E", cat(from)}, {"OUT_E", cat(to)}, {"EB", cat(cur_.bits)}};
      s.in_elems = from, s.out_elems = to, s.in_bits = s.out_bits = cur_.bits;
      s.in_beats = cur_.per_frame / from, s.out_beats = cur_.per_frame / to;
      d_.stages.push_back(s);
      cur_.elems = to;
    };
    if (elems % cur_.elems == 0 || cur_.elems % elems == 0) return dwc(cur_.elems, elems);
    const int64_t l = std::lcm(cur_.elems, elems);
    dwc(cur_.elems, l);
    dwc(l, elems);
  }

  RtlStage& add(const Node& n, int node, const std::string& module, int64_t in_elems, int64_t out_elems,
                int64_t out_bits, int64_t out_per_frame) {
    convert_to(in_elems);
    RtlStage s;
    s.name = n.name, s.module = module, s.node = node;
    s.in_elems = in_elems, s.in_bits = cur_.bits;
    s.out_elems = out_elems, s.out_bits = out_bits;
    s.in_beats = cur_.per_frame / in_elems;
    s.out_beats = out_per_frame / out_elems;
    s.cycles = rtl_cycles(n, in_elems);
    d_.stages.push_back(s);
    cur_ = {out_elems, out_bits, out_per_frame};
    return d_.stages.back();
  }

  void unit(int i) {
    const Node& n = g_.nodes[static_cast<size_t>(i)];
    switch (n.kind) {
      case NodeKind::kThresholding: return thresholding(n, i);
      case NodeKind::kFmPadding: return padding(n, i);
      case NodeKind::kSwu: return swu(n, i);
      case NodeKind::kMvau: return mvau(n, i);
      case NodeKind::kMaxPool: return maxpool(n, i);
      case NodeKind::kLabelSelect: return label_select(n, i);
    }
  }

  void thresholding(const Node& n, int i) {
    // Threshold t: the first pixel whose level exceeds t (256: never).
    const CodeFormat codes = desc_.layers.front().input;
    const int nt = codes.levels();
    Word t(nt * 9);
    for (int k = 0; k < nt; ++k) {
      int p = 0;
      while (p < 256 && desc_.input.table[static_cast<size_t>(p)] < k + 1) ++p;
      t.set(k * 9, 9, p);
    }
    const int ob = codes.planes();
    RtlStage& s = add(n, i, "lb_thresholding", n.pe, n.pe, ob, cur_.per_frame);
    s.params = {{"PE", cat(n.pe)}, {"IB", "8"}, {"OB", cat(ob)}, {"NT", cat(nt)}, {"T", cat(nt * 9, "'h", t.hex())}};
  }

  void padding(const Node& n, int i) {
    const LayerDesc& l = desc_.layers[static_cast<size_t>(n.layer)];
    const bool to_int2 = n.out == DataType::sint(2) && l.input.pm1;
    int64_t pad_code = 0;
    if (to_int2) pad_code = 0;
    else if (l.input.pm1) pad_code = l.pad_value > 0 ? 1 : 0;
    else {
      pad_code = l.input.level(l.pad_value);
      LOWBIT_CHECK(pad_code >= 0 && pad_code <= l.input.levels(), n.name, " (", l.name, "): pad value ", l.pad_value,
                   " has no ", l.input.str(), " code");
    }
    const int64_t ob = to_int2 ? 2 : cur_.bits;
    const int64_t per_frame = n.ofm_h * n.ofm_w * n.channels;
    const int64_t ib = cur_.bits;
    RtlStage& s = add(n, i, "lb_fmpadding", n.simd, n.simd, ob, per_frame);
    s.params = {{"IH", cat(n.ifm_h)},     {"IW", cat(n.ifm_w)},        {"C", cat(n.channels)},
                {"SIMD", cat(n.simd)},    {"PT", cat(n.pad_top)},      {"PL", cat(n.pad_left)},
                {"PB", cat(n.pad_bottom)}, {"PR", cat(n.pad_right)},    {"IB", cat(ib)},
                {"OB", cat(ob)},          {"PM1_TO_INT2", to_int2 ? "1" : "0"}, {"PAD_CODE", cat(pad_code)}};
  }

  void swu(const Node& n, int i) {
    const int64_t per_frame = n.ofm_h * n.ofm_w * n.kernel_h * n.kernel_w * n.channels;
    const int64_t eb = cur_.bits;
    RtlStage& s = add(n, i, "lb_swu", n.simd, n.simd, eb, per_frame);
    s.params = {{"IH", cat(n.ifm_h)}, {"IW", cat(n.ifm_w)},     {"C", cat(n.channels)},  {"SIMD", cat(n.simd)},
                {"KH", cat(n.kernel_h)}, {"KW", cat(n.kernel_w)}, {"S", cat(n.stride)},   {"OH", cat(n.ofm_h)},
                {"OW", cat(n.ofm_w)}, {"EB", cat(eb)}};
  }

  void mvau(const Node& n, int i) {
    const LayerDesc& l = desc_.layers[static_cast<size_t>(n.layer)];
    // The input's values: +-1 bits, INT2 (exact-zero padded +-1), or codes minus the zero point.
    int in_mode = 1;
    int64_t vmin = l.input.value(0), vmax = l.input.value(l.input.levels());
    if (l.input.pm1) in_mode = n.in == DataType::sint(2) ? 2 : 0;
    if (in_mode == 2) vmin = -1, vmax = 1;
    bool all_pm1 = true;
    int64_t wmin = 0, wmax = 0, wabs = 0;
    for (size_t k = 0; k < l.weights.size(); ++k) {
      const int64_t w = l.weights[k];
      all_pm1 &= w == 1 || w == -1;
      wmin = k ? std::min(wmin, w) : w, wmax = k ? std::max(wmax, w) : w;
      wabs = std::max(wabs, std::abs(w));
    }
    const int w_mode = all_pm1 ? 0 : 1;
    const int wb = all_pm1 ? 1 : signed_bits(wmin, wmax);
    const int64_t mw = n.mw, mh = n.mh;
    int64_t amin = 0, amax = 0;
    for (int64_t o = 0; o < mh; ++o) {
      int64_t lo = 0, hi = 0;
      for (int64_t k = 0; k < mw; ++k) {
        const int64_t w = l.weight(o, k);
        lo += std::min(w * vmin, w * vmax), hi += std::max(w * vmin, w * vmax);
      }
      amin = o ? std::min(amin, lo) : lo, amax = o ? std::max(amax, hi) : hi;
    }
    const int aw = signed_bits(amin, amax + 1);
    const int64_t lane_bound = n.simd * wabs * std::max(std::abs(vmin), std::abs(vmax));
    const int sw = std::min(aw, signed_bits(-lane_bound, lane_bound));
    const int nt = l.scores ? 0 : l.levels;
    const int64_t ob = l.scores ? aw : l.output.planes();
    const int64_t nf = mh / n.pe, sf = mw / n.simd;

    MemImage wm{n.name + "_weights.mem", n.pe * n.simd * wb, {}};
    wm.lines.reserve(static_cast<size_t>(nf * sf));
    for (int64_t f = 0; f < nf; ++f)
      for (int64_t s = 0; s < sf; ++s) {
        Word word(wm.width);
        for (int64_t p = 0; p < n.pe; ++p)
          for (int64_t e = 0; e < n.simd; ++e) {
            const int64_t w = l.weight(f * n.pe + p, s * n.simd + e);
            word.set((p * n.simd + e) * wb, wb, w_mode == 0 ? (w > 0 ? 1 : 0) : w);
          }
        wm.lines.push_back(word.hex());
      }
    d_.weight_bits += wm.width * static_cast<int64_t>(wm.lines.size());
    std::string tfile = "none";
    if (nt) {
      MemImage tm{n.name + "_thresholds.mem", n.pe * nt * aw, {}};
      for (int64_t f = 0; f < nf; ++f) {
        Word word(tm.width);
        for (int64_t p = 0; p < n.pe; ++p)
          for (int t = 0; t < nt; ++t) {
            const int64_t v = std::clamp<int64_t>(l.threshold_set(f * n.pe + p, 0)[t], amin, amax + 1);
            word.set((p * nt + t) * aw, aw, v);
          }
        tm.lines.push_back(word.hex());
      }
      tfile = tm.file;
      d_.mems.push_back(std::move(tm));
    }
    const std::string wfile = wm.file;
    d_.mems.push_back(std::move(wm));
    RtlStage& s = add(n, i, "lb_mvau", n.simd, n.pe, ob, mh * n.vectors);
    s.params = {{"MW", cat(mw)},          {"MH", cat(mh)},           {"SIMD", cat(n.simd)},
                {"PE", cat(n.pe)},        {"IB", cat(s.in_bits)},    {"IN_MODE", cat(in_mode)},
                {"IN_ZP", cat(in_mode == 1 ? l.input.zero_point : 0)}, {"WB", cat(wb)},
                {"W_MODE", cat(w_mode)},  {"SW", cat(sw)},           {"AW", cat(aw)},
                {"NT", cat(nt)},          {"OB", cat(ob)},           {"WFILE", q(wfile)},
                {"TFILE", q(tfile)}};
    // An MVAU that replays its input (NF > 1) takes it only in its first output fold: a FIFO
    // of two input vectors in front lets a steady producer run on meanwhile (with depth 2 the
    // CNV designs of docs/HARDWARE.md lose 1-2% of throughput; FINN sizes its FIFOs by
    // simulation for the same reason).
    if (nf > 1) s.fifo_depth = std::clamp<int64_t>(2 * sf, 2, 4096);
    if (l.scores) {
      score_layer_ = &l;
      d_.acc_bits = aw, d_.acc_elems = n.pe, d_.classes = mh;
      score_min_ = amin, score_max_ = amax;
    }
  }

  void maxpool(const Node& n, int i) {
    LOWBIT_CHECK(score_layer_ == nullptr, n.name, ": a max pool of the score layer has no RTL unit");
    const int64_t e = cur_.elems, eb = cur_.bits;
    RtlStage& s = add(n, i, "lb_maxpool", e, e, eb, n.ofm_h * n.ofm_w * n.channels);
    s.params = {{"C", cat(n.channels)}, {"E", cat(e)},   {"IH", cat(n.ifm_h)}, {"IW", cat(n.ifm_w)},
                {"K", cat(n.kernel_h)}, {"EB", cat(eb)}, {"SIGNED", "0"}};
  }

  void label_select(const Node& n, int i) {
    LOWBIT_CHECK(score_layer_ != nullptr, n.name, ": LabelSelect without a score layer before it");
    const LayerDesc& l = *score_layer_;
    const format::ScoresDesc& sc = l.score;
    const int64_t classes = l.out;
    auto score = [&](int64_t acc, int64_t c) {
      return format::score(acc, c, sc.scale.data(), sc.bias.empty() ? nullptr : sc.bias.data(),
                           sc.bn_mean.empty() ? nullptr : sc.bn_mean.data(), sc.bn_scale.empty() ? nullptr : sc.bn_scale.data(),
                           sc.bn_shift.empty() ? nullptr : sc.bn_shift.data());
    };
    // One strictly increasing map for every class: compare the accumulators themselves.
    bool shared = true;
    auto same = [&](const std::vector<float>& v) {
      for (size_t c = 1; c < v.size(); ++c) shared &= v[c] == v[0];
    };
    same(sc.scale), same(sc.bias), same(sc.bn_mean), same(sc.bn_scale), same(sc.bn_shift);
    for (int64_t a = score_min_; shared && a < score_max_; ++a) shared &= score(a + 1, 0) > score(a, 0);
    const int64_t range = score_max_ - score_min_ + 1;
    int kb = static_cast<int>(d_.acc_bits);
    if (!shared) {
      LOWBIT_CHECK(classes * range <= (int64_t{1} << 24), n.name, ": the score rank ROM would hold ", classes * range,
                   " words (", classes, " classes x ", range, " accumulator values; at most 2^24)");
      std::vector<float> all;
      all.reserve(static_cast<size_t>(classes * range));
      for (int64_t c = 0; c < classes; ++c)
        for (int64_t a = score_min_; a <= score_max_; ++a) {
          const float y = score(a, c);
          LOWBIT_CHECK(!std::isnan(y), n.name, ": class ", c, " scores NaN at accumulator ", a);
          all.push_back(y);
        }
      std::vector<float> sorted = all;
      std::sort(sorted.begin(), sorted.end());
      sorted.erase(std::unique(sorted.begin(), sorted.end()), sorted.end());
      kb = bits_for(static_cast<int64_t>(sorted.size()) - 1);
      MemImage rm{n.name + "_ranks.mem", kb, {}};
      rm.lines.reserve(all.size());
      for (float y : all) {
        Word w(kb);
        w.set(0, kb, std::lower_bound(sorted.begin(), sorted.end(), y) - sorted.begin());
        rm.lines.push_back(w.hex());
      }
      d_.mems.push_back(std::move(rm));
      d_.label_rom = true;
    }
    d_.label_bits = bits_for(classes - 1);
    d_.label_stage = d_.stages.size();
    const int64_t e = cur_.elems;
    RtlStage& s = add(n, i, "lb_label_select", e, 1, d_.label_bits, 1);
    s.cycles = rtl_cycles(n, e);
    s.params = {{"C", cat(classes)},   {"E", cat(e)},
                {"EB", cat(d_.acc_bits)}, {"KEY_ROM", d_.label_rom ? "1" : "0"},
                {"KB", cat(kb)},       {"R", cat(d_.label_rom ? range : 1)},
                {"AMIN", cat(score_min_)}, {"LB", cat(d_.label_bits)},
                {"RFILE", q(n.name + "_ranks.mem")}};
    // The DWC that add() may insert sits after the fork: label_stage is the first stage of
    // the label branch.
  }

  const format::ModelDesc& desc_;
  const Graph& g_;
  RtlDesign d_;
  Stream cur_;
  int dwc_count_ = 0;
  const LayerDesc* score_layer_ = nullptr;
  int64_t score_min_ = 0, score_max_ = 0;
};

}  // namespace

const RtlStage& RtlDesign::bottleneck() const {
  LOWBIT_CHECK(!stages.empty(), "design '", top, "' has no stages");
  const RtlStage* b = &stages.front();
  for (const RtlStage& s : stages)
    if (s.cycles > b->cycles) b = &s;
  return *b;
}

int64_t rtl_cycles(const Node& n, int64_t in_elems) {
  switch (n.kind) {
    case NodeKind::kMaxPool: return n.ifm_h * n.ifm_w * (n.channels / in_elems);
    case NodeKind::kLabelSelect: return n.channels;
    default: return exp_cycles(n);
  }
}

RtlDesign build_rtl(const format::ModelDesc& desc, const Graph& g) {
  check_folding(g);
  const Node& first = g.nodes.front();
  LOWBIT_CHECK(first.kind == NodeKind::kThresholding || first.kind == NodeKind::kFmPadding ||
                   first.kind == NodeKind::kSwu || first.kind == NodeKind::kMvau,
               "the graph starts with ", first.name);
  return Builder(desc, g).build();
}

}  // namespace lowbit::hw
