#include "lowbit/hw/bnn_pynq_files.hpp"

#include <stdlib.h>

#include <cctype>
#include <filesystem>
#include <system_error>

#include "lowbit/core/error.hpp"
#include "lowbit/core/file_io.hpp"
#include "lowbit/format/semantics.hpp"

namespace lowbit::hw::bnn_pynq {

namespace {

namespace fs = std::filesystem;

void put_u64(std::vector<uint8_t>& out, uint64_t v) {
  for (int b = 0; b < 8; ++b) out.push_back(static_cast<uint8_t>(v >> (8 * b)));  // little-endian
}

void put_be32(std::vector<uint8_t>& out, uint32_t v) {
  for (int b = 3; b >= 0; --b) out.push_back(static_cast<uint8_t>(v >> (8 * b)));
}

// PE p's weight memory: word t = nf * SF + sf holds row nf * PE + p, columns sf * SIMD + i.
std::vector<uint8_t> weight_file(const LayerParams& lp, const OverlayLayer& ol, int64_t p) {
  std::vector<uint8_t> out;
  out.reserve(static_cast<size_t>(ol.nf() * ol.sf() * 8));
  const int wb = ol.weight_bits;
  for (int64_t nf = 0; nf < ol.nf(); ++nf) {
    const int8_t* row = lp.weights.data() + (nf * ol.pe + p) * lp.cols;
    for (int64_t sf = 0; sf < ol.sf(); ++sf) {
      uint64_t word = 0;
      for (int64_t i = 0; i < ol.simd; ++i) {
        const int8_t w = row[sf * ol.simd + i];
        const uint64_t code = wb == 1 ? (w > 0 ? 1u : 0u) : (static_cast<uint64_t>(w) & 3u);
        word |= code << (wb * i);
      }
      put_u64(out, word);
    }
  }
  return out;
}

// PE p's threshold memory: NF lines of `thresholds` int64 values.
std::vector<uint8_t> threshold_file(const LayerParams& lp, const OverlayLayer& ol, int64_t p) {
  std::vector<uint8_t> out;
  for (int64_t nf = 0; nf < ol.nf(); ++nf)
    for (int j = 0; j < lp.thresholds; ++j)
      put_u64(out, static_cast<uint64_t>(lp.threshold[static_cast<size_t>((nf * ol.pe + p) * lp.thresholds + j)]));
  return out;
}

bool dataset_name_ok(const std::string& s) {
  if (s.empty() || s == "." || s == "..") return false;
  for (char c : s)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.')) return false;
  return true;
}

}  // namespace

void check_dataset_name(const std::string& dataset) {
  LOWBIT_CHECK(dataset_name_ok(dataset), "bnn-pynq: dataset name '", dataset,
               "' must be a plain folder name (letters, digits, '-', '_', '.'; not '.' or '..'): bnn.py lists the "
               "folders of bnn/params/ by name");
}

std::vector<ParamFile> parameter_files(const OverlayParams& p, const std::vector<std::string>& class_names) {
  LOWBIT_CHECK(p.overlay && p.layers.size() == p.overlay->layers.size(), "bnn-pynq: incomplete overlay parameters");
  LOWBIT_CHECK(static_cast<int64_t>(class_names.size()) == p.classes, "bnn-pynq: ", class_names.size(),
               " class names for a model of ", p.classes, " classes (classes.txt needs one line per class)");
  std::string classes;
  for (const std::string& n : class_names) {
    LOWBIT_CHECK(!n.empty() && n.find_first_of("\r\n") == std::string::npos,
                 "bnn-pynq: a class name must be one non-empty line, got '", n, "'");
    classes += n + "\n";
  }
  std::vector<ParamFile> files;
  for (size_t l = 0; l < p.layers.size(); ++l) {
    const OverlayLayer& ol = p.overlay->layers[l];
    for (int64_t pe = 0; pe < ol.pe; ++pe) {
      files.push_back({cat(l, "-", pe, "-weights.bin"), weight_file(p.layers[l], ol, pe)});
      if (ol.thresholds > 0) files.push_back({cat(l, "-", pe, "-thres.bin"), threshold_file(p.layers[l], ol, pe)});
    }
  }
  files.push_back({"classes.txt", std::vector<uint8_t>(classes.begin(), classes.end())});
  return files;
}

std::string write_parameter_dir(const std::string& dir, const std::string& dataset, const std::string& network,
                                const std::vector<ParamFile>& files) {
  check_dataset_name(dataset);
  const fs::path parent = fs::path(dir) / dataset;
  const fs::path target = parent / network;
  make_dirs(parent.string());
  check_writable_dir(parent.string());
  std::error_code ec;
  // Folders a killed export left: its temporary folder, and an old folder it had moved aside
  // (when the new one is in place).
  for (const auto& e : fs::directory_iterator(parent, ec)) {
    const std::string name = e.path().filename().string();
    const std::string prefix = "." + network;
    if (name.rfind(prefix + ".tmp.", 0) == 0 || (name.rfind(prefix + ".old.", 0) == 0 && fs::exists(target)))
      fs::remove_all(e.path(), ec);
  }
  std::string tmpl = (parent / ("." + network + ".tmp.XXXXXX")).string();
  LOWBIT_CHECK(::mkdtemp(tmpl.data()) != nullptr, parent.string(), ": cannot create a temporary folder");
  const fs::path tmp = tmpl;
  try {
    // mkdtemp makes it private (0700); a parameter folder is copied to a board and read by
    // its users: rwxr-xr-x, as a folder mkdir makes.
    fs::permissions(tmp, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                             fs::perms::others_read | fs::perms::others_exec);
    for (const ParamFile& f : files) write_file_atomic((tmp / f.name).string(), f.bytes);
    if (fs::exists(target)) {
      LOWBIT_CHECK(fs::is_directory(target), target.string(), " exists and is not a folder");
      std::string old = (parent / ("." + network + ".old.XXXXXX")).string();
      LOWBIT_CHECK(::mkdtemp(old.data()) != nullptr, parent.string(), ": cannot create a temporary folder");
      fs::remove(old);
      fs::rename(target, old);
      fs::rename(tmp, target);
      fs::remove_all(old, ec);
    } else {
      fs::rename(tmp, target);
    }
  } catch (const fs::filesystem_error& e) {
    fs::remove_all(tmp, ec);
    fail(target.string(), ": cannot write the parameter folder (", e.code().message(), ")");
  } catch (...) {
    fs::remove_all(tmp, ec);
    throw;
  }
  return target.string();
}

std::vector<std::string> default_class_names(const std::string& dataset, int64_t classes) {
  static const std::vector<std::pair<std::string, std::vector<std::string>>> known = {
      {"fashion-mnist",
       {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"}},
      {"mnist", {"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"}},
      {"cifar10", {"Airplane", "Automobile", "Bird", "Cat", "Deer", "Dog", "Frog", "Horse", "Ship", "Truck"}},
  };
  for (const auto& [name, names] : known)
    if (name == dataset && static_cast<int64_t>(names.size()) == classes) return names;
  std::vector<std::string> names;
  for (int64_t c = 0; c < classes; ++c) names.push_back(std::to_string(c));
  return names;
}

bool shipped_dataset(const std::string& dataset) {
  for (const char* name : {"mnist", "cifar10", "chars_merged", "road-signs", "streetview"})
    if (dataset == name) return true;
  return false;
}

std::vector<ParamFile> overlay_image_files(const Overlay& o, const uint8_t* images, const int32_t* labels, int64_t n,
                                           int64_t channels, int64_t height, int64_t width) {
  const bool lfc = o.input == OverlayInput::kMnistBits;
  const int64_t side = lfc ? 28 : 32;
  LOWBIT_CHECK(height <= side && width <= side && (lfc ? channels == 1 : (channels == 1 || channels == 3)),
               o.name, " reads ", lfc ? "1x28x28" : "3x32x32 (or grey 1x32x32)", " images; these are ", channels, "x",
               height, "x", width);
  const int64_t oy = format::centre_offset(side, height), ox = format::centre_offset(side, width);
  // One channel of image i, centre-padded with pixel 0 as lowbit's runtime pads.
  const auto plane = [&](int64_t i, int64_t c, std::vector<uint8_t>& out) {
    const uint8_t* img = images + (i * channels + c) * height * width;
    for (int64_t y = 0; y < side; ++y)
      for (int64_t x = 0; x < side; ++x) {
        const int64_t sy = y - oy, sx = x - ox;
        out.push_back(sy >= 0 && sy < height && sx >= 0 && sx < width ? img[sy * width + sx] : 0);
      }
  };
  for (int64_t i = 0; i < n; ++i)
    LOWBIT_CHECK(labels[i] >= 0 && labels[i] <= 255, "label ", labels[i], " of image ", i, " does not fit a byte");
  if (lfc) {
    std::vector<uint8_t> img, lab;
    put_be32(img, 0x00000803), put_be32(img, static_cast<uint32_t>(n)), put_be32(img, 28), put_be32(img, 28);
    put_be32(lab, 0x00000801), put_be32(lab, static_cast<uint32_t>(n));
    for (int64_t i = 0; i < n; ++i) {
      plane(i, 0, img);
      lab.push_back(static_cast<uint8_t>(labels[i]));
    }
    return {{"test-images-idx3-ubyte", std::move(img)}, {"test-labels-idx1-ubyte", std::move(lab)}};
  }
  std::vector<uint8_t> rec;
  rec.reserve(static_cast<size_t>(n * 3073));
  for (int64_t i = 0; i < n; ++i) {
    rec.push_back(static_cast<uint8_t>(labels[i]));
    for (int64_t c = 0; c < 3; ++c) plane(i, channels == 1 ? 0 : c, rec);
  }
  return {{"test_batch.bin", std::move(rec)}};
}

}  // namespace lowbit::hw::bnn_pynq
