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

// A configuration that is wrong in itself: a flag's or option's value, options that
// contradict each other or the run they continue. The CLI exits with 2 for these (a usage
// error) and 1 for other Errors (a file, the data or the model).
class UsageError : public Error {
 public:
  using Error::Error;
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

// Throw lowbit::UsageError with the concatenated message.
template <class... Args>
[[noreturn]] void usage_fail(const Args&... args) {
  throw UsageError(cat(args...));
}

// Check a precondition; the message is only built when the check fails.
#define LOWBIT_CHECK(cond, ...)                  \
  do {                                           \
    if (!(cond)) ::lowbit::fail(__VA_ARGS__);    \
  } while (0)

// The same for a configuration's own values (throws lowbit::UsageError).
#define LOWBIT_CHECK_USAGE(cond, ...)               \
  do {                                              \
    if (!(cond)) ::lowbit::usage_fail(__VA_ARGS__); \
  } while (0)

}  // namespace lowbit
