// Folder-per-class datasets (data/image_folder.hpp) through load_data: classes from the
// sorted subfolders, labels, one shape for both splits (RGB if any image is, centre-padded
// to the largest size), and errors that name the folder or file at fault.
#include "lowbit/data/image_folder.hpp"

#include <gtest/gtest.h>

#include <fstream>

#include "data/data_files.hpp"
#include "data/image_files.hpp"
#include "lowbit/data/loader.hpp"
#include "test_util.hpp"

namespace lowbit::data {
namespace {

using namespace lowbit::data::testing;
using lowbit::testing::expect_error_naming;

// A grey h x w image filled with `v`.
void grey(const std::string& path, int h, int w, uint8_t v) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  write_png(path, std::vector<uint8_t>(static_cast<size_t>(h) * w, v), 1, h, w);
}

TEST(ImageFolder, ClassesLabelsAndOrder) {
  TempDir tmp;
  const std::string d = tmp.file("pets");
  // Classes created out of order; names that sort differently by byte and by case.
  grey(d + "/train/dog/b.png", 4, 4, 21);
  grey(d + "/train/dog/a.png", 4, 4, 20);
  grey(d + "/train/Zebra/z.png", 4, 4, 30);
  grey(d + "/train/cat/x.png", 4, 4, 10);
  grey(d + "/train/cat/nested/y.png", 4, 4, 11);   // subfolders of a class folder count
  grey(d + "/train/cat/.hidden/w.png", 4, 4, 99);  // hidden entries do not
  grey(d + "/train/.ipynb_checkpoints/q.png", 4, 4, 99);
  std::ofstream(d + "/train/cat/notes.txt") << "ignored";
  grey(d + "/test/cat/c.png", 4, 4, 12);
  grey(d + "/test/dog/d.png", 4, 4, 22);
  grey(d + "/test/Zebra/e.png", 4, 4, 31);

  EXPECT_EQ(image_folder_classes(d), (std::vector<std::string>{"Zebra", "cat", "dog"}));
  const DataSplit s = load_data(d);
  EXPECT_EQ(s.train.name, "pets/train");
  EXPECT_EQ(s.test.name, "pets/test");
  EXPECT_EQ(s.train.class_names, (std::vector<std::string>{"Zebra", "cat", "dog"}));
  EXPECT_EQ(s.test.class_names, s.train.class_names);
  EXPECT_EQ(s.train.num_classes, 3);
  // Class-major, each class's files by path: Zebra/z, cat/nested/y, cat/x, dog/a, dog/b.
  EXPECT_EQ(s.train.labels, (std::vector<int32_t>{0, 1, 1, 2, 2}));
  std::vector<int> first_pixels;
  for (int64_t i = 0; i < s.train.size(); ++i) first_pixels.push_back(s.train.image(i)[0]);
  EXPECT_EQ(first_pixels, (std::vector<int>{30, 11, 10, 20, 21}));
  EXPECT_EQ(s.test.labels, (std::vector<int32_t>{0, 1, 2}));
  EXPECT_EQ(s.train.channels, 1);
  EXPECT_EQ(s.train.height, 4);
}

TEST(ImageFolder, OneShapeRgbIfAnyAndCentrePadded) {
  TempDir tmp;
  const std::string d = tmp.str();
  grey(d + "/train/a/1.png", 2, 3, 50);
  grey(d + "/train/b/1.png", 4, 4, 60);
  // One RGB image in test: every image becomes RGB; the widest image is in test too.
  const std::vector<uint8_t> rgb = {1, 2, 3, 4, 5, 6,  //  R (1 x 6)
                                    7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18};
  std::filesystem::create_directories(d + "/test/a");
  write_png(d + "/test/a/1.png", rgb, 3, 1, 6);
  grey(d + "/test/b/1.png", 1, 1, 70);

  const DataSplit s = load_data(d);
  for (const Dataset* ds : {&s.train, &s.test}) {
    EXPECT_EQ(ds->channels, 3);
    EXPECT_EQ(ds->height, 4);  // the largest height (train/b) ...
    EXPECT_EQ(ds->width, 6);   // ... and the largest width (test/a), over both splits
  }
  // train/a: 2x3 of 50 in 4x6: top (4-2)/2 = 1, left (6-3)/2 = 1, copied to R, G and B.
  const uint8_t* a = s.train.image(0);
  for (int c = 0; c < 3; ++c)
    for (int y = 0; y < 4; ++y)
      for (int x = 0; x < 6; ++x) {
        const bool inside = y >= 1 && y < 3 && x >= 1 && x < 4;
        EXPECT_EQ(a[(c * 4 + y) * 6 + x], inside ? 50 : 0) << c << "," << y << "," << x;
      }
  // test/a: 1x6 RGB in 4x6: row (4-1)/2 = 1 of each plane.
  const uint8_t* t = s.test.image(0);
  for (int c = 0; c < 3; ++c)
    for (int x = 0; x < 6; ++x) {
      EXPECT_EQ(t[(c * 4 + 1) * 6 + x], rgb[static_cast<size_t>(c * 6 + x)]);
      EXPECT_EQ(t[(c * 4 + 0) * 6 + x], 0);
      EXPECT_EQ(t[(c * 4 + 2) * 6 + x], 0);
    }
}

TEST(ImageFolder, ErrorsNameTheFolderOrFile) {
  {  // a class folder without images
    TempDir tmp;
    grey(tmp.file("train/a/1.png"), 2, 2, 1);
    grey(tmp.file("test/a/1.png"), 2, 2, 1);
    grey(tmp.file("test/b/1.png"), 2, 2, 1);
    std::filesystem::create_directories(tmp.file("train/b"));
    std::ofstream(tmp.file("train/b/readme.txt")) << "no images";
    expect_error_naming([&] { load_data(tmp.str()); }, tmp.file("train/b") + ": a class folder without image files");
  }
  {  // a class in test that train lacks, and the reverse
    TempDir tmp;
    grey(tmp.file("train/a/1.png"), 2, 2, 1);
    grey(tmp.file("test/a/1.png"), 2, 2, 1);
    grey(tmp.file("test/b/1.png"), 2, 2, 1);
    expect_error_naming([&] { load_data(tmp.str()); }, tmp.file("test/b") + ": class 'b' has no folder in " + tmp.file("train"));
    grey(tmp.file("train/b/1.png"), 2, 2, 1);
    grey(tmp.file("train/c/1.png"), 2, 2, 1);
    expect_error_naming([&] { load_data(tmp.str()); }, tmp.file("train/c") + ": class 'c' has no folder in " + tmp.file("test"));
  }
  {  // images directly in train/, no class folders
    TempDir tmp;
    grey(tmp.file("train/1.png"), 2, 2, 1);
    grey(tmp.file("test/a/1.png"), 2, 2, 1);
    expect_error_naming([&] { load_data(tmp.str()); }, tmp.file("train/1.png") + ": an image outside a class folder");
    std::filesystem::remove(tmp.file("train/1.png"));
    expect_error_naming([&] { load_data(tmp.str()); }, tmp.file("train") + ": no class folders");
  }
  {  // an image that does not decode
    TempDir tmp;
    grey(tmp.file("train/a/1.png"), 2, 2, 1);
    grey(tmp.file("test/a/1.png"), 2, 2, 1);
    std::ofstream(tmp.file("train/a/2.png")) << "not a png";
    expect_error_naming([&] { load_data(tmp.str()); }, tmp.file("train/a/2.png") + ": not a PNG");
  }
  {  // half the layout: the "no dataset found" message says what it found
    TempDir tmp;
    grey(tmp.file("train/a/1.png"), 2, 2, 1);
    expect_error_naming([&] { load_data(tmp.str()); }, "(found train/ but no test/)");
  }
}

TEST(ImageFolder, ExistingLayoutsWin) {
  // A folder with the MNIST files is MNIST even when it also has train/ and test/ folders.
  TempDir tmp;
  write_mnist_dir(tmp.str(), 6, 3);
  grey(tmp.file("train/a/1.png"), 2, 2, 1);
  grey(tmp.file("test/a/1.png"), 2, 2, 1);
  const DataSplit s = load_data(tmp.str());
  EXPECT_EQ(s.train.size(), 6);
  EXPECT_EQ(s.train.height, 28);
}

}  // namespace
}  // namespace lowbit::data
