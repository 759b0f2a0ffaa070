// An independent model of a BNN-PYNQ overlay for the tests: it reads a parameter folder
// from the format description alone (docs/HARDWARE.md; none of lowbit's packing code) and
// computes as finn-hlslib's MVTUs and BNN-PYNQ's host code do, including the types' widths
// (thresholds truncated to ap_int<16> or ap_fixed<24,16>, accumulators wrapping at 16 bits).
// Geometry (PE, SIMD, MW, MH, the arithmetic per layer) comes from the overlay table.
#pragma once
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "lowbit/core/file_io.hpp"
#include "lowbit/hw/bnn_pynq_overlays.hpp"

namespace lowbit::testing::board {

namespace bp = lowbit::hw::bnn_pynq;

inline uint64_t le64(const std::vector<uint8_t>& b, size_t at) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | b[at + static_cast<size_t>(i)];
  return v;
}
inline int64_t wrap_bits(int64_t v, int bits) {  // two's complement of the low `bits` bits
  const uint64_t m = (uint64_t{1} << bits) - 1, u = static_cast<uint64_t>(v) & m;
  return (u >> (bits - 1)) ? static_cast<int64_t>(u) - static_cast<int64_t>(m) - 1 : static_cast<int64_t>(u);
}

struct Layer {
  int64_t rows = 0, cols = 0;
  std::vector<int> w;       // rows x cols: +-1, or -2..1
  int nthr = 0;
  std::vector<int64_t> t;   // rows x nthr, as stored (int64)
};

// Reads layer L from `dir`; files of the wrong size fail the test (ADD_FAILURE) and read as 0.
inline Layer read_layer(const std::string& dir, size_t L, const bp::OverlayLayer& ol) {
  Layer r;
  r.rows = ol.mh, r.cols = ol.mw, r.nthr = ol.thresholds;
  r.w.assign(static_cast<size_t>(r.rows * r.cols), 0);
  r.t.assign(static_cast<size_t>(r.rows * r.nthr), 0);
  const int64_t NF = ol.mh / ol.pe, SF = ol.mw / ol.simd;
  for (int64_t p = 0; p < ol.pe; ++p) {
    const std::string base = dir + "/" + std::to_string(L) + "-" + std::to_string(p);
    const std::vector<uint8_t> wf = read_file(base + "-weights.bin");
    if (wf.size() != static_cast<size_t>(NF * SF * 8)) {
      ADD_FAILURE() << base << "-weights.bin has " << wf.size() << " bytes, expected " << NF * SF * 8;
      continue;
    }
    for (int64_t nf = 0; nf < NF; ++nf)
      for (int64_t sf = 0; sf < SF; ++sf) {
        const uint64_t word = le64(wf, static_cast<size_t>((nf * SF + sf) * 8));
        for (int64_t i = 0; i < ol.simd; ++i) {
          int v;
          if (ol.weight_bits == 1) {
            v = (word >> i) & 1 ? 1 : -1;
          } else {
            const int code = static_cast<int>((word >> (2 * i)) & 3);
            v = code >= 2 ? code - 4 : code;
          }
          r.w[static_cast<size_t>((nf * ol.pe + p) * r.cols + sf * ol.simd + i)] = v;
        }
        const int used = static_cast<int>(ol.simd * ol.weight_bits);
        if (used < 64 && (word >> used) != 0) ADD_FAILURE() << base << "-weights.bin: unused high bits set";
      }
    if (r.nthr == 0) {
      if (file_exists(base + "-thres.bin")) ADD_FAILURE() << base << "-thres.bin should not exist";
      continue;
    }
    const std::vector<uint8_t> tf = read_file(base + "-thres.bin");
    if (tf.size() != static_cast<size_t>(NF * r.nthr * 8)) {
      ADD_FAILURE() << base << "-thres.bin has " << tf.size() << " bytes";
      continue;
    }
    for (int64_t nf = 0; nf < NF; ++nf)
      for (int j = 0; j < r.nthr; ++j)
        r.t[static_cast<size_t>((nf * ol.pe + p) * r.nthr + j)] =
            static_cast<int64_t>(le64(tf, static_cast<size_t>((nf * r.nthr + j) * 8)));
  }
  return r;
}

struct Board {
  const bp::Overlay* o = nullptr;
  std::vector<Layer> layers;
  int64_t classes = 0;
};

inline Board load(const std::string& dir, const bp::Overlay& o, int64_t classes) {
  Board b;
  b.o = &o;
  b.classes = classes;
  for (size_t L = 0; L < o.layers.size(); ++L) b.layers.push_back(read_layer(dir, L, o.layers[L]));
  return b;
}

struct Result {
  std::vector<std::vector<int>> maps;  // each hidden layer's output values (after pooling), (y, x, c)
  std::vector<int64_t> out;            // class bits, or the 16-bit outputs
  int cls = 0;                         // the batch call's class
};

