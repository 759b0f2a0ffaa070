// make_batch: uint8 dataset images -> normalized, padded, augmented float batch.
#include "lowbit/data/batch.hpp"

#include <algorithm>

#include "lowbit/core/parallel.hpp"
#include "lowbit/core/error.hpp"
#include "lowbit/format/semantics.hpp"

namespace lowbit::data {

namespace {

// The random choices for one image: read the source at (y + dy, x + dx), then mirror.
struct Draw {
  int dy = 0, dx = 0;
  bool flip = false;
};

// Far beyond any useful crop padding; keeps every shifted coordinate safely inside int.
constexpr int kMaxCropPad = 1 << 16;

// One output plane (OH x OW) from one source plane (H x W). Branches are per row only;
// the inner loops are straight table lookups the compiler can unroll.
void fill_plane(const uint8_t* src, int H, int W, float* dst, int OH, int OW, int top, int left, const Draw& d,
                const float* lut) {
  const float pad = lut[0];
  // Columns of the output image (before output padding) that read a real pixel.
  const int x0 = d.flip ? std::max(0, d.dx) : std::max(0, -d.dx);
  const int x1 = d.flip ? std::min(W, W + d.dx) : std::min(W, W - d.dx);
  for (int oy = 0; oy < OH; ++oy) {
    float* row = dst + static_cast<int64_t>(oy) * OW;
    const int y = oy - top;       // row in the (augmented) image
    const int sy = y + d.dy;      // row in the source image
    if (y < 0 || y >= H || sy < 0 || sy >= H || x0 >= x1) {
      std::fill(row, row + OW, pad);
      continue;
    }
    const uint8_t* srow = src + static_cast<int64_t>(sy) * W;
    std::fill(row, row + left + x0, pad);
    float* out = row + left;
    if (d.flip) {
      // Mirrored: output column x reads source column (W - 1 - x) + dx.
      const uint8_t* s = srow + (W - 1) + d.dx;
      for (int x = x0; x < x1; ++x) out[x] = lut[s[-x]];
    } else {
      const uint8_t* s = srow + d.dx;
      for (int x = x0; x < x1; ++x) out[x] = lut[s[x]];
    }
    std::fill(out + x1, row + OW, pad);
  }
}

}  // namespace

void skip_batch_draws(Rng& rng, int64_t count, const Augment& aug) {
  const auto span = static_cast<uint64_t>(2 * static_cast<int64_t>(aug.crop_pad) + 1);
  for (int64_t i = 0; i < count; ++i) {
    if (aug.random_crop) {
      rng.below(span);
      rng.below(span);
    }
    if (aug.hflip) rng.below(2);
  }
}

void make_batch(const Dataset& ds, const int64_t* idx, int64_t count, const BatchOptions& opt, Rng& rng, Tensor& x,
                std::vector<int32_t>& labels) {
  const int C = ds.channels, H = ds.height, W = ds.width;
  const int64_t n = ds.size(), image_size = ds.image_size();
  LOWBIT_CHECK(C > 0 && H > 0 && W > 0, ds.name, ": dataset has no image shape (", C, "x", H, "x", W, ")");
  LOWBIT_CHECK(static_cast<int64_t>(ds.images.size()) == n * image_size, ds.name, ": ", ds.images.size(),
               " pixel bytes for ", n, " images of ", C, "x", H, "x", W);
  LOWBIT_CHECK(opt.out_height >= 0 && opt.out_width >= 0, ds.name, ": negative output size ", opt.out_height, "x",
               opt.out_width);
  const int OH = opt.out_height ? opt.out_height : H;
  const int OW = opt.out_width ? opt.out_width : W;
  if (OH < H || OW < W)
    fail(ds.name, ": output size ", OH, "x", OW, " is smaller than the ", H, "x", W,
         " images (images can be padded up, not cropped down)");
  LOWBIT_CHECK(count >= 0, ds.name, ": negative batch size ", count);
  LOWBIT_CHECK(count == 0 || idx != nullptr, ds.name, ": null index array for a batch of ", count);
  const Augment& aug = opt.augment;
  LOWBIT_CHECK(!aug.random_crop || (aug.crop_pad >= 0 && aug.crop_pad <= kMaxCropPad), ds.name, ": crop padding ",
               aug.crop_pad, " is out of range [0, ", kMaxCropPad, "]");

  // Serial pass: validate indices, copy labels, and draw every random number in a fixed
  // order (per image: crop dy, crop dx, flip), so the result does not depend on threads.
  thread_local std::vector<Draw> draws;  // reused between batches: no allocation per batch
  draws.assign(static_cast<size_t>(count), Draw{});
  labels.resize(static_cast<size_t>(count));
  const auto span = static_cast<uint64_t>(2 * static_cast<int64_t>(aug.crop_pad) + 1);
  for (int64_t i = 0; i < count; ++i) {
    const int64_t j = idx[i];
    if (j < 0 || j >= n) fail(ds.name, ": batch index ", j, " at position ", i, " is out of range [0, ", n, ")");
    labels[static_cast<size_t>(i)] = ds.labels[static_cast<size_t>(j)];
    Draw& d = draws[static_cast<size_t>(i)];
    if (aug.random_crop) {
      d.dy = static_cast<int>(rng.below(span)) - aug.crop_pad;
      d.dx = static_cast<int>(rng.below(span)) - aug.crop_pad;
    }
    if (aug.hflip) d.flip = rng.below(2) == 1;
  }

  float lut[256];
  for (int p = 0; p < 256; ++p) lut[p] = normalize_pixel(static_cast<uint8_t>(p), opt.normalize);

  x.resize({count, C, OH, OW});
  const int top = static_cast<int>(format::centre_offset(OH, H)), left = static_cast<int>(format::centre_offset(OW, W));
  const int64_t plane = static_cast<int64_t>(OH) * OW;
  float* out = x.data();
  const Draw* dr = draws.data();
  // Grain::kCopy: the fill is a memory-bound table lookup at ~0.5 ns per float, so a typical
  // batch (100 CIFAR images = 307k floats, ~0.2-0.3 ms) gains nothing from waking a thread
  // team, and on a loaded machine the team's start-up measured 10x slower than the serial loop.
  parallel_for(count, Grain::kCopy, [&](int64_t i_begin, int64_t i_end) {
    for (int64_t i = i_begin; i < i_end; ++i) {
      const uint8_t* img = ds.image(idx[i]);
      for (int c = 0; c < C; ++c)
        fill_plane(img + static_cast<int64_t>(c) * H * W, H, W, out + (i * C + c) * plane, OH, OW, top, left, dr[i],
                   lut);
    }
  }, count * C * plane);
}

}  // namespace lowbit::data
