// Test helpers for the data module: a self-deleting temp folder and writers for small
// IDX / CIFAR-10 files, raw or gzipped, so tests never depend on downloaded data.
#pragma once
#include <gtest/gtest.h>
#include <unistd.h>
#include <zlib.h>

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "lowbit/core/error.hpp"

namespace lowbit::data::testing {

using Bytes = std::vector<uint8_t>;

// A fresh folder under the system temp dir, removed with everything in it on destruction.
class TempDir {
 public:
  TempDir() {
    static std::atomic<int> counter{0};
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    std::string tag = info ? std::string(info->test_suite_name()) + "." + info->name() : "none";
    path_ = std::filesystem::temp_directory_path() /
            ("lowbit-data-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter++) + "-" + tag);
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  std::string str() const { return path_.string(); }
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

inline void put_be32(Bytes& b, uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) b.push_back(static_cast<uint8_t>(v >> s));
}

// pixel(i, y, x) = (i * 31 + y * 7 + x) % 256: distinct enough to catch misplaced pixels.
inline uint8_t test_pixel(uint32_t i, uint32_t y, uint32_t x) { return static_cast<uint8_t>((i * 31 + y * 7 + x) % 256); }

inline Bytes idx_images(uint32_t count, uint32_t rows, uint32_t cols, uint32_t magic = 0x00000803) {
  Bytes b;
  put_be32(b, magic);
  put_be32(b, count);
  put_be32(b, rows);
  put_be32(b, cols);
  for (uint32_t i = 0; i < count; ++i)
    for (uint32_t y = 0; y < rows; ++y)
      for (uint32_t x = 0; x < cols; ++x) b.push_back(test_pixel(i, y, x));
  return b;
}

// Label i is i % 10.
inline Bytes idx_labels(uint32_t count, uint32_t magic = 0x00000801) {
  Bytes b;
  put_be32(b, magic);
  put_be32(b, count);
  for (uint32_t i = 0; i < count; ++i) b.push_back(static_cast<uint8_t>(i % 10));
  return b;
}

// `count` CIFAR-10 records; record i has label (first_label + i) % 10 and every pixel of
// channel c equal to (first_label + i + c * 50) % 256.
inline Bytes cifar_records(int count, int first_label = 0) {
  Bytes b;
  for (int i = 0; i < count; ++i) {
    b.push_back(static_cast<uint8_t>((first_label + i) % 10));
    for (int c = 0; c < 3; ++c) b.insert(b.end(), 1024, static_cast<uint8_t>((first_label + i + c * 50) % 256));
  }
  return b;
}

inline void write_bytes(const std::string& path, const Bytes& b) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
  if (!out) throw Error("test helper: cannot write " + path);
}

inline void write_gz(const std::string& path, const Bytes& b) {
  gzFile f = gzopen(path.c_str(), "wb");
  if (!f) throw Error("test helper: cannot gzopen " + path);
  if (!b.empty() && gzwrite(f, b.data(), static_cast<unsigned>(b.size())) != static_cast<int>(b.size())) {
    gzclose(f);
    throw Error("test helper: gzwrite failed for " + path);
  }
  if (gzclose(f) != Z_OK) throw Error("test helper: gzclose failed for " + path);
}

inline Bytes read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return Bytes(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// Writes the four MNIST-format files (train: n_train images, test: n_test) of rows x cols.
inline void write_mnist_dir(const std::string& dir, uint32_t n_train, uint32_t n_test, uint32_t rows = 28,
                            uint32_t cols = 28, bool gz = false) {
  auto w = [&](const std::string& name, const Bytes& b) {
    if (gz) write_gz(dir + "/" + name + ".gz", b);
    else write_bytes(dir + "/" + name, b);
  };
  w("train-images-idx3-ubyte", idx_images(n_train, rows, cols));
  w("train-labels-idx1-ubyte", idx_labels(n_train));
  w("t10k-images-idx3-ubyte", idx_images(n_test, rows, cols));
  w("t10k-labels-idx1-ubyte", idx_labels(n_test));
}

// Runs f, expects a lowbit::Error whose message contains every one of `needles`.
template <class F>
void expect_error(F&& f, const std::vector<std::string>& needles) {
  try {
    f();
    ADD_FAILURE() << "expected lowbit::Error containing '" << (needles.empty() ? "" : needles[0]) << "'";
  } catch (const Error& e) {
    const std::string msg = e.what();
    for (const auto& n : needles) EXPECT_NE(msg.find(n), std::string::npos) << "message: " << msg << "\nmissing: " << n;
  }
}

}  // namespace lowbit::data::testing
