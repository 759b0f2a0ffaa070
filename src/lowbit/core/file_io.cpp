#include "lowbit/core/file_io.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <sys/file.h>

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <new>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "lowbit/core/error.hpp"

namespace lowbit {

std::vector<uint8_t> read_file(const std::string& path) {
  // What the path is, before opening it: an ifstream opens a folder and reports its size as
  // 2^63 - 1 (a folder given as a checkpoint was std::bad_alloc).
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) fail(path, ": cannot open (", std::strerror(errno), ")");
  if (S_ISDIR(st.st_mode)) fail(path, ": is a folder, not a file");
  if (!S_ISREG(st.st_mode)) fail(path, ": not a regular file");
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(path, ": cannot open (", std::strerror(errno), ")");
  in.seekg(0, std::ios::end);
  std::streamoff n = in.tellg();
  if (n < 0) fail(path, ": cannot determine size");
  in.seekg(0);
  std::vector<uint8_t> bytes;
  try {
    bytes.resize(static_cast<size_t>(n));
  } catch (const std::bad_alloc&) {
    fail(path, ": too large to read into memory (", n, " bytes)");
  }
  if (n && !in.read(reinterpret_cast<char*>(bytes.data()), n)) fail(path, ": read error");
  return bytes;
}

static void write_all(int fd, const char* p, size_t n, const std::string& path) {
  while (n) {
    ssize_t w = ::write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      fail(path, ": write failed (", std::strerror(errno), ")");
    }
    p += w;
    n -= static_cast<size_t>(w);
  }
}

namespace {

// LOWBIT_FAULT_KILL_AT_WRITE=N: SIGKILL at the Nth step (see file_io.hpp); 0 = off.
int64_t fault_kill_step() {
  static const int64_t step = [] {
    const char* v = std::getenv("LOWBIT_FAULT_KILL_AT_WRITE");
    return v ? std::strtoll(v, nullptr, 10) : 0;
  }();
  return step;
}

void write_step() {
  static int64_t steps = 0;  // atomic writes come from one thread at a time
  if (fault_kill_step() > 0 && ++steps == fault_kill_step()) ::raise(SIGKILL);
}

}  // namespace

// A device, FIFO or socket (/dev/stdout, a named pipe): written through as a stream; it
// cannot be replaced by a rename (that would swap the device node for a plain file).
static void write_stream(const std::string& path, std::string_view bytes) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) fail(path, ": cannot open for writing (", std::strerror(errno), ")");
  try {
    write_all(fd, bytes.data(), bytes.size(), path);
  } catch (...) {
    ::close(fd);
    throw;
  }
  ::close(fd);
}

void write_file_atomic(const std::string& path, std::string_view bytes) {
  namespace fs = std::filesystem;
  struct stat st {};
  mode_t mode = 0644;
  if (::stat(path.c_str(), &st) == 0) {  // what the path names, through any symbolic link
    if (S_ISDIR(st.st_mode)) fail(path, ": is a folder, not a file");
    if (!S_ISREG(st.st_mode)) return write_stream(path, bytes);
    mode = st.st_mode & 07777;  // a replaced file keeps its permissions
  }
  // A symbolic link is written through: the file it names is replaced, not the link.
  std::error_code ec;
  fs::path target(path);
  if (fs::is_symlink(fs::symlink_status(target, ec))) {
    const fs::path resolved = fs::weakly_canonical(target, ec);
    if (!ec) target = resolved;
  }
  fs::path dir = target.has_parent_path() ? target.parent_path() : fs::path(".");
  std::string tmpl = (dir / ("." + target.filename().string() + ".tmp.XXXXXX")).string();
  std::vector<char> name(tmpl.begin(), tmpl.end());
  name.push_back('\0');
  int fd = ::mkstemp(name.data());
  if (fd < 0) fail(path, ": cannot create temporary file in ", dir.string(), " (", std::strerror(errno), ")");
  std::string tmp(name.data());
  try {
    write_all(fd, bytes.data(), bytes.size(), tmp);
    if (::fsync(fd) != 0) fail(tmp, ": fsync failed (", std::strerror(errno), ")");
    ::fchmod(fd, mode);
  } catch (...) {
    ::close(fd);
    ::unlink(tmp.c_str());
    throw;
  }
  ::close(fd);
  write_step();  // a kill here leaves the complete temporary file and the old target
  if (::rename(tmp.c_str(), target.c_str()) != 0) {
    int e = errno;
    ::unlink(tmp.c_str());
    fail(path, ": cannot rename temporary file into place (", std::strerror(e), ")");
  }
  write_step();  // a kill here leaves the new target, its folder entry not yet synced
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (dfd >= 0) {
    ::fsync(dfd);  // make the rename itself durable
    ::close(dfd);
  }
}

int remove_stale_temp_files(const std::string& dir, const std::string& filename) {
  namespace fs = std::filesystem;
  const std::string prefix = "." + filename + ".tmp.";
  int removed = 0;
  std::error_code ec;
  for (const fs::directory_entry& e : fs::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    // mkstemp's suffix: exactly six characters after the prefix.
    if (name.size() != prefix.size() + 6 || name.compare(0, prefix.size(), prefix) != 0) continue;
    std::error_code rm;
    if (e.is_regular_file(rm) && fs::remove(e.path(), rm)) ++removed;
  }
  return removed;
}

void check_writable_dir(const std::string& dir) {
  make_dirs(dir);
  std::string tmpl = (std::filesystem::path(dir) / ".lowbit-write-test.XXXXXX").string();
  std::vector<char> name(tmpl.begin(), tmpl.end());
  name.push_back('\0');
  int fd = ::mkstemp(name.data());
  if (fd < 0) fail(dir, ": cannot write into this folder (", std::strerror(errno), ")");
  ::close(fd);
  ::unlink(name.data());
}

FolderLock::FolderLock(const std::string& dir, const std::string& what) {
  const std::string path = (std::filesystem::path(dir) / ".lowbit.lock").string();
  fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0) fail(path, ": cannot create the lock file (", std::strerror(errno), ")");
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    const int e = errno;
    ::close(fd_);
    fd_ = -1;
    if (e == EWOULDBLOCK) fail(dir, ": another process (", what, ") is using this folder; wait for it or choose another");
    fail(path, ": cannot lock (", std::strerror(e), ")");
  }
}

FolderLock::~FolderLock() {
  if (fd_ >= 0) ::close(fd_);  // closing releases the lock; the kernel releases it on any exit
}

bool file_exists(const std::string& path) {
  std::error_code ec;
  return std::filesystem::is_regular_file(path, ec);
}

void make_dirs(const std::string& path) {
  std::error_code ec;
  std::filesystem::create_directories(path, ec);
  if (ec) fail(path, ": cannot create directory (", ec.message(), ")");
}

uint32_t crc32(const void* data, size_t size, uint32_t crc) {
  const auto* p = static_cast<const Bytef*>(data);
  uLong c = crc;
  while (size) {
    uInt chunk = static_cast<uInt>(std::min<size_t>(size, 1u << 30));
    c = ::crc32(c, p, chunk);
    p += chunk;
    size -= chunk;
  }
  return static_cast<uint32_t>(c);
}

}  // namespace lowbit
