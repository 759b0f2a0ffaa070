#include "lowbit/data/idx.hpp"

#include <gtest/gtest.h>

#include "data/data_files.hpp"

namespace lowbit::data {
namespace {

using namespace lowbit::data::testing;

// A valid pair of small IDX files in a temp folder; tests break one of them.
struct IdxFiles {
  TempDir dir;
  std::string images = dir.file("train-images-idx3-ubyte");
  std::string labels = dir.file("train-labels-idx1-ubyte");
  IdxFiles(uint32_t n = 5, uint32_t rows = 4, uint32_t cols = 3) {
    write_bytes(images, idx_images(n, rows, cols));
    write_bytes(labels, idx_labels(n));
  }
  Dataset read() const { return read_idx(images, labels, "test/train"); }
};

void expect_matches_generated(const Dataset& ds, uint32_t n, uint32_t rows, uint32_t cols) {
  ASSERT_EQ(ds.size(), n);
  EXPECT_EQ(ds.channels, 1);
  EXPECT_EQ(ds.height, static_cast<int>(rows));
  EXPECT_EQ(ds.width, static_cast<int>(cols));
  EXPECT_EQ(ds.num_classes, 10);
  EXPECT_EQ(ds.image_size(), rows * cols);
  ASSERT_EQ(ds.images.size(), size_t(n) * rows * cols);
  for (uint32_t i = 0; i < n; ++i) {
    EXPECT_EQ(ds.labels[i], static_cast<int32_t>(i % 10));
    for (uint32_t y = 0; y < rows; ++y)
      for (uint32_t x = 0; x < cols; ++x)
        ASSERT_EQ(ds.image(i)[y * cols + x], test_pixel(i, y, x)) << "image " << i << " at " << y << "," << x;
  }
}

TEST(IdxRead, RawFiles) {
  IdxFiles f(12, 4, 3);
  Dataset ds = f.read();
  EXPECT_EQ(ds.name, "test/train");
  expect_matches_generated(ds, 12, 4, 3);
}

TEST(IdxRead, GzipFiles) {
  TempDir dir;
  write_gz(dir.file("i.gz"), idx_images(7, 5, 6));
  write_gz(dir.file("l.gz"), idx_labels(7));
  expect_matches_generated(read_idx(dir.file("i.gz"), dir.file("l.gz"), "gz"), 7, 5, 6);
}

TEST(IdxRead, GzipImagesRawLabels) {
  TempDir dir;
  write_gz(dir.file("i.gz"), idx_images(3, 2, 2));
  write_bytes(dir.file("l"), idx_labels(3));
  expect_matches_generated(read_idx(dir.file("i.gz"), dir.file("l"), "mixed"), 3, 2, 2);
}

TEST(IdxRead, MultiMemberGzip) {
  // `cat a.gz b.gz` is a valid gzip file whose content is a followed by b.
  TempDir dir;
  Bytes all = idx_images(9, 4, 4);
  Bytes first(all.begin(), all.begin() + 50), second(all.begin() + 50, all.end());
  write_gz(dir.file("a.gz"), first);
  write_gz(dir.file("b.gz"), second);
  Bytes cat_bytes = read_bytes(dir.file("a.gz")), b = read_bytes(dir.file("b.gz"));
  cat_bytes.insert(cat_bytes.end(), b.begin(), b.end());
  write_bytes(dir.file("i.gz"), cat_bytes);
  write_bytes(dir.file("l"), idx_labels(9));
  expect_matches_generated(read_idx(dir.file("i.gz"), dir.file("l"), "cat"), 9, 4, 4);
}

TEST(IdxErrors, MissingImagesFile) {
  IdxFiles f;
  std::filesystem::remove(f.images);
  expect_error([&] { f.read(); }, {f.images, "no such file"});
}

TEST(IdxErrors, MissingLabelsFile) {
  IdxFiles f;
  std::filesystem::remove(f.labels);
  expect_error([&] { f.read(); }, {f.labels, "no such file"});
}

TEST(IdxErrors, DirectoryInsteadOfFile) {
  IdxFiles f;
  expect_error([&] { read_idx(f.dir.str(), f.labels, "x"); }, {f.dir.str(), "not a regular file"});
}

TEST(IdxErrors, WrongImagesMagic) {
  IdxFiles f;
  write_bytes(f.images, idx_images(5, 4, 3, /*magic=*/0));
  expect_error([&] { f.read(); }, {f.images, "bad magic 0x00000000 (expected 0x00000803 for idx3 images"});
}

TEST(IdxErrors, WrongLabelsMagic) {
  IdxFiles f;
  write_bytes(f.labels, idx_labels(5, /*magic=*/0x12345678));
  expect_error([&] { f.read(); }, {f.labels, "bad magic 0x12345678 (expected 0x00000801 for idx1 labels"});
}

TEST(IdxErrors, SwappedImagesAndLabels) {
  IdxFiles f;
  expect_error([&] { read_idx(f.labels, f.images, "x"); }, {f.labels, "this is an idx1 labels file"});
}

TEST(IdxErrors, TruncatedHeader) {
  IdxFiles f;
  Bytes b = idx_images(5, 4, 3);
  b.resize(10);
  write_bytes(f.images, b);
  expect_error([&] { f.read(); }, {f.images, "truncated header"});
}

TEST(IdxErrors, EmptyFile) {
  IdxFiles f;
  write_bytes(f.labels, {});
  expect_error([&] { f.read(); }, {f.labels, "truncated header (0 bytes"});
}

TEST(IdxErrors, TruncatedImages) {
  IdxFiles f;
  Bytes b = idx_images(5, 4, 3);
  b.pop_back();
  write_bytes(f.images, b);
  expect_error([&] { f.read(); }, {f.images, "truncated", "5 images of 4x3"});
}

TEST(IdxErrors, TruncatedGzipImages) {
  IdxFiles f;
  const std::string gz = f.dir.file("images.gz");
  write_gz(gz, idx_images(5, 4, 3));
  Bytes b = read_bytes(gz);
  b.resize(b.size() - 9);  // cut into the deflate data / trailer
  write_bytes(gz, b);
  expect_error([&] { read_idx(gz, f.labels, "x"); }, {gz, "truncated"});
}

TEST(IdxErrors, LyingHeaderDoesNotAllocate) {
  // 2^32-1 images of 28x28 would be 3 TB: must be rejected from the file size alone.
  IdxFiles f;
  Bytes b = idx_images(2, 28, 28);
  b[4] = b[5] = b[6] = b[7] = 0xFF;
  write_bytes(f.images, b);
  expect_error([&] { f.read(); }, {f.images, "truncated", "4294967295 images of 28x28"});
  write_bytes(f.labels, {0, 0, 8, 1, 0xFF, 0xFF, 0xFF, 0xFF, 1, 2});
  write_bytes(f.images, idx_images(2, 28, 28));
  expect_error([&] { f.read(); }, {f.labels, "truncated", "4294967295 labels"});
}

TEST(IdxErrors, ImplausibleImageSize) {
  IdxFiles f;
  Bytes b = idx_images(1, 1, 1);
  b[11] = 0;  // rows = 0
  write_bytes(f.images, b);
  expect_error([&] { f.read(); }, {f.images, "implausible image size 0x1"});
}

TEST(IdxErrors, NoImages) {
  IdxFiles f;
  write_bytes(f.images, idx_images(0, 28, 28));
  expect_error([&] { f.read(); }, {f.images, "no images"});
}

TEST(IdxErrors, TrailingBytesInImages) {
  IdxFiles f;
  Bytes b = idx_images(5, 4, 3);
  b.push_back(0);
  b.push_back(0);
  write_bytes(f.images, b);
  expect_error([&] { f.read(); }, {f.images, "2 trailing bytes"});
}

TEST(IdxErrors, TrailingBytesInLabels) {
  IdxFiles f;
  Bytes b = idx_labels(5);
  b.push_back(1);
  write_bytes(f.labels, b);
  expect_error([&] { f.read(); }, {f.labels, "1 trailing bytes"});
}

TEST(IdxErrors, TrailingGarbageAfterGzipStream) {
  IdxFiles f;
  const std::string gz = f.dir.file("images.gz");
  write_gz(gz, idx_images(5, 4, 3));
  Bytes b = read_bytes(gz);
  b.insert(b.end(), {'j', 'u', 'n', 'k'});
  write_bytes(gz, b);
  expect_error([&] { read_idx(gz, f.labels, "x"); }, {gz, "4 trailing bytes after the end of the gzip stream"});
}

TEST(IdxErrors, TruncatedLabels) {
  IdxFiles f;
  Bytes b = idx_labels(5);
  b.pop_back();
  write_bytes(f.labels, b);
  expect_error([&] { f.read(); }, {f.labels, "truncated", "5 labels"});
}

TEST(IdxErrors, CountMismatch) {
  IdxFiles f;
  write_bytes(f.labels, idx_labels(4));
  expect_error([&] { f.read(); }, {f.labels, "4 labels but", f.images, "5 images"});
}

TEST(IdxErrors, LabelOutOfRange) {
  IdxFiles f;
  Bytes b = idx_labels(5);
  b[8 + 3] = 10;
  write_bytes(f.labels, b);
  expect_error([&] { f.read(); }, {f.labels, "label 10 at index 3"});
}

TEST(IdxErrors, CorruptGzip) {
  IdxFiles f;
  const std::string gz = f.dir.file("images.gz");
  write_gz(gz, idx_images(40, 8, 8));
  Bytes b = read_bytes(gz);
  ASSERT_GT(b.size(), 40u);
  for (size_t i = 12; i < b.size() - 12; i += 3) b[i] ^= 0x5A;  // scramble the deflate data
  write_bytes(gz, b);
  expect_error([&] { read_idx(gz, f.labels, "x"); }, {gz, "gzip"});
}

TEST(IdxErrors, CorruptGzipChecksum) {
  // Intact deflate data with a wrong CRC-32 in the trailer: zlib's check must fire.
  IdxFiles f;
  const std::string gz = f.dir.file("images.gz");
  write_gz(gz, idx_images(5, 4, 3));
  Bytes b = read_bytes(gz);
  b[b.size() - 8] ^= 0xFF;
  write_bytes(gz, b);
  expect_error([&] { read_idx(gz, f.labels, "x"); }, {gz, "corrupt gzip data"});
}

}  // namespace
}  // namespace lowbit::data
