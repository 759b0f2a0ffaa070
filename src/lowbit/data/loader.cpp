#include "lowbit/data/loader.hpp"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <optional>

#include "lowbit/core/error.hpp"
#include "lowbit/data/cifar.hpp"
#include "lowbit/data/idx.hpp"
#include "lowbit/data/image_folder.hpp"

namespace lowbit::data {

namespace fs = std::filesystem;

namespace {

// Datasets known by name, looked up under $LOWBIT_DATA_ROOT and then kSystemDataRoot.
const char* const kNamedDatasets[] = {"fashion-mnist", "mnist"};

// The four MNIST-format files, in the order train images, train labels, test images, test labels.
const char* const kMnistFiles[] = {"train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
                                   "t10k-labels-idx1-ubyte"};
const char* const kCifarSubdir = "cifar-10-batches-bin";
const char* const kCifarTest = "test_batch.bin";

bool is_file(const fs::path& p) {
  std::error_code ec;
  return fs::is_regular_file(p, ec);
}

bool is_dir(const fs::path& p) {
  std::error_code ec;
  return fs::is_directory(p, ec);
}

// "DIR/base" if it exists, else "DIR/base.gz", else nullopt. Raw wins: it is what a
// user gets after gunzipping, and it loads faster.
std::optional<std::string> find_raw_or_gz(const fs::path& dir, const std::string& base) {
  if (is_file(dir / base)) return (dir / base).string();
  if (is_file(dir / (base + ".gz"))) return (dir / (base + ".gz")).string();
  return std::nullopt;
}

// The number in "data_batch_<n>.bin", or -1 for any other name.
long cifar_batch_number(const std::string& filename) {
  const std::string prefix = "data_batch_", suffix = ".bin";
  if (filename.size() <= prefix.size() + suffix.size() || filename.rfind(prefix, 0) != 0 ||
      filename.compare(filename.size() - suffix.size(), suffix.size(), suffix) != 0)
    return -1;
  const std::string digits = filename.substr(prefix.size(), filename.size() - prefix.size() - suffix.size());
  if (digits.size() > 9 || !std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return -1;
  return std::stol(digits);
}

// data_batch_*.bin in dir, sorted by batch number (so data_batch_10 follows data_batch_9).
std::vector<std::string> cifar_train_batches(const fs::path& dir) {
  std::vector<std::pair<long, std::string>> found;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    long n = cifar_batch_number(entry.path().filename().string());
    if (n >= 0 && is_file(entry.path())) found.emplace_back(n, entry.path().string());
  }
  std::sort(found.begin(), found.end());
  std::vector<std::string> paths;
  for (auto& f : found) paths.push_back(std::move(f.second));
  return paths;
}

// A readable dataset name from a folder: "/data/cifar10/" -> "cifar10".
std::string folder_name(const std::string& dir) {
  fs::path p = fs::path(dir).lexically_normal();
  if (p.filename().empty()) p = p.parent_path();
  std::string name = p.filename().string();
  if (name.empty() || name == "." || name == "..") {
    std::error_code ec;
    name = fs::weakly_canonical(fs::absolute(p), ec).filename().string();
  }
  return name.empty() ? std::string("data") : name;
}

void check_same_image_shape(const Dataset& train, const Dataset& test, const std::string& test_file) {
  if (train.channels != test.channels || train.height != test.height || train.width != test.width)
    fail(test_file, ": test images are ", test.channels, "x", test.height, "x", test.width, " but training images are ",
         train.channels, "x", train.height, "x", train.width);
}

std::optional<DataSplit> try_mnist(const fs::path& dir, const std::string& name, std::vector<std::string>& missing) {
  std::vector<std::string> files;
  for (const char* base : kMnistFiles) {
    if (auto f = find_raw_or_gz(dir, base)) files.push_back(*f);
    else missing.push_back(std::string(base) + "[.gz]");
  }
  if (!missing.empty()) return std::nullopt;
  DataSplit split;
  split.train = read_idx(files[0], files[1], name + "/train");
  split.test = read_idx(files[2], files[3], name + "/test");
  check_same_image_shape(split.train, split.test, files[2]);
  return split;
}

std::optional<DataSplit> try_cifar(const fs::path& root, const std::string& name) {
  for (const fs::path& dir : {root, root / kCifarSubdir}) {
    if (!is_dir(dir)) continue;
    std::vector<std::string> train = cifar_train_batches(dir);
    const bool has_test = is_file(dir / kCifarTest);
    if (train.empty() && !has_test) continue;
    // Half a CIFAR folder is almost certainly an interrupted download: say what is missing
    // rather than "no dataset found".
    if (train.empty()) fail(dir.string(), ": has ", kCifarTest, " but no data_batch_*.bin training batches");
    if (!has_test) fail(dir.string(), ": has data_batch_*.bin training batches but no ", kCifarTest);
    DataSplit split;
    split.train = read_cifar10(train, name + "/train");
    split.test = read_cifar10({(dir / kCifarTest).string()}, name + "/test");
    return split;
  }
  return std::nullopt;
}

std::string join(const std::vector<std::string>& v, const char* sep) {
  std::string s;
  for (size_t i = 0; i < v.size(); ++i) s += (i ? sep : "") + v[i];
  return s;
}

// The class names of the datasets whose class order is fixed: Fashion-MNIST's labels 0..9
// (Xiao et al. 2017, Table 1) and CIFAR-10's binary batches (batches.meta.txt).
const std::vector<std::string> kFashionMnistClasses = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                                       "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};
const std::vector<std::string> kCifar10Classes = {"airplane", "automobile", "bird",  "cat",  "deer",
                                                  "dog",      "frog",       "horse", "ship", "truck"};

void name_classes(DataSplit& split, const std::vector<std::string>& names) {
  for (Dataset* d : {&split.train, &split.test})
    if (d->num_classes <= static_cast<int>(names.size())) d->class_names.assign(names.begin(), names.begin() + d->num_classes);
}

// " (found train/ but no test/)" or the reverse, when half the folder-per-class layout is there.
std::string image_folder_note(const fs::path& dir) {
  const bool train = is_dir(dir / "train"), test = is_dir(dir / "test");
  if (train == test) return "";
  return train ? " (found train/ but no test/)" : " (found test/ but no train/)";
}

bool is_named_dataset(const std::string& spec) {
  return std::find_if(std::begin(kNamedDatasets), std::end(kNamedDatasets),
                      [&](const char* n) { return spec == n; }) != std::end(kNamedDatasets);
}

}  // namespace

std::string resolve_data_dir(const std::string& spec) {
  if (spec.empty()) fail("--data: empty dataset spec (give a folder, or one of: fashion-mnist, mnist)");
  if (is_named_dataset(spec)) {
    std::vector<std::string> tried;
    if (const char* root = std::getenv("LOWBIT_DATA_ROOT"); root && *root) {
      fs::path p = fs::path(root) / spec;
      if (is_dir(p)) return p.string();
      tried.push_back(p.string() + " (from LOWBIT_DATA_ROOT)");
    }
    fs::path sys = fs::path(kSystemDataRoot) / spec;
    if (is_dir(sys)) return sys.string();
    tried.push_back(sys.string());
    // A folder of that name in the working directory is the last resort.
    if (is_dir(spec)) return spec;
    tried.push_back("./" + spec);
    fail("--data ", spec, ": dataset not found; looked in ", join(tried, ", "),
         " (set LOWBIT_DATA_ROOT to the folder that holds ", spec, "/)");
  }
  std::error_code ec;
  if (!fs::exists(spec, ec)) fail(spec, ": no such directory (--data takes a dataset folder, or one of: fashion-mnist, mnist)");
  if (!is_dir(spec)) fail(spec, ": not a directory (--data takes a dataset folder, or one of: fashion-mnist, mnist)");
  return spec;
}

DataSplit load_data(const std::string& spec) {
  const std::string dir = resolve_data_dir(spec);
  const std::string name = is_named_dataset(spec) ? spec : folder_name(dir);

  std::vector<std::string> mnist_missing;
  if (auto split = try_mnist(dir, name, mnist_missing)) {
    if (spec == "fashion-mnist") name_classes(*split, kFashionMnistClasses);
    return std::move(*split);
  }
  if (auto split = try_cifar(dir, name)) {
    name_classes(*split, kCifar10Classes);
    return std::move(*split);
  }
  if (is_image_folder_dataset(dir)) return load_image_folder(dir, name);  // DIR/train/<class>/, DIR/test/<class>/

  std::string mnist_note;
  if (mnist_missing.size() < std::size(kMnistFiles)) mnist_note = " (missing: " + join(mnist_missing, ", ") + ")";
  fail(dir, ": no dataset found. Looked for the MNIST-format files ", kMnistFiles[0], "[.gz], ", kMnistFiles[1],
       "[.gz], ", kMnistFiles[2], "[.gz], ", kMnistFiles[3], "[.gz]", mnist_note,
       "; for CIFAR-10 binary batches data_batch_1.bin..data_batch_5.bin plus ", kCifarTest, " in ", dir,
       " or ", (fs::path(dir) / kCifarSubdir).string(), "; and for image folders ", (fs::path(dir) / "train").string(),
       "/<class>/ plus ", (fs::path(dir) / "test").string(), "/<class>/", image_folder_note(dir));
}

}  // namespace lowbit::data
