#include "lowbit/core/file_io.hpp"

#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <thread>

#include "lowbit/core/bytes.hpp"
#include "lowbit/core/error.hpp"
#include "test_util.hpp"

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

namespace lowbit {
namespace {

// A folder given where a file is expected was std::bad_alloc (an ifstream opens a folder
// and reports a size of 2^63 - 1).
TEST(FileIo, FolderIsNotAFile) {
  TempDir d;
  const std::string msg = testing::error_of([&] { read_file(d.path.string()); });
  EXPECT_NE(msg.find("is a folder, not a file"), std::string::npos) << msg;
  EXPECT_NE(msg.find(d.path.string()), std::string::npos) << msg;
}

TEST(FileIo, StaleTemporaryFilesOfOneNameAreRemoved) {
  TempDir d;
  const std::string dir = d.path.string();
  for (const char* name : {".last.ckpt.tmp.a1B2c3", ".last.ckpt.tmp.zzzzzz", ".best.ckpt.tmp.a1B2c3",
                           ".last.ckpt.tmp.toolong1", "last.ckpt", ".last.ckpt.tmp."})
    std::ofstream(d.path / name) << "x";
  EXPECT_EQ(remove_stale_temp_files(dir, "last.ckpt"), 2);
  EXPECT_FALSE(fs::exists(d.path / ".last.ckpt.tmp.a1B2c3"));
  EXPECT_TRUE(fs::exists(d.path / ".best.ckpt.tmp.a1B2c3"));    // another file's
  EXPECT_TRUE(fs::exists(d.path / ".last.ckpt.tmp.toolong1"));  // not mkstemp's shape
  EXPECT_TRUE(fs::exists(d.path / "last.ckpt"));
}

TEST(FileIo, WritableFolderCheck) {
  TempDir d;
  EXPECT_NO_THROW(check_writable_dir((d.path / "new" / "sub").string()));  // created
  EXPECT_TRUE(fs::is_directory(d.path / "new" / "sub"));
  std::ofstream(d.path / "file") << "x";
  const std::string msg = testing::error_of([&] { check_writable_dir((d.path / "file" / "sub").string()); });
  EXPECT_NE(msg.find("file/sub"), std::string::npos) << msg;
  // Permissions (as a non-root user; root writes anywhere).
  if (::geteuid() != 0) {
    fs::create_directories(d.path / "ro");
    fs::permissions(d.path / "ro", fs::perms::owner_read | fs::perms::owner_exec);
    EXPECT_NE(testing::error_of([&] { check_writable_dir((d.path / "ro").string()); }).find("cannot write"),
              std::string::npos);
    fs::permissions(d.path / "ro", fs::perms::owner_all);
  }
}

// Two users of one folder: the second is refused while the first holds it, and gets it
// once the first lets go (the kernel also drops it when a process dies).
TEST(FileIo, FolderLockIsExclusive) {
  TempDir d;
  const std::string dir = d.path.string();
  {
    FolderLock first(dir, "first");
    const std::string msg = testing::error_of([&] { FolderLock second(dir, "lowbit train"); });
    EXPECT_NE(msg.find("another process (lowbit train) is using this folder"), std::string::npos) << msg;
  }
  EXPECT_NO_THROW(FolderLock again(dir, "again"));
}

}  // namespace
}  // namespace lowbit

namespace lowbit {
namespace {

// An output path that is a symbolic link is written through (the link stays a link and its
// target gets the bytes), a FIFO is streamed into (not replaced by a plain file), and a
// replaced file keeps its permissions. `--predictions link.txt` once turned the link into a
// plain file and left its target as it was; `--predictions /dev/stdout` replaced the device.
TEST(FileIo, AtomicWriteGoesThroughLinksAndIntoStreams) {
  TempDir d;
  const fs::path target = d.path / "target.txt", link = d.path / "link.txt";
  write_file_atomic(target.string(), std::string("old"));
  fs::permissions(target, fs::perms::owner_read | fs::perms::owner_write);
  fs::create_symlink(target.filename(), link);  // relative, as users make them
  write_file_atomic(link.string(), std::string("new"));
  EXPECT_TRUE(fs::is_symlink(link));
  const auto bytes = read_file(target.string());
  EXPECT_EQ(std::string(bytes.begin(), bytes.end()), "new");
  EXPECT_EQ(fs::status(target).permissions() & fs::perms::all, fs::perms::owner_read | fs::perms::owner_write);

  const fs::path fifo = d.path / "fifo";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  std::string received;
  std::thread reader([&] {
    std::ifstream in(fifo, std::ios::binary);
    received.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  });
  write_file_atomic(fifo.string(), std::string("1\n2\n"));
  reader.join();
  EXPECT_EQ(received, "1\n2\n");
  EXPECT_TRUE(fs::is_fifo(fifo));
  EXPECT_NE(testing::error_of([&] { write_file_atomic(d.path.string(), std::string("x")); }).find("is a folder"),
            std::string::npos);
}

}  // namespace
}  // namespace lowbit
