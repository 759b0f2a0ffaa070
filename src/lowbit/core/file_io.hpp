// Whole-file reads and atomic writes. An atomic write goes to a temporary file in the same
// folder (".NAME.tmp.XXXXXX"), is flushed to disk, then renamed over the target: a reader
// (or a crash) sees either the old file or the new one, never a half-written one; a kill
// mid-write leaves the temporary file, which remove_stale_temp_files() clears.
//
// write_file_atomic writes through a symbolic link (the file it names is replaced, keeping
// its permissions), streams into a device, FIFO or socket (`--predictions /dev/stdout`; no
// rename is possible there), and refuses a folder.
//
// Fault injection, for tests only: with LOWBIT_FAULT_KILL_AT_WRITE=N in the environment the
// process sends itself SIGKILL (no handler, no clean-up: a real kill) at the Nth step of its
// atomic writes, counting from 1 over the whole process. Each write_file_atomic() has two
// steps: after the temporary file is complete and synced (before the rename), and after
// the rename. tests/cli/kill_resume_test.cpp kills `lowbit train` at every step in turn.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace lowbit {

// Throws lowbit::Error naming the path: missing, a folder ("is a folder, not a file"), not a
// regular file, larger than memory.
std::vector<uint8_t> read_file(const std::string& path);
void write_file_atomic(const std::string& path, std::string_view bytes);
inline void write_file_atomic(const std::string& path, const std::vector<uint8_t>& bytes) {
  write_file_atomic(path, std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
}
bool file_exists(const std::string& path);
void make_dirs(const std::string& path);

// Removes the temporary files that atomic writes of `filename` into `dir` left behind when
// the process was killed mid-write (".FILENAME.tmp.XXXXXX"); returns how many. Call only
// while no other process writes that file (FolderLock).
int remove_stale_temp_files(const std::string& dir, const std::string& filename);

// Creates `dir` if needed and proves a file can be created in it; throws naming the folder
// (read-only, no permission, full...). For checking an output folder before long work.
void check_writable_dir(const std::string& dir);

// An exclusive advisory lock (flock) on DIR/.lowbit.lock for the object's lifetime, so two
// processes never write the same output folder. The kernel drops it when the process dies,
// however it dies: no stale locks. Throws when another process holds it, naming `what` it is
// used for (e.g. "lowbit train").
class FolderLock {
 public:
  FolderLock(const std::string& dir, const std::string& what);
  ~FolderLock();
  FolderLock(const FolderLock&) = delete;
  FolderLock& operator=(const FolderLock&) = delete;

 private:
  int fd_ = -1;
};

// CRC-32 (IEEE, as zlib and PNG use); `crc` continues a running checksum.
uint32_t crc32(const void* data, size_t size, uint32_t crc = 0);

}  // namespace lowbit
