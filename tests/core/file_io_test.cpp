#include "lowbit/core/file_io.hpp"

#include <gtest/gtest.h>

#include <filesystem>

#include "lowbit/core/bytes.hpp"
#include "lowbit/core/error.hpp"

namespace lowbit {
namespace {

namespace fs = std::filesystem;

struct TempDir {
  fs::path path;
  TempDir() {
    path = fs::temp_directory_path() / ("lowbit_fileio_" + std::to_string(::getpid()) + "_" +
                                        std::to_string(reinterpret_cast<uintptr_t>(this)));
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
};

TEST(FileIo, AtomicWriteReplacesAndLeavesNoTemporaries) {
  TempDir d;
  std::string p = (d.path / "a.bin").string();
  write_file_atomic(p, std::string("first"));
  write_file_atomic(p, std::string("second!"));
  auto bytes = read_file(p);
  EXPECT_EQ(std::string(bytes.begin(), bytes.end()), "second!");
  int files = 0;
  for (auto& e : fs::directory_iterator(d.path)) files += e.is_regular_file();
  EXPECT_EQ(files, 1);
}

TEST(FileIo, ErrorsNameThePath) {
  try {
    read_file("/nonexistent/lowbit/x.bin");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/lowbit/x.bin"), std::string::npos);
  }
  EXPECT_THROW(write_file_atomic("/nonexistent/lowbit/x.bin", std::string("x")), Error);
}

TEST(FileIo, Crc32KnownValue) {
  // The standard check value of CRC-32/IEEE.
  EXPECT_EQ(crc32("123456789", 9), 0xCBF43926u);
  EXPECT_EQ(crc32("56789", 5, crc32("1234", 4)), 0xCBF43926u);
}

TEST(Bytes, ReaderRejectsOverreadAndLyingLengths) {
  ByteWriter w;
  w.put<uint32_t>(7);
  w.put<uint32_t>(1000);  // a string length larger than what follows
  ByteReader r(w.bytes().data(), w.size(), "mem");
  EXPECT_EQ(r.get<uint32_t>("x"), 7u);
  EXPECT_THROW(r.get_string("name"), Error);
  ByteReader r2(w.bytes().data(), 3, "mem");
  EXPECT_THROW(r2.get<uint32_t>("y"), Error);
}

}  // namespace
}  // namespace lowbit
