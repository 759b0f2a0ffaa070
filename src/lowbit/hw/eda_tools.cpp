#include "lowbit/hw/eda_tools.hpp"

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <deque>
#include <fstream>
#include <sstream>

#include "lowbit/core/error.hpp"
#include "lowbit/core/file_io.hpp"

namespace lowbit::hw {

std::string find_tool(const std::string& program, const std::string& debian_package) {
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path ? path : "/usr/bin:/bin");
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    if (dir.empty()) continue;
    const std::string p = dir + "/" + program;
    struct stat st {};
    if (::stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(p.c_str(), X_OK) == 0) return p;
  }
  fail(program, " not found on PATH: install Debian's package ", debian_package,
       " (scripts/install-deps.sh installs the hardware tools)");
}

std::string shell_quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

int run_tool(const std::string& command, const std::string& cwd, const std::string& log) {
  const std::string full = cat("cd ", shell_quote(cwd), " && ( ", command, " ) >> ", shell_quote(log), " 2>&1");
  const int st = std::system(full.c_str());
  if (st == -1) return 127;
  if (WIFSIGNALED(st)) return 128 + WTERMSIG(st);
  return WEXITSTATUS(st);
}

std::string read_tool_output(const std::string& path) {
  const std::vector<uint8_t> bytes = read_file(path);
  return std::string(bytes.begin(), bytes.end());
}

std::string tail_lines(const std::string& path, int lines) {
  std::ifstream in(path);
  std::deque<std::string> keep;
  std::string line;
  while (std::getline(in, line)) {
    keep.push_back(line);
    if (static_cast<int>(keep.size()) > lines) keep.pop_front();
  }
  std::string s;
  for (const std::string& l : keep) s += "  " + l + "\n";
  return s;
}

void check_tool(int status, const std::string& what, const std::string& log) {
  if (status != 0) fail(what, " failed (exit ", status, "); the last lines of ", log, ":\n", tail_lines(log, 15));
}

}  // namespace lowbit::hw
