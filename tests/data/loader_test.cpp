#include "lowbit/data/loader.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <optional>

#include "data/data_files.hpp"

namespace lowbit::data {
namespace {

using namespace lowbit::data::testing;

// Sets an environment variable for one test and restores the previous value after.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const std::string& value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    ::setenv(name, value.c_str(), 1);
  }
  ~ScopedEnv() {
    if (old_) ::setenv(name_, old_->c_str(), 1);
    else ::unsetenv(name_);
  }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

std::string sub(const TempDir& dir, const std::string& name) {
  std::filesystem::create_directories(dir.file(name));
  return dir.file(name);
}

TEST(DataLoad, MnistRawDir) {
  TempDir tmp;
  const std::string dir = sub(tmp, "my-mnist");
  write_mnist_dir(dir, 20, 10);
  DataSplit s = load_data(dir);
  EXPECT_EQ(s.train.name, "my-mnist/train");
  EXPECT_EQ(s.test.name, "my-mnist/test");
  EXPECT_EQ(s.train.size(), 20);
  EXPECT_EQ(s.test.size(), 10);
  EXPECT_EQ(s.train.height, 28);
  EXPECT_EQ(s.test.width, 28);
  EXPECT_EQ(s.test.image(3)[0], test_pixel(3, 0, 0));
  // A trailing slash names the same folder.
  EXPECT_EQ(load_data(dir + "/").train.name, "my-mnist/train");
}

TEST(DataLoad, MnistGzipDir) {
  TempDir tmp;
  write_mnist_dir(tmp.str(), 12, 4, 28, 28, /*gz=*/true);
  DataSplit s = load_data(tmp.str());
  EXPECT_EQ(s.train.size(), 12);
  EXPECT_EQ(s.test.size(), 4);
}

TEST(DataLoad, MnistPrefersRawOverGzip) {
  TempDir tmp;
  write_mnist_dir(tmp.str(), 3, 2, 28, 28, /*gz=*/true);
  write_mnist_dir(tmp.str(), 8, 5, 28, 28, /*gz=*/false);
  DataSplit s = load_data(tmp.str());
  EXPECT_EQ(s.train.size(), 8);
  EXPECT_EQ(s.test.size(), 5);
}

TEST(DataLoad, MnistBadFileIsNamed) {
  TempDir tmp;
  write_mnist_dir(tmp.str(), 6, 3);
  write_bytes(tmp.file("t10k-labels-idx1-ubyte"), idx_labels(2));
  expect_error([&] { load_data(tmp.str()); }, {tmp.file("t10k-labels-idx1-ubyte"), "2 labels but"});
}

TEST(DataLoad, MnistTrainTestShapeMismatch) {
  TempDir tmp;
  write_mnist_dir(tmp.str(), 6, 3);
  write_bytes(tmp.file("t10k-images-idx3-ubyte"), idx_images(3, 32, 32));
  expect_error([&] { load_data(tmp.str()); }, {tmp.file("t10k-images-idx3-ubyte"), "1x32x32", "1x28x28"});
}

TEST(DataLoad, CifarDir) {
  TempDir tmp;
  const std::string dir = sub(tmp, "cifar10");
  write_bytes(dir + "/data_batch_1.bin", cifar_records(3, 0));
  write_bytes(dir + "/data_batch_2.bin", cifar_records(2, 5));
  write_bytes(dir + "/test_batch.bin", cifar_records(4, 1));
  write_bytes(dir + "/batches.meta.txt", {'a', '\n'});  // present in the real download; ignored
  DataSplit s = load_data(dir);
  EXPECT_EQ(s.train.name, "cifar10/train");
  ASSERT_EQ(s.train.size(), 5);
  EXPECT_EQ(s.test.size(), 4);
  EXPECT_EQ(s.train.channels, 3);
  EXPECT_EQ(s.train.labels, (std::vector<int32_t>{0, 1, 2, 5, 6}));  // batch 1 first
  EXPECT_EQ(s.test.labels, (std::vector<int32_t>{1, 2, 3, 4}));
}

TEST(DataLoad, CifarSubfolderAndNumericOrder) {
  TempDir tmp;
  const std::string dir = sub(tmp, "cifar-10-batches-bin");
  write_bytes(dir + "/data_batch_10.bin", cifar_records(1, 9));
  write_bytes(dir + "/data_batch_2.bin", cifar_records(1, 2));
  write_bytes(dir + "/data_batch_1.bin", cifar_records(1, 1));
  write_bytes(dir + "/test_batch.bin", cifar_records(1));
  DataSplit s = load_data(tmp.str());  // the parent folder: the loader looks inside
  EXPECT_EQ(s.train.labels, (std::vector<int32_t>{1, 2, 9}));
}

TEST(DataLoad, CifarWithoutTestBatch) {
  TempDir tmp;
  write_bytes(tmp.file("data_batch_1.bin"), cifar_records(1));
  expect_error([&] { load_data(tmp.str()); }, {tmp.str(), "no test_batch.bin"});
}

TEST(DataLoad, CifarTruncatedBatchIsNamed) {
  TempDir tmp;
  Bytes b = cifar_records(2);
  b.resize(b.size() - 100);
  write_bytes(tmp.file("data_batch_1.bin"), b);
  write_bytes(tmp.file("test_batch.bin"), cifar_records(1));
  expect_error([&] { load_data(tmp.str()); }, {tmp.file("data_batch_1.bin"), "truncated"});
}

TEST(DataLoad, EmptyDirListsWhatWasExpected) {
  TempDir tmp;
  expect_error([&] { load_data(tmp.str()); },
               {tmp.str(), "no dataset found", "train-images-idx3-ubyte[.gz]", "train-labels-idx1-ubyte[.gz]",
                "t10k-images-idx3-ubyte[.gz]", "t10k-labels-idx1-ubyte[.gz]", "data_batch_1.bin", "test_batch.bin",
                "cifar-10-batches-bin"});
}

TEST(DataLoad, PartialMnistSaysWhatIsMissing) {
  TempDir tmp;
  write_mnist_dir(tmp.str(), 2, 2);
  std::filesystem::remove(tmp.file("t10k-labels-idx1-ubyte"));
  expect_error([&] { load_data(tmp.str()); }, {tmp.str(), "missing: t10k-labels-idx1-ubyte[.gz])"});
}

TEST(DataLoad, MissingDir) {
  TempDir tmp;
  const std::string dir = tmp.file("nope");
  expect_error([&] { load_data(dir); }, {dir, "no such directory"});
}

TEST(DataLoad, FileInsteadOfDir) {
  TempDir tmp;
  write_bytes(tmp.file("f"), {1});
  expect_error([&] { load_data(tmp.file("f")); }, {tmp.file("f"), "not a directory"});
}

TEST(DataLoad, EmptySpec) { expect_error([&] { load_data(""); }, {"empty dataset spec"}); }

TEST(DataLoad, NamedDatasetSearchesEnvRootFirst) {
  TempDir tmp;
  write_mnist_dir(sub(tmp, "fashion-mnist"), 7, 3, 28, 28, /*gz=*/true);
  ScopedEnv env("LOWBIT_DATA_ROOT", tmp.str());
  EXPECT_EQ(resolve_data_dir("fashion-mnist"), tmp.file("fashion-mnist"));
  DataSplit s = load_data("fashion-mnist");
  EXPECT_EQ(s.train.name, "fashion-mnist/train");
  EXPECT_EQ(s.train.size(), 7);  // not the 60000 of a system-wide copy
  EXPECT_EQ(s.test.size(), 3);
}

TEST(DataLoad, NamedDatasetNotFoundListsLocations) {
  if (std::filesystem::exists(std::string(kSystemDataRoot) + "/mnist") || std::filesystem::exists("mnist"))
    GTEST_SKIP() << "an mnist folder exists on this machine";
  TempDir tmp;
  ScopedEnv env("LOWBIT_DATA_ROOT", tmp.str());
  expect_error([&] { load_data("mnist"); },
               {"--data mnist", tmp.file("mnist"), std::string(kSystemDataRoot) + "/mnist", "LOWBIT_DATA_ROOT"});
}

TEST(DataLoad, SystemFashionMnist) {
  const std::string dir = std::string(kSystemDataRoot) + "/fashion-mnist";
  if (!std::filesystem::is_directory(dir)) GTEST_SKIP() << dir << " not installed";
  ScopedEnv env("LOWBIT_DATA_ROOT", "");  // make sure the system copy is the one loaded
  DataSplit s = load_data("fashion-mnist");
  EXPECT_EQ(s.train.name, "fashion-mnist/train");
  ASSERT_EQ(s.train.size(), 60000);
  ASSERT_EQ(s.test.size(), 10000);
  for (const Dataset* ds : {&s.train, &s.test}) {
    EXPECT_EQ(ds->channels, 1);
    EXPECT_EQ(ds->height, 28);
    EXPECT_EQ(ds->width, 28);
    EXPECT_EQ(ds->num_classes, 10);
    EXPECT_EQ(static_cast<int64_t>(ds->images.size()), ds->size() * 784);
    // Fashion-MNIST is balanced: 6000 / 1000 images per class.
    std::vector<int64_t> per_class(10, 0);
    for (int32_t l : ds->labels) {
      ASSERT_GE(l, 0);
      ASSERT_LT(l, 10);
      ++per_class[static_cast<size_t>(l)];
    }
    for (int64_t c : per_class) EXPECT_EQ(c, ds->size() / 10);
  }
}

}  // namespace
}  // namespace lowbit::data
