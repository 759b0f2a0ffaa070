#include "lowbit/data/cifar.hpp"

#include <gtest/gtest.h>

#include "data/data_files.hpp"

namespace lowbit::data {
namespace {

using namespace lowbit::data::testing;

TEST(CifarRead, TwoBatchesConcatenateInOrder) {
  TempDir dir;
  write_bytes(dir.file("data_batch_1.bin"), cifar_records(3, /*first_label=*/0));
  write_bytes(dir.file("data_batch_2.bin"), cifar_records(2, /*first_label=*/7));
  Dataset ds = read_cifar10({dir.file("data_batch_1.bin"), dir.file("data_batch_2.bin")}, "cifar/train");
  EXPECT_EQ(ds.name, "cifar/train");
  ASSERT_EQ(ds.size(), 5);
  EXPECT_EQ(ds.channels, 3);
  EXPECT_EQ(ds.height, 32);
  EXPECT_EQ(ds.width, 32);
  EXPECT_EQ(ds.num_classes, 10);
  EXPECT_EQ(ds.image_size(), 3072);
  EXPECT_EQ(ds.images.size(), 5u * 3072);
  const int first_label[5] = {0, 1, 2, 7, 8};
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(ds.labels[i], first_label[i] % 10);
    for (int c = 0; c < 3; ++c) {
      // CHW: channel c is the c-th block of 1024 bytes; check its first and last pixel.
      EXPECT_EQ(ds.image(i)[c * 1024], (first_label[i] + c * 50) % 256);
      EXPECT_EQ(ds.image(i)[c * 1024 + 1023], (first_label[i] + c * 50) % 256);
    }
  }
}

TEST(CifarRead, TestBatch) {
  TempDir dir;
  write_bytes(dir.file("test_batch.bin"), cifar_records(10));
  Dataset ds = read_cifar10({dir.file("test_batch.bin")}, "cifar/test");
  ASSERT_EQ(ds.size(), 10);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(ds.labels[i], i);
}

TEST(CifarErrors, TruncatedFile) {
  TempDir dir;
  Bytes b = cifar_records(2);
  b.pop_back();
  write_bytes(dir.file("data_batch_1.bin"), cifar_records(2));
  write_bytes(dir.file("data_batch_2.bin"), b);
  expect_error([&] { read_cifar10({dir.file("data_batch_1.bin"), dir.file("data_batch_2.bin")}, "c"); },
               {dir.file("data_batch_2.bin"), "truncated", "6145 bytes"});
}

TEST(CifarErrors, BadLabel) {
  TempDir dir;
  Bytes b = cifar_records(3);
  b[1 * 3073] = 10;  // label of record 1
  write_bytes(dir.file("test_batch.bin"), b);
  expect_error([&] { read_cifar10({dir.file("test_batch.bin")}, "c"); },
               {dir.file("test_batch.bin"), "label 10 in record 1"});
}

TEST(CifarErrors, MissingFile) {
  TempDir dir;
  expect_error([&] { read_cifar10({dir.file("data_batch_1.bin")}, "c"); }, {dir.file("data_batch_1.bin"), "no such file"});
}

TEST(CifarErrors, EmptyFile) {
  TempDir dir;
  write_bytes(dir.file("data_batch_1.bin"), {});
  expect_error([&] { read_cifar10({dir.file("data_batch_1.bin")}, "c"); }, {dir.file("data_batch_1.bin"), "empty"});
}

TEST(CifarErrors, NoFiles) { expect_error([&] { read_cifar10({}, "c"); }, {"no files"}); }

}  // namespace
}  // namespace lowbit::data