// One image as the host receives it: LFC a 28x28 MNIST image; CNV one CIFAR record's
// 3 x 32 x 32 planes (R, G, B).
inline Result run(const Board& b, const std::vector<uint8_t>& image) {
  const bp::Overlay& o = *b.o;
  Result res;
  // The first layer's input elements in stream order: LFC pixel bits (padded with 0 bits to
  // MW), CNV ap_fixed<8,1> codes with the channels interleaved (y, x, c).
  std::vector<int> x;
  if (o.input == bp::OverlayInput::kMnistBits) {
    for (int64_t k = 0; k < o.layers[0].mw; ++k) x.push_back(k < 784 && image[static_cast<size_t>(k)] >= 128 ? 1 : 0);
  } else {
    for (int64_t y = 0; y < 32; ++y)
      for (int64_t xx = 0; xx < 32; ++xx)
        for (int64_t c = 0; c < 3; ++c) {
          const double f = static_cast<float>(image[static_cast<size_t>(c * 1024 + y * 32 + xx)] / 255.0 * 2.0 - 1.0);
          x.push_back(static_cast<int>(std::clamp(std::floor(f * 128.0 + 0.5), -128.0, 127.0)));
        }
  }
  for (size_t L = 0; L < o.layers.size(); ++L) {
    const bp::OverlayLayer& ol = o.layers[L];
    const Layer& lay = b.layers[L];
    const bool last = L + 1 == o.layers.size();
    const int64_t pixels = ol.conv ? ol.ofm_dim * ol.ofm_dim : 1;
    std::vector<int> y(static_cast<size_t>(pixels * ol.mh));
    std::vector<int64_t> col(static_cast<size_t>(ol.mw));
    for (int64_t pix = 0; pix < pixels; ++pix) {
      // The column vector: the sliding window's (ky, kx, c) elements, or the whole input.
      if (ol.conv) {
        const int64_t oy = pix / ol.ofm_dim, ox = pix % ol.ofm_dim;
        for (int64_t ky = 0; ky < 3; ++ky)
          for (int64_t kx = 0; kx < 3; ++kx)
            for (int64_t c = 0; c < ol.ifm_ch; ++c)
              col[static_cast<size_t>((ky * 3 + kx) * ol.ifm_ch + c)] =
                  x[static_cast<size_t>(((oy + ky) * ol.ifm_dim + ox + kx) * ol.ifm_ch + c)];
      } else {
        for (int64_t k = 0; k < ol.mw; ++k) col[static_cast<size_t>(k)] = x[static_cast<size_t>(k)];
      }
      for (int64_t r = 0; r < ol.mh; ++r) {
        const int* w = lay.w.data() + r * lay.cols;
        int64_t acc = 0;
        for (int64_t k = 0; k < ol.mw; ++k) {
          const int64_t xv = col[static_cast<size_t>(k)];
          switch (ol.acc) {
            case bp::Accumulate::kXnorPopcount: acc += (w[k] > 0) == (xv == 1); break;
            case bp::Accumulate::kSignedDot: acc += w[k] * (ol.input == bp::InputCode::kBit ? (xv ? 1 : -1) : xv); break;
            case bp::Accumulate::kFixedInput: acc += w[k] * xv; break;  // in 1/128
          }
        }
        int v;
        if (ol.thresholds == 0) {
          v = static_cast<int>(wrap_bits(acc, 16));  // ap_uint<16> out, read as ap_int<16>
        } else {
          v = ol.thresholds == 2 ? -1 : 0;
          for (int j = 0; j < ol.thresholds; ++j) {
            const int64_t T = lay.t[static_cast<size_t>(r * ol.thresholds + j)];
            if (ol.acc == bp::Accumulate::kFixedInput)
              v += wrap_bits(T, 24) < 2 * acc;  // T/256 < acc/128 in ap_fixed<24,16>
            else
              v += wrap_bits(T, 16) < wrap_bits(acc, 16);
          }
        }
        y[static_cast<size_t>(pix * ol.mh + r)] = v;
      }
    }
    if (ol.pool_after) {
      const int64_t pd = ol.ofm_dim / 2;
      std::vector<int> p(static_cast<size_t>(pd * pd * ol.mh));
      for (int64_t py = 0; py < pd; ++py)
        for (int64_t px = 0; px < pd; ++px)
          for (int64_t r = 0; r < ol.mh; ++r) {
            int m = -1000;
            for (int64_t dy = 0; dy < 2; ++dy)
              for (int64_t dx = 0; dx < 2; ++dx)
                m = std::max(m, y[static_cast<size_t>(((2 * py + dy) * ol.ofm_dim + 2 * px + dx) * ol.mh + r)]);
            p[static_cast<size_t>((py * pd + px) * ol.mh + r)] = m;
          }
      y = p;
    }
    if (last) {
      for (int64_t c = 0; c < b.classes; ++c) res.out.push_back(y[static_cast<size_t>(c)]);
    } else {
      res.maps.push_back(y);
      x = y;
    }
  }
  if (o.output == bp::OverlayOutput::kClassBits) {
    uint64_t word = 0;
    for (int64_t c = 0; c < b.classes; ++c) word |= static_cast<uint64_t>(res.out[static_cast<size_t>(c)] != 0) << c;
    res.cls = word ? static_cast<int>(static_cast<unsigned>(std::log2(static_cast<double>(word)))) : 0;
  } else {
    int64_t best = 0;
    for (int64_t c = 0; c < b.classes; ++c)
      if (res.out[static_cast<size_t>(c)] > best) best = res.out[static_cast<size_t>(c)], res.cls = static_cast<int>(c);
  }
  return res;
}

}  // namespace lowbit::testing::board
