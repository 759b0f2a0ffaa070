// The open EDA tools the hardware flows run (Verilator, Icarus Verilog, yosys, nextpnr,
// icepack): found on PATH, run with their output kept in a log file, and named with their
// Debian package when missing.
#pragma once
#include <string>

namespace lowbit::hw {

// The tool's path on PATH. Throws lowbit::Error "verilator not found on PATH: install
// Debian's package verilator (scripts/install-deps.sh installs it)" when absent.
std::string find_tool(const std::string& program, const std::string& debian_package);

// Runs `command` through /bin/sh in folder `cwd`, stdout and stderr appended to `log`.
// Returns the exit status (128 + signal when killed by one).
int run_tool(const std::string& command, const std::string& cwd, const std::string& log);

// Throws lowbit::Error: "<what> failed (exit N); the last lines of LOG:\n..." when status != 0.
void check_tool(int status, const std::string& what, const std::string& log);

// A file a tool wrote (a statistics or report JSON), as text. Throws lowbit::Error naming the
// path when it cannot be read (core/file_io.hpp read_file).
std::string read_tool_output(const std::string& path);

// A file's last `lines` lines.
std::string tail_lines(const std::string& path, int lines);

// A shell word: `s` in single quotes.
std::string shell_quote(const std::string& s);

}  // namespace lowbit::hw
