// Flag validators with readable bounds, and the writer of a command's output files (commands.hpp).
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "lowbit/cli/commands.hpp"
#include "lowbit/core/file_kind.hpp"
#include "lowbit/core/file_io.hpp"
#include "lowbit/data/loader.hpp"

namespace lowbit::cli {

void check_output(const std::string& flag, const std::string& path, const std::vector<std::string>& inputs) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (path.empty()) usage_fail(flag, ": empty file name");
  if (fs::is_directory(path, ec)) usage_fail(flag, " ", path, ": is a folder; give a file name");
  for (const std::string& in : inputs) {
    std::vector<fs::path> files = {in};
    if (fs::is_directory(in, ec))  // a data folder: its files and those one level down (CIFAR's batches folder)
      for (auto it = fs::recursive_directory_iterator(in, ec); !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
        if (it.depth() >= 1) it.disable_recursion_pending();
        files.push_back(it->path());
      }
    for (const fs::path& f : files)
      if (fs::equivalent(path, f, ec) && !ec)
        usage_fail(flag, " ", path, " is an input of this command (", f.string(),
                   "): writing it would destroy it; choose another file");
  }
}

ModelFileKind model_file_kind(const std::string& path) {
  std::string head(8, '\0');
  std::ifstream in(path, std::ios::binary);
  in.read(head.data(), 8);
  head.resize(static_cast<size_t>(std::max<std::streamsize>(0, in.gcount())));
  if (head.size() >= 4 && head.compare(0, 4, "\x89LBM") == 0) return ModelFileKind::kLbm;
  const size_t first = head.find_first_not_of(" \t\r\n");
  if (first != std::string::npos && head[first] == '{') return ModelFileKind::kJsonTopology;
  if (looks_like_onnx(reinterpret_cast<const uint8_t*>(head.data()), head.size())) return ModelFileKind::kOnnx;
  return head.size() >= 4 ? ModelFileKind::kOther : ModelFileKind::kUnreadable;
}

void onnx_given_as_model(const std::string& path) {
  fail(path, ": an ONNX model, not a .lbm model file; a QONNX file is read by `lowbit import ", path, " -o model.lbm`");
}

void topology_given_as_file(const std::string& path) {
  usage_fail(path, " looks like a JSON topology: give it as --model ", path);
}

std::string data_folder(const std::string& spec) {
  try {
    return data::resolve_data_dir(spec);
  } catch (const Error&) {
    return "";
  }
}

void write_output(const std::string& path, std::string_view bytes) {
  const std::filesystem::path p(path);
  remove_stale_temp_files(p.has_parent_path() ? p.parent_path().string() : ".", p.filename().string());
  write_file_atomic(path, bytes);
}

CLI::Validator whole_in(int64_t lo, int64_t hi) {
  return CLI::Validator(
      [lo, hi](std::string& s) -> std::string {
        int64_t v = 0;
        const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
        if (ec != std::errc() || end != s.data() + s.size() || v < lo || v > hi)
          return cat("'", s, "' is not a whole number in ", lo, "..", hi);
        return "";
      },
      cat("INT in ", lo, "..", hi), "whole_in");
}

CLI::Validator real_in(double lo, double hi, bool lo_open) {
  return CLI::Validator(
      [lo, hi, lo_open](std::string& s) -> std::string {
        char* end = nullptr;
        const double v = s.empty() ? NAN : std::strtod(s.c_str(), &end);
        const bool ok = !s.empty() && end == s.c_str() + s.size() && std::isfinite(v) && v <= hi &&
                        (lo_open ? v > lo : v >= lo);
        if (!ok) return cat("'", s, "' is not a number in ", lo_open ? "(" : "[", lo, ", ", hi, "]");
        return "";
      },
      cat("NUMBER in ", lo_open ? "(" : "[", lo, ", ", hi, "]"), "real_in");
}

CLI::Validator non_empty() {
  return CLI::Validator([](std::string& s) -> std::string { return s.empty() ? "an empty path" : ""; }, "PATH",
                        "non_empty");
}

}  // namespace lowbit::cli
