// Errors: one exception type whose message names what is at fault (file, layer, flag).
// The CLI catches it at the top and prints one line; the library never aborts its caller.
#pragma once
#include <sstream>
#include <stdexcept>
#include <string>

namespace lowbit {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Concatenate anything streamable into one string: cat("layer ", i, ": bad shape").
template <class... Args>
std::string cat(const Args&... args) {
  std::ostringstream os;
  (os << ... << args);
  return os.str();
}

// Throw lowbit::Error with the concatenated message.
template <class... Args>
[[noreturn]] void fail(const Args&... args) {
  throw Error(cat(args...));
}

// Check a precondition; the message is only built when the check fails.
#define LOWBIT_CHECK(cond, ...)                  \
  do {                                           \
    if (!(cond)) ::lowbit::fail(__VA_ARGS__);    \
  } while (0)

}  // namespace lowbit
