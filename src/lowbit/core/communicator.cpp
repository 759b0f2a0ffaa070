#include "lowbit/core/communicator.hpp"

#include <unistd.h>

namespace lowbit {

namespace {
class SingleProcess final : public Communicator {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  int local_size() const override { return 1; }
  void sum(float*, int64_t) override {}
  void sum(double*, int64_t) override {}
  void min(float*, int64_t) override {}
  void max(float*, int64_t) override {}
  void broadcast(std::vector<uint8_t>&, int) override {}
  std::vector<std::string> gather(const std::string& text) override { return {text}; }
};
}  // namespace

Communicator& single_process() {
  static SingleProcess group;
  return group;
}

void agree(Communicator& comm, const std::string& error, bool usage) {
  if (!comm.distributed()) {
    if (!error.empty()) throw RelayedError(error, usage, true);
    return;
  }
  // Every rank's outcome ("" = fine, else '1' or '2' for the exit code, then the message).
  // A rank other than 0 names itself and its host: on a cluster, which node lacks the data.
  std::string where;
  if (!error.empty() && comm.rank() != 0) {
    char host[256] = "?";
    gethostname(host, sizeof host - 1);
    where = cat("rank ", comm.rank(), " of ", comm.size(), " (host ", host, "): ");
  }
  const std::vector<std::string> all = comm.gather(error.empty() ? std::string() : cat(usage ? "2" : "1", where, error));
  for (size_t r = 0; r < all.size(); ++r)
    if (!all[r].empty())
      throw RelayedError(all[r].substr(1), all[r][0] == '2', static_cast<int>(r) == comm.rank());
}

}  // namespace lowbit
