// Flag validators with readable bounds, and the writer of a command's output files (commands.hpp).
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <filesystem>

#include "lowbit/cli/commands.hpp"
#include "lowbit/core/file_io.hpp"

namespace lowbit::cli {

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

}  // namespace lowbit::cli
