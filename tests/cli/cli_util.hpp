// Running the `lowbit` executable (and the example programs) from tests: a command's exit
// code and its output, and a per-test folder with a small MNIST-format dataset.
#pragma once
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "lowbit/data/dataset.hpp"
#include "train/synthetic.hpp"

namespace lowbit::testing {

struct CommandResult {
  int code;         // the exit code; 128 + N when killed by signal N
  std::string out;  // stdout and stderr together
};

// Runs a shell command line, stderr folded into stdout.
inline CommandResult run_command(const std::string& command) {
  FILE* p = ::popen((command + " 2>&1").c_str(), "r");
  if (!p) return {-1, "popen failed"};
  std::string out;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) out.append(buf.data(), n);
  const int status = ::pclose(p);
  const int code = WIFEXITED(status) ? WEXITSTATUS(status) : WIFSIGNALED(status) ? 128 + WTERMSIG(status) : -1;
  return {code, out};
}

// `lowbit ARGS` (the binary this test build made).
inline CommandResult run_lowbit(const std::string& args) { return run_command(std::string(LOWBIT_CLI_PATH) + " " + args); }

inline void put_be32(std::ofstream& f, uint32_t v) {
  const char b[4] = {char(v >> 24), char(v >> 16), char(v >> 8), char(v)};
  f.write(b, 4);
}

// PREFIX-images-idx3-ubyte and PREFIX-labels-idx1-ubyte of `ds` in `dir`.
inline void write_idx(const std::string& dir, const std::string& prefix, const data::Dataset& ds) {
  std::ofstream img(dir + "/" + prefix + "-images-idx3-ubyte", std::ios::binary);
  put_be32(img, 0x803);
  put_be32(img, static_cast<uint32_t>(ds.size()));
  put_be32(img, static_cast<uint32_t>(ds.height));
  put_be32(img, static_cast<uint32_t>(ds.width));
  img.write(reinterpret_cast<const char*>(ds.images.data()), static_cast<std::streamsize>(ds.images.size()));
  std::ofstream lab(dir + "/" + prefix + "-labels-idx1-ubyte", std::ios::binary);
  put_be32(lab, 0x801);
  put_be32(lab, static_cast<uint32_t>(ds.size()));
  for (int32_t l : ds.labels) lab.put(static_cast<char>(l));
}

// TEMP/lowbit_cli_TAG_PID with data/: 600 train and 200 test 28x28 images of 10 classes
// (MNIST format, so the presets apply). Removed before and after.
struct CliWorkspace {
  std::filesystem::path dir;
  explicit CliWorkspace(const std::string& tag = "")
      : dir(std::filesystem::temp_directory_path() / ("lowbit_cli_" + tag + std::to_string(::getpid()))) {
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir / "data");
    write_idx((dir / "data").string(), "train", synthetic_dataset(600, 1, 10, 28));
    write_idx((dir / "data").string(), "t10k", synthetic_dataset(200, 2, 10, 28));
  }
  ~CliWorkspace() { std::filesystem::remove_all(dir); }
  std::string path(const std::string& rel) const { return (dir / rel).string(); }
};

}  // namespace lowbit::testing
