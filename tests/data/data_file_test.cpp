#include "lowbit/data/data_file.hpp"

#include <gtest/gtest.h>

#include "data/data_files.hpp"

namespace lowbit::data {
namespace {

using namespace lowbit::data::testing;

TEST(DataFile, RawAndGzipGiveSameBytes) {
  TempDir dir;
  Bytes content = idx_images(3, 5, 5);
  write_bytes(dir.file("raw"), content);
  write_gz(dir.file("z.gz"), content);
  EXPECT_EQ(read_data_file(dir.file("raw")), content);
  EXPECT_EQ(read_data_file(dir.file("z.gz")), content);
}

TEST(DataFile, EmptyFileIsEmpty) {
  TempDir dir;
  write_bytes(dir.file("e"), {});
  EXPECT_TRUE(read_data_file(dir.file("e")).empty());
}

TEST(DataFile, DecompressedSizeIsBounded) {
  // 1 MB of zeros compresses to ~1 KB: a tiny zip bomb. The limit must stop it.
  TempDir dir;
  write_gz(dir.file("bomb.gz"), Bytes(1 << 20, 0));
  expect_error([&] { read_data_file(dir.file("bomb.gz"), 100000); }, {dir.file("bomb.gz"), "exceeds the limit"});
  EXPECT_EQ(read_data_file(dir.file("bomb.gz"), 1 << 20).size(), size_t(1) << 20);  // exactly at the limit is fine
}

TEST(DataFile, RawSizeIsBounded) {
  TempDir dir;
  write_bytes(dir.file("big"), Bytes(5000, 1));
  expect_error([&] { read_data_file(dir.file("big"), 4999); }, {dir.file("big"), "more than the limit"});
}

}  // namespace
}  // namespace lowbit::data
