// Image files (data/image_file.hpp): PNG, JPEG, PGM/PPM and BMP decode to the CHW pixels
// that were written, alpha is dropped, channels convert as PIL does, centre padding follows
// make_batch's rule, errors name the file, folders list their image files in order.
#include "lowbit/data/image_file.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>

#include "data/data_files.hpp"
#include "data/image_files.hpp"
#include "test_util.hpp"

namespace lowbit::data {
namespace {

using namespace lowbit::data::testing;
using lowbit::testing::error_of;
using lowbit::testing::expect_error_naming;

// c x h x w CHW pixels, all different enough to catch a transposed or misplaced pixel.
std::vector<uint8_t> pattern(int c, int h, int w) {
  std::vector<uint8_t> p(static_cast<size_t>(c) * h * w);
  for (size_t i = 0; i < p.size(); ++i) p[i] = static_cast<uint8_t>((i * 37 + 11) % 256);
  return p;
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

TEST(ImageFile, PngGreyAndRgbDecodeToTheirChwPixels) {
  TempDir tmp;
  for (int c : {1, 3}) {
    SCOPED_TRACE(c);
    const std::vector<uint8_t> px = pattern(c, 5, 7);  // not square: height and width told apart
    const std::string path = tmp.file("p" + std::to_string(c) + ".png");
    write_png(path, px, c, 5, 7);
    const Image img = read_image(path);
    EXPECT_EQ(img.channels, c);
    EXPECT_EQ(img.height, 5);
    EXPECT_EQ(img.width, 7);
    EXPECT_EQ(img.pixels, px);
  }
}

TEST(ImageFile, AlphaIsDropped) {
  TempDir tmp;
  // Grey+alpha and RGBA, with alpha 0 (fully transparent) on some pixels: the colour stays.
  for (int c : {2, 4}) {
    SCOPED_TRACE(c);
    std::vector<uint8_t> px = pattern(c, 3, 4);
    for (int i = 0; i < 12; ++i) px[static_cast<size_t>((c - 1) * 12 + i)] = i % 2 ? 0 : 255;  // the alpha plane
    const std::string path = tmp.file("a" + std::to_string(c) + ".png");
    write_png(path, px, c, 3, 4);
    const Image img = read_image(path);
    ASSERT_EQ(img.channels, c - 1);
    EXPECT_EQ(img.pixels, std::vector<uint8_t>(px.begin(), px.begin() + (c - 1) * 12));
  }
}

TEST(ImageFile, BmpAndJpeg) {
  TempDir tmp;
  const std::vector<uint8_t> px = pattern(3, 4, 6);
  const std::vector<uint8_t> hwc = to_hwc(px.data(), 3, 4, 6);
  ASSERT_TRUE(stbi_write_bmp(tmp.file("x.bmp").c_str(), 6, 4, 3, hwc.data()));
  const Image bmp = read_image(tmp.file("x.bmp"));
  EXPECT_EQ(bmp.channels, 3);
  EXPECT_EQ(bmp.pixels, px);  // BMP is lossless

  // JPEG is lossy: a flat grey image and a flat colour survive quality 100 within a few levels.
  // stb_image_write stores every JPEG as 3 components (YCbCr), so the grey one reads as RGB.
  std::vector<uint8_t> grey(16 * 16, 90);
  ASSERT_TRUE(stbi_write_jpg(tmp.file("g.jpg").c_str(), 16, 16, 1, grey.data(), 100));
  const Image g = read_image(tmp.file("g.jpg"));
  EXPECT_EQ(g.channels, 3);
  EXPECT_EQ(g.height, 16);
  for (uint8_t p : g.pixels) EXPECT_NEAR(p, 90, 2);
  std::vector<uint8_t> rgb;
  for (int i = 0; i < 16 * 16; ++i) rgb.insert(rgb.end(), {200, 40, 120});  // HWC
  ASSERT_TRUE(stbi_write_jpg(tmp.file("c.JPEG").c_str(), 16, 16, 3, rgb.data(), 100));
  const Image c = read_image(tmp.file("c.JPEG"));
  ASSERT_EQ(c.channels, 3);
  EXPECT_NEAR(c.pixels[0], 200, 3);         // R plane first (CHW)
  EXPECT_NEAR(c.pixels[256 + 17], 40, 3);   // G
  EXPECT_NEAR(c.pixels[512 + 255], 120, 3);  // B
}

TEST(ImageFile, PgmAndPpmWrittenByHand) {
  TempDir tmp;
  // P5 with a comment, maxval 255: the bytes are the pixels.
  write_bytes(tmp.file("a.pgm"), std::string("P5\n# a comment\n3 2\n255\n") + std::string("\x00\x01\x7f\x80\xfe\xff", 6));
  const Image a = read_image(tmp.file("a.pgm"));
  EXPECT_EQ(a.height, 2);
  EXPECT_EQ(a.width, 3);
  EXPECT_EQ(a.pixels, (std::vector<uint8_t>{0, 1, 127, 128, 254, 255}));
  // maxval 100: scaled so that 100 is white, rounding half up: 1 -> 2.55 -> 3, 50 -> 127.5 -> 128.
  write_bytes(tmp.file("b.pgm"), std::string("P5 4 1 100\n") + std::string("\x00\x01\x32\x64", 4));
  EXPECT_EQ(read_image(tmp.file("b.pgm")).pixels, (std::vector<uint8_t>{0, 3, 128, 255}));
  // 16-bit samples (big-endian), maxval 1000: 500 -> 127.5 -> 128, 1000 -> 255.
  write_bytes(tmp.file("c.pgm"), std::string("P5 2 1 1000\n") + std::string("\x01\xf4\x03\xe8", 4));
  EXPECT_EQ(read_image(tmp.file("c.pgm")).pixels, (std::vector<uint8_t>{128, 255}));
  // P6: RGB interleaved in the file, planes in the image.
  write_bytes(tmp.file("d.ppm"), std::string("P6 2 1 255\n") + std::string("\x01\x02\x03\x04\x05\x06", 6));
  const Image d = read_image(tmp.file("d.ppm"));
  EXPECT_EQ(d.channels, 3);
  EXPECT_EQ(d.pixels, (std::vector<uint8_t>{1, 4, 2, 5, 3, 6}));
  // ASCII PGM (P2) is not read, and the message says what to do.
  write_bytes(tmp.file("e.pgm"), "P2 2 1 255\n0 255\n");
  expect_error_naming([&] { read_image(tmp.file("e.pgm")); }, tmp.file("e.pgm") + ": a Netpbm P2 file (ASCII)");
}

TEST(ImageFile, ConvertsChannelsAsPil) {
  Image rgb{3, 1, 6, {}};
  // R, G, B planes of six pixels.
  rgb.pixels = {255, 2, 0, 0, 10, 7,  // R
                255, 0, 255, 0, 20, 7,   // G
                255, 0, 0, 255, 30, 7};  // B
  const Image grey = convert_channels(rgb, 1);
  ASSERT_EQ(grey.channels, 1);
  // PIL (libImaging/Convert.c rgb2l): (R*19595 + G*38470 + B*7471 + 32768) >> 16.
  // (2, 0, 0) -> 1: the documented 299/1000 formula truncated would give 0; PIL rounds.
  // (0, 255, 0) -> 150 (0.587*255 = 149.7), (0, 0, 255) -> 29 (0.114*255 = 29.07),
  // (10, 20, 30) -> 18 (18.15), a grey stays itself.
  EXPECT_EQ(grey.pixels, (std::vector<uint8_t>{255, 1, 150, 29, 18, 7}));
  // Every grey level (v, v, v) maps to v: the weights sum to 2^16.
  Image levels{3, 1, 256, {}};
  for (int c = 0; c < 3; ++c)
    for (int v = 0; v < 256; ++v) levels.pixels.push_back(static_cast<uint8_t>(v));
  const Image l = convert_channels(levels, 1);
  for (int v = 0; v < 256; ++v) EXPECT_EQ(l.pixels[static_cast<size_t>(v)], v);

  // Grey -> RGB copies the plane three times.
  const Image back = convert_channels(Image{1, 1, 3, {9, 8, 7}}, 3);
  EXPECT_EQ(back.pixels, (std::vector<uint8_t>{9, 8, 7, 9, 8, 7, 9, 8, 7}));
  EXPECT_EQ(convert_channels(rgb, 3).pixels, rgb.pixels);
  expect_error_naming([&] { convert_channels(rgb, 2); }, "1 (grey) or 3 (RGB)");
}

TEST(ImageFile, CentrePadPutsTheOddPixelBottomRight) {
  // 2x3 in 5x6: top (5-2)/2 = 1, left (6-3)/2 = 1; the odd extra row/column goes below/right.
  const Image img{1, 2, 3, {1, 2, 3, 4, 5, 6}};
  const Image p = centre_pad(img, 5, 6);
  const std::vector<uint8_t> want = {0, 0, 0, 0, 0, 0,  //
                                     0, 1, 2, 3, 0, 0,  //
                                     0, 4, 5, 6, 0, 0,  //
                                     0, 0, 0, 0, 0, 0,  //
                                     0, 0, 0, 0, 0, 0};
  EXPECT_EQ(p.pixels, want);
  // Two channels: each plane padded alike.
  const Image two = centre_pad(Image{2, 1, 1, {7, 9}}, 3, 3);
  EXPECT_EQ(two.pixels, (std::vector<uint8_t>{0, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0, 0, 9, 0, 0, 0, 0}));
  EXPECT_THROW(centre_pad(img, 1, 6), Error);
}

TEST(ImageFile, CorruptOrUnknownFilesNameTheFile) {
  TempDir tmp;
  const std::vector<uint8_t> px = pattern(1, 8, 8);
  const std::string good = tmp.file("good.png");
  write_png(good, px, 1, 8, 8);
  const std::vector<uint8_t> bytes = read_image_bytes(good);
  // Truncated after the header: the header reads, the pixels do not.
  const std::string cut = tmp.file("cut.png");
  write_bytes(cut, std::string(bytes.begin(), bytes.begin() + 40));
  EXPECT_EQ(image_header(read_image_bytes(cut), cut).width, 8);
  const std::string msg = error_of([&] { read_image(cut); });
  EXPECT_NE(msg.find(cut + ": cannot decode the image (stb_image: "), std::string::npos) << msg;
  // Not an image at all, an empty file, a missing one.
  write_bytes(tmp.file("notes.png"), "hello, world");
  expect_error_naming([&] { read_image(tmp.file("notes.png")); },
                      tmp.file("notes.png") + ": not a PNG, JPEG, binary PGM/PPM (P5/P6) or BMP image (first bytes 68 65 6c");
  write_bytes(tmp.file("empty.png"), "");
  expect_error_naming([&] { read_image(tmp.file("empty.png")); }, "empty file");
  expect_error_naming([&] { read_image(tmp.file("missing.png")); }, tmp.file("missing.png"));
  // An absurd size in the header is refused before any pixel memory is allocated:
  // 8000 x 8000 = 64 M pixels > kMaxImagePixels (stb_image itself would try it).
  std::vector<uint8_t> big = bytes;
  const uint8_t side[4] = {0, 0, 0x1f, 0x40};  // 8000, big-endian: IHDR width at 16, height at 20
  std::copy(side, side + 4, big.begin() + 16);
  std::copy(side, side + 4, big.begin() + 20);
  expect_error_naming([&] { decode_image(big, "big.png"); }, "big.png: 8000x8000 pixels (width x height) is more than the limit");
}

TEST(ImageFile, ListsAFoldersImageFilesSorted) {
  TempDir tmp;
  const std::vector<uint8_t> px = pattern(1, 2, 2);
  for (const char* name : {"b.PNG", "a.jpg", "C.png", "x.Jpeg", "y.pgm", "z.bmp", ".hidden.png"}) write_png(tmp.file(name), px, 1, 2, 2);
  write_bytes(tmp.file("notes.txt"), "not an image");
  std::filesystem::create_directories(tmp.file("sub.png"));  // a folder with an image's name
  write_png(tmp.file("sub.png/inner.png"), px, 1, 2, 2);       // subfolders are not searched
  // Byte order: upper case before lower case.
  const std::vector<std::string> want = {tmp.file("C.png"), tmp.file("a.jpg"), tmp.file("b.PNG"),
                                         tmp.file("x.Jpeg"), tmp.file("y.pgm"), tmp.file("z.bmp")};
  EXPECT_EQ(list_image_files(tmp.str()), want);
  EXPECT_TRUE(has_image_extension("a.PPM"));
  EXPECT_TRUE(has_image_extension("a.pnm"));
  EXPECT_FALSE(has_image_extension("a.gif"));
  EXPECT_FALSE(has_image_extension("png"));

  // expand_image_paths: files as given (any name), folders expanded in place.
  write_png(tmp.file("sub.png/picture.dat"), px, 1, 2, 2);
  const std::vector<std::string> got = expand_image_paths({tmp.file("sub.png/picture.dat"), tmp.file("sub.png")});
  EXPECT_EQ(got, (std::vector<std::string>{tmp.file("sub.png/picture.dat"), tmp.file("sub.png/inner.png")}));
  EXPECT_EQ(read_image(got[0]).pixels, px);  // decoded by content, whatever the name
  expect_error_naming([&] { expand_image_paths({tmp.file("nope.png")}); }, tmp.file("nope.png") + ": no such file or folder");
  std::filesystem::create_directories(tmp.file("empty"));
  expect_error_naming([&] { expand_image_paths({tmp.file("empty")}); }, tmp.file("empty") + ": no image files in this folder");
}

}  // namespace
}  // namespace lowbit::data
