#include "lowbit/data/batch.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "data/data_files.hpp"

namespace lowbit::data {
namespace {

using namespace lowbit::data::testing;

// A dataset of n images of c x h x w whose pixels are given by f(i, c, y, x).
template <class F>
Dataset make_dataset(int n, int c, int h, int w, F f) {
  Dataset ds;
  ds.name = "synthetic";
  ds.channels = c;
  ds.height = h;
  ds.width = w;
  ds.num_classes = 10;
  for (int i = 0; i < n; ++i) {
    ds.labels.push_back(i % 10);
    for (int ch = 0; ch < c; ++ch)
      for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x) ds.images.push_back(static_cast<uint8_t>(f(i, ch, y, x)));
  }
  return ds;
}

float at(const Tensor& t, int64_t i, int64_t c, int64_t y, int64_t x) {
  return t[((i * t.dim(1) + c) * t.dim(2) + y) * t.dim(3) + x];
}

// The documented random draws for one image: crop dy, crop dx, then flip.
struct Draw {
  int dy = 0, dx = 0;
  bool flip = false;
};
Draw draw_like_make_batch(Rng& rng, const Augment& a) {
  Draw d;
  if (a.random_crop) {
    d.dy = static_cast<int>(rng.below(2 * a.crop_pad + 1)) - a.crop_pad;
    d.dx = static_cast<int>(rng.below(2 * a.crop_pad + 1)) - a.crop_pad;
  }
  if (a.hflip) d.flip = rng.below(2) == 1;
  return d;
}

// Straightforward per-pixel definition of the output, written independently of batch.cpp:
// crop = window at (dy, dx) into the zero-padded image, then mirror, then centre-pad.
float reference(const Dataset& ds, int64_t j, int c, int oy, int ox, int OH, int OW, const Draw& d, Normalize n) {
  const int H = ds.height, W = ds.width;
  int y = oy - (OH - H) / 2, x = ox - (OW - W) / 2;
  if (y < 0 || y >= H || x < 0 || x >= W) return normalize_pixel(0, n);
  if (d.flip) x = W - 1 - x;
  const int sy = y + d.dy, sx = x + d.dx;
  if (sy < 0 || sy >= H || sx < 0 || sx >= W) return normalize_pixel(0, n);
  return normalize_pixel(ds.image(j)[(c * H + sy) * W + sx], n);
}

TEST(BatchNormalize, Parse) {
  EXPECT_EQ(parse_normalize("0,1"), Normalize::ZeroOne);
  EXPECT_EQ(parse_normalize("zero_one"), Normalize::ZeroOne);
  EXPECT_EQ(parse_normalize(" 0, 1 "), Normalize::ZeroOne);
  EXPECT_EQ(parse_normalize("-1,1"), Normalize::MinusOneOne);
  EXPECT_EQ(parse_normalize("minus_one_one"), Normalize::MinusOneOne);
  expect_error([] { parse_normalize("0,255"); }, {"unknown normalization '0,255'"});
  EXPECT_EQ(parse_normalize(normalize_name(Normalize::MinusOneOne)), Normalize::MinusOneOne);
}

TEST(BatchNormalize, ExactValues) {
  const uint8_t px[3] = {0, 255, 128};
  Dataset ds = make_dataset(1, 1, 1, 3, [&](int, int, int, int x) { return px[x]; });
  int64_t idx = 0;
  Tensor x;
  std::vector<int32_t> labels;
  Rng rng(1);
  BatchOptions opt;
  make_batch(ds, &idx, 1, opt, rng, x, labels);
  EXPECT_EQ(x.shape(), (Shape{1, 1, 1, 3}));
  EXPECT_EQ(x[0], 0.0f);
  EXPECT_EQ(x[1], 1.0f);
  EXPECT_EQ(x[2], 128.0f / 255.0f);
  opt.normalize = Normalize::MinusOneOne;
  make_batch(ds, &idx, 1, opt, rng, x, labels);
  EXPECT_EQ(x[0], -1.0f);
  EXPECT_EQ(x[1], 1.0f);
  EXPECT_EQ(x[2], 256.0f / 255.0f - 1.0f);
  EXPECT_NEAR(x[2], 1.0f / 255.0f, 1e-7f);
}

TEST(BatchPad, MnistTo32x32) {
  Dataset ds = make_dataset(2, 1, 28, 28, [](int i, int, int y, int x) { return 1 + (i * 28 * 28 + y * 28 + x) % 255; });
  std::vector<int64_t> idx = {1, 0};
  Tensor x;
  std::vector<int32_t> labels;
  Rng rng(3);
  BatchOptions opt;
  opt.out_height = opt.out_width = 32;
  for (Normalize n : {Normalize::ZeroOne, Normalize::MinusOneOne}) {
    opt.normalize = n;
    make_batch(ds, idx.data(), 2, opt, rng, x, labels);
    ASSERT_EQ(x.shape(), (Shape{2, 1, 32, 32}));
    EXPECT_EQ(labels, (std::vector<int32_t>{1, 0}));
    const float pad = n == Normalize::ZeroOne ? 0.f : -1.f;
    for (int b = 0; b < 2; ++b)
      for (int y = 0; y < 32; ++y)
        for (int xx = 0; xx < 32; ++xx) {
          const bool inside = y >= 2 && y < 30 && xx >= 2 && xx < 30;  // 2 pixels each side
          const float want = inside ? normalize_pixel(ds.image(idx[b])[(y - 2) * 28 + (xx - 2)], n) : pad;
          ASSERT_EQ(at(x, b, 0, y, xx), want) << "image " << b << " at " << y << "," << xx;
        }
  }
}

TEST(BatchPad, OddPaddingGoesBottomRight) {
  Dataset ds = make_dataset(1, 1, 2, 2, [](int, int, int y, int x) { return 255; });
  int64_t idx = 0;
  Tensor x;
  std::vector<int32_t> labels;
  Rng rng(0);
  BatchOptions opt;
  opt.out_height = 3;
  opt.out_width = 5;
  make_batch(ds, &idx, 1, opt, rng, x, labels);
  // top = 0, left = 1
  const std::vector<float> want = {0, 1, 1, 0, 0,  //
                                   0, 1, 1, 0, 0,  //
                                   0, 0, 0, 0, 0};
  EXPECT_EQ(std::vector<float>(x.begin(), x.end()), want);
}

TEST(BatchPad, SmallerOutputIsAnError) {
  Dataset ds = make_dataset(1, 1, 28, 28, [](int, int, int, int) { return 0; });
  int64_t idx = 0;
  Tensor x;
  std::vector<int32_t> labels;
  Rng rng(0);
  BatchOptions opt;
  opt.out_height = opt.out_width = 24;
  expect_error([&] { make_batch(ds, &idx, 1, opt, rng, x, labels); }, {"synthetic", "24x24 is smaller than the 28x28"});
}

TEST(BatchMake, BadIndexIsAnError) {
  Dataset ds = make_dataset(3, 1, 2, 2, [](int, int, int, int) { return 0; });
  std::vector<int64_t> idx = {0, 3};
  Tensor x;
  std::vector<int32_t> labels;
  Rng rng(0);
  expect_error([&] { make_batch(ds, idx.data(), 2, BatchOptions{}, rng, x, labels); },
               {"synthetic", "batch index 3 at position 1 is out of range [0, 3)"});
}

TEST(BatchMake, BadCropPadIsAnError) {
  Dataset ds = make_dataset(1, 1, 2, 2, [](int, int, int, int) { return 0; });
  int64_t idx = 0;
  Tensor x;
  std::vector<int32_t> labels;
  Rng rng(0);
  BatchOptions opt;
  opt.augment = {true, -1, false};
  expect_error([&] { make_batch(ds, &idx, 1, opt, rng, x, labels); }, {"synthetic", "crop padding -1 is out of range"});
}

TEST(BatchMake, EmptyBatch) {
  Dataset ds = make_dataset(3, 1, 2, 2, [](int, int, int, int) { return 0; });
  Tensor x;
  std::vector<int32_t> labels{1, 2};
  Rng rng(0);
  make_batch(ds, nullptr, 0, BatchOptions{}, rng, x, labels);
  EXPECT_EQ(x.shape(), (Shape{0, 1, 2, 2}));
  EXPECT_TRUE(labels.empty());
}

TEST(BatchEpochOrder, IsAPermutation) {
  for (int64_t n : {0, 1, 2, 10, 1000}) {
    std::vector<int64_t> order = epoch_order(n, 42, 0);
    ASSERT_EQ(static_cast<int64_t>(order.size()), n);
    std::sort(order.begin(), order.end());
    for (int64_t i = 0; i < n; ++i) ASSERT_EQ(order[i], i);
  }
}

TEST(BatchEpochOrder, DeterministicPerSeedAndEpoch) {
  EXPECT_EQ(epoch_order(1000, 7, 3), epoch_order(1000, 7, 3));
  EXPECT_NE(epoch_order(1000, 7, 3), epoch_order(1000, 7, 4));
  EXPECT_NE(epoch_order(1000, 7, 3), epoch_order(1000, 8, 3));
  std::vector<int64_t> identity(1000);
  for (int64_t i = 0; i < 1000; ++i) identity[i] = i;
  EXPECT_NE(epoch_order(1000, 7, 0), identity);
}

TEST(BatchEpochOrder, EveryPositionIsReachable) {
  // Fisher-Yates with an unbiased rng: over many epochs element 0 lands everywhere.
  std::set<int64_t> where;
  for (int64_t e = 0; e < 200; ++e) {
    auto o = epoch_order(8, 1, e);
    where.insert(std::find(o.begin(), o.end(), 0) - o.begin());
  }
  EXPECT_EQ(where.size(), 8u);
}

TEST(BatchAugment, HandMadeShiftAndFlip) {
  // 1x3x3 image 1..9; crop_pad 1. Find seeds whose draws are the cases we write out by hand.
  Dataset ds = make_dataset(1, 1, 3, 3, [](int, int, int y, int x) { return 1 + y * 3 + x; });
  BatchOptions opt;
  opt.augment = {true, 1, true};
  struct Case {
    Draw d;
    std::vector<int> want;  // raw pixel values of the output
  };
  const std::vector<Case> cases = {
      {{0, 0, false}, {1, 2, 3, 4, 5, 6, 7, 8, 9}},
      {{0, 0, true}, {3, 2, 1, 6, 5, 4, 9, 8, 7}},
      // window one row down and one column left: content moves up and right
      {{1, -1, false}, {0, 4, 5, 0, 7, 8, 0, 0, 0}},
      // same window, then mirrored
      {{1, -1, true}, {5, 4, 0, 8, 7, 0, 0, 0, 0}},
      {{-1, 1, false}, {0, 0, 0, 2, 3, 0, 5, 6, 0}},
  };
  for (const Case& c : cases) {
    uint64_t seed = 0;
    for (;; ++seed) {
      Rng probe(seed);
      Draw d = draw_like_make_batch(probe, opt.augment);
      if (d.dy == c.d.dy && d.dx == c.d.dx && d.flip == c.d.flip) break;
      ASSERT_LT(seed, 10000u);
    }
    Rng rng(seed);
    int64_t idx = 0;
    Tensor x;
    std::vector<int32_t> labels;
    make_batch(ds, &idx, 1, opt, rng, x, labels);
    std::vector<float> want;
    for (int v : c.want) want.push_back(normalize_pixel(static_cast<uint8_t>(v), opt.normalize));
    EXPECT_EQ(std::vector<float>(x.begin(), x.end()), want)
        << "dy=" << c.d.dy << " dx=" << c.d.dx << " flip=" << c.d.flip;
  }
}

// Many images, 3 channels, padding and augmentation together, large enough to take the
// multi-threaded path (>= 2^20 output floats): every pixel must match the reference.
TEST(BatchAugment, MatchesReferenceAndIsReproducible) {
  Dataset ds = make_dataset(450, 3, 30, 30, [](int i, int c, int y, int x) { return (i * 13 + c * 71 + y * 30 + x) % 256; });
  std::vector<int64_t> idx = epoch_order(ds.size(), 5, 0);
  BatchOptions opt;
  opt.normalize = Normalize::MinusOneOne;
  opt.augment = {true, 4, true};
  opt.out_height = opt.out_width = 32;
  Tensor x, x2;
  std::vector<int32_t> labels, labels2;
  Rng rng(99);
  make_batch(ds, idx.data(), 400, opt, rng, x, labels);
  ASSERT_EQ(x.shape(), (Shape{400, 3, 32, 32}));

  Rng replay(99);
  std::set<std::tuple<int, int, bool>> seen;
  for (int64_t b = 0; b < 400; ++b) {
    EXPECT_EQ(labels[b], ds.labels[idx[b]]);
    Draw d = draw_like_make_batch(replay, opt.augment);
    seen.insert({d.dy, d.dx, d.flip});
    for (int c = 0; c < 3; ++c)
      for (int y = 0; y < 32; ++y)
        for (int xx = 0; xx < 32; ++xx)
          ASSERT_EQ(at(x, b, c, y, xx), reference(ds, idx[b], c, y, xx, 32, 32, d, opt.normalize))
              << "image " << b << " channel " << c << " at " << y << "," << xx;
  }
  EXPECT_GT(seen.size(), 120u);  // 81 * 2 combinations; 400 draws hit ~148 on average
  EXPECT_EQ(rng.state(), replay.state());  // exactly the documented draws, no more

  Rng rng2(99);
  make_batch(ds, idx.data(), 400, opt, rng2, x2, labels2);
  EXPECT_EQ(std::vector<float>(x.begin(), x.end()), std::vector<float>(x2.begin(), x2.end()));
  Rng rng3(100);
  make_batch(ds, idx.data(), 400, opt, rng3, x2, labels2);
  EXPECT_NE(std::vector<float>(x.begin(), x.end()), std::vector<float>(x2.begin(), x2.end()));
}

TEST(BatchAugment, DisabledDrawsNothing) {
  Dataset ds = make_dataset(4, 1, 5, 5, [](int i, int, int y, int x) { return i + y + x; });
  std::vector<int64_t> idx = {3, 2, 1, 0};
  Tensor x;
  std::vector<int32_t> labels;
  Rng rng(11);
  const Rng::State before = rng.state();
  make_batch(ds, idx.data(), 4, BatchOptions{}, rng, x, labels);
  EXPECT_EQ(rng.state(), before);
  for (int b = 0; b < 4; ++b)
    for (int y = 0; y < 5; ++y)
      for (int xx = 0; xx < 5; ++xx) ASSERT_EQ(at(x, b, 0, y, xx), normalize_pixel(idx[b] + y + xx, Normalize::ZeroOne));
}

TEST(BatchAugment, CropPadZeroWithFlipOnly) {
  Dataset ds = make_dataset(1, 1, 1, 4, [](int, int, int, int x) { return 10 * (x + 1); });
  BatchOptions opt;
  opt.augment = {false, 4, true};
  int64_t idx = 0;
  std::set<std::vector<float>> outputs;
  Rng rng(1);
  for (int k = 0; k < 20; ++k) {
    Tensor x;
    std::vector<int32_t> labels;
    make_batch(ds, &idx, 1, opt, rng, x, labels);
    outputs.insert(std::vector<float>(x.begin(), x.end()));
  }
  auto f = [](int v) { return normalize_pixel(static_cast<uint8_t>(v), Normalize::ZeroOne); };
  EXPECT_EQ(outputs, (std::set<std::vector<float>>{{f(10), f(20), f(30), f(40)}, {f(40), f(30), f(20), f(10)}}));
}

}  // namespace
}  // namespace lowbit::data
