#include "lowbit/data/idx.hpp"

#include <cstdio>

#include "lowbit/core/error.hpp"
#include "lowbit/data/data_file.hpp"

namespace lowbit::data {

namespace {

constexpr size_t kImagesHeaderBytes = 16;  // magic, count, rows, cols
constexpr size_t kLabelsHeaderBytes = 8;   // magic, count
// Far above any real image side; keeps rows*cols and the int fields of Dataset safe.
constexpr uint32_t kMaxSide = 1u << 15;

uint32_t be32(const uint8_t* p) {
  return (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | uint32_t(p[3]);
}

std::string hex32(uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%08X", v);
  return buf;
}

void check_magic(const std::string& path, uint32_t magic, uint32_t expected, const char* what) {
  if (magic == expected) return;
  // The commonest mistake is passing the images file as labels or vice versa: say so.
  const char* hint = "";
  if (expected == kIdxImagesMagic && magic == kIdxLabelsMagic) hint = "; this is an idx1 labels file";
  if (expected == kIdxLabelsMagic && magic == kIdxImagesMagic) hint = "; this is an idx3 images file";
  fail(path, ": bad magic ", hex32(magic), " (expected ", hex32(expected), " for ", what, hint, ")");
}

// Magic first (so a swapped or foreign file is reported as such, whatever its length),
// then a complete header.
void check_header(const std::string& path, const std::vector<uint8_t>& bytes, uint32_t magic, const char* what,
                  size_t header_bytes) {
  if (bytes.size() < 4) fail(path, ": truncated header (", bytes.size(), " bytes; not an IDX file?)");
  check_magic(path, be32(bytes.data()), magic, what);
  if (bytes.size() < header_bytes)
    fail(path, ": truncated header (", bytes.size(), " bytes, the ", what, " header needs ", header_bytes, ")");
}

// The payload must be exactly what the header promises: shorter means a truncated
// download, longer means the wrong file or a corrupt header. Checked before any
// allocation sized from the header.
void check_payload(const std::string& path, uint64_t have, uint64_t want, const std::string& what) {
  if (have < want)
    fail(path, ": truncated: header says ", what, " (", want, " bytes) but only ", have, " bytes follow");
  if (have > want) fail(path, ": ", have - want, " trailing bytes after ", what, " (", want, " bytes)");
}

}  // namespace

Dataset read_idx(const std::string& images_path, const std::string& labels_path, std::string name) {
  Dataset ds;
  ds.name = std::move(name);
  ds.channels = 1;
  ds.num_classes = kIdxNumClasses;

  // --- images ---
  std::vector<uint8_t> img = read_data_file(images_path);
  check_header(images_path, img, kIdxImagesMagic, "idx3 images", kImagesHeaderBytes);
  const uint32_t count = be32(img.data() + 4), rows = be32(img.data() + 8), cols = be32(img.data() + 12);
  if (count == 0) fail(images_path, ": holds no images");
  if (rows == 0 || cols == 0 || rows > kMaxSide || cols > kMaxSide)
    fail(images_path, ": implausible image size ", rows, "x", cols, " in header");
  check_payload(images_path, img.size() - kImagesHeaderBytes, uint64_t(count) * rows * cols,
                cat(count, " images of ", rows, "x", cols));
  ds.height = static_cast<int>(rows);
  ds.width = static_cast<int>(cols);
  // Drop the header in place instead of copying the pixels (tens of MB for MNIST).
  img.erase(img.begin(), img.begin() + kImagesHeaderBytes);
  ds.images = std::move(img);

  // --- labels ---
  std::vector<uint8_t> lab = read_data_file(labels_path);
  check_header(labels_path, lab, kIdxLabelsMagic, "idx1 labels", kLabelsHeaderBytes);
  const uint32_t label_count = be32(lab.data() + 4);
  check_payload(labels_path, lab.size() - kLabelsHeaderBytes, label_count, cat(label_count, " labels"));
  if (label_count != count)
    fail(labels_path, ": ", label_count, " labels but ", images_path, " holds ", count, " images");
  ds.labels.resize(count);
  for (uint32_t i = 0; i < count; ++i) {
    const uint8_t l = lab[kLabelsHeaderBytes + i];
    if (l >= kIdxNumClasses)
      fail(labels_path, ": label ", int(l), " at index ", i, " is out of range (MNIST-format labels are 0..",
           kIdxNumClasses - 1, ")");
    ds.labels[i] = l;
  }
  return ds;
}

}  // namespace lowbit::data
