#include "lowbit/data/image_folder.hpp"

#include <algorithm>
#include <filesystem>

#include "lowbit/core/error.hpp"
#include "lowbit/data/data_file.hpp"
#include "lowbit/data/image_file.hpp"

namespace lowbit::data {

namespace fs = std::filesystem;

namespace {

bool is_dir(const fs::path& p) {
  std::error_code ec;
  return fs::is_directory(p, ec);
}

bool hidden(const fs::path& p) {
  const std::string name = p.filename().string();
  return !name.empty() && name[0] == '.';
}

// The subfolders of a split folder (class names), sorted; an image file directly in it is
// an error (it belongs in a class folder).
std::vector<std::string> class_folders(const fs::path& split) {
  std::vector<std::string> names;
  std::error_code ec;
  fs::directory_iterator it(split, ec);
  if (ec) fail(split.string(), ": cannot list the folder (", ec.message(), ")");
  for (; it != fs::directory_iterator(); it.increment(ec)) {
    if (ec) fail(split.string(), ": cannot list the folder (", ec.message(), ")");
    if (hidden(it->path())) continue;
    if (is_dir(it->path()))
      names.push_back(it->path().filename().string());
    else if (has_image_extension(it->path().filename().string()))
      fail(it->path().string(), ": an image outside a class folder; the folder-per-class layout puts class C's images in ",
           (split / "C").string(), "/");
  }
  std::sort(names.begin(), names.end());
  if (names.empty())
    fail(split.string(), ": no class folders (the folder-per-class layout is ", split.string(),
         "/<class>/<image files>, one folder per class)");
  return names;
}

// The image files under a class folder, subfolders included (hidden ones skipped), sorted by path.
std::vector<std::string> class_images(const fs::path& dir) {
  std::vector<std::string> files;
  std::error_code ec;
  fs::recursive_directory_iterator it(dir, fs::directory_options::follow_directory_symlink, ec);
  if (ec) fail(dir.string(), ": cannot list the folder (", ec.message(), ")");
  for (; it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (ec) fail(dir.string(), ": cannot list the folder (", ec.message(), ")");
    if (hidden(it->path())) {
      if (it->is_directory(ec)) it.disable_recursion_pending();
      continue;
    }
    std::error_code ec2;
    if (has_image_extension(it->path().filename().string()) && fs::is_regular_file(it->path(), ec2))
      files.push_back(it->path().string());
  }
  std::sort(files.begin(), files.end());
  if (files.empty())
    fail(dir.string(), ": a class folder without image files (.png .jpg .jpeg .pgm .ppm .pnm .bmp); remove it or add images");
  return files;
}

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (size_t i = 0; i < v.size(); ++i) s += cat(i ? ", " : "", v[i]);
  return s;
}

// One split decoded: the images at their own size and channels, and their labels.
struct Decoded {
  std::vector<Image> images;
  std::vector<std::string> files;
  std::vector<int32_t> labels;
};

Decoded decode_split(const fs::path& split, const std::vector<std::string>& classes) {
  Decoded d;
  for (size_t k = 0; k < classes.size(); ++k)
    for (std::string& f : class_images(split / classes[k])) {
      d.images.push_back(read_image(f));
      d.files.push_back(std::move(f));
      d.labels.push_back(static_cast<int32_t>(k));
    }
  return d;
}

Dataset pack(Decoded& d, const std::string& name, const std::vector<std::string>& classes, int channels, int height,
             int width, const std::string& largest) {
  Dataset ds;
  ds.name = name;
  ds.channels = channels;
  ds.height = height;
  ds.width = width;
  ds.num_classes = static_cast<int>(classes.size());
  ds.class_names = classes;
  const auto n = static_cast<uint64_t>(d.images.size());
  const uint64_t bytes = n * static_cast<uint64_t>(ds.image_size());
  LOWBIT_CHECK(bytes <= kMaxDataFileBytes, name, ": ", n, " images padded to ", channels, "x", height, "x", width,
               " (the largest image, ", largest, ") take ", bytes, " bytes, more than the ", kMaxDataFileBytes,
               "-byte limit; resize the images to one size first");
  ds.images.resize(static_cast<size_t>(bytes));
  for (size_t i = 0; i < d.images.size(); ++i) {
    const Image img = centre_pad(convert_channels(d.images[i], channels), height, width);
    std::copy(img.pixels.begin(), img.pixels.end(), ds.images.begin() + static_cast<std::ptrdiff_t>(i * img.pixels.size()));
    d.images[i] = Image{};  // free as we go
  }
  ds.labels = std::move(d.labels);
  return ds;
}

}  // namespace

bool is_image_folder_dataset(const std::string& dir) {
  return is_dir(fs::path(dir) / "train") && is_dir(fs::path(dir) / "test");
}

std::vector<std::string> image_folder_classes(const std::string& dir) { return class_folders(fs::path(dir) / "train"); }

DataSplit load_image_folder(const std::string& dir, const std::string& name) {
  const fs::path train_dir = fs::path(dir) / "train", test_dir = fs::path(dir) / "test";
  const std::vector<std::string> classes = class_folders(train_dir);
  const std::vector<std::string> test_classes = class_folders(test_dir);
  for (const std::string& c : test_classes)
    if (!std::binary_search(classes.begin(), classes.end(), c))
      fail((test_dir / c).string(), ": class '", c, "' has no folder in ", train_dir.string(), " (its classes: ",
           join(classes), "); train and test must have the same class folders");
  for (const std::string& c : classes)
    if (!std::binary_search(test_classes.begin(), test_classes.end(), c))
      fail((train_dir / c).string(), ": class '", c, "' has no folder in ", test_dir.string(),
           "; train and test must have the same class folders (labels are the class's rank among them)");

  Decoded train = decode_split(train_dir, classes), test = decode_split(test_dir, classes);
  // One shape for both splits: RGB if any image is, the largest height and width.
  int channels = 1, height = 0, width = 0;
  std::string tallest, widest;
  for (const Decoded* d : {&train, &test})
    for (size_t i = 0; i < d->images.size(); ++i) {
      const Image& img = d->images[i];
      channels = std::max(channels, img.channels);
      if (img.height > height) height = img.height, tallest = d->files[i];
      if (img.width > width) width = img.width, widest = d->files[i];
    }
  const std::string largest = tallest == widest ? cat(tallest, ", ", height, "x", width)
                                                 : cat(tallest, " ", height, " high, ", widest, " ", width, " wide");
  DataSplit split;
  split.train = pack(train, cat(name, "/train"), classes, channels, height, width, largest);
  split.test = pack(test, cat(name, "/test"), classes, channels, height, width, largest);
  return split;
}

}  // namespace lowbit::data
