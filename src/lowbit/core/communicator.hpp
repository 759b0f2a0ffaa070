// The collective operations data-parallel training needs (docs/DISTRIBUTED.md), behind one
// interface so that layers and the trainer never see MPI: BatchNorm and int:k activation
// ranges reduce their batch statistics through it (sync BN), the trainer its gradients,
// metrics and start-up checks. The one process of an ordinary run is a group of one
// (single_process()), whose operations leave their arguments unchanged. The MPI group
// (dist/mpi_communicator.hpp, built with LOWBIT_MPI) runs them over MPI_COMM_WORLD.
//
// Every rank must make the same calls in the same order with the same counts (MPI's rule
// for collectives); a rank that does not (a crash, a different flag) leaves the others
// waiting, which the MPI group bounds with a timeout. Reductions are deterministic for a
// given group size: the same inputs on the same ranks give bitwise the same sums (MPI's
// advice to implementors, which Open MPI follows for a fixed algorithm choice per size).
#pragma once
#include <cstdint>
#include <exception>
#include <string>
#include <utility>
#include <vector>

#include "lowbit/core/error.hpp"

namespace lowbit {

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;        // 0 .. size() - 1
  virtual int size() const = 0;        // processes in the group
  virtual int local_size() const = 0;  // processes of the group on this machine (threads share its cores)
  bool distributed() const { return size() > 1; }
  bool root() const { return rank() == 0; }
  // This rank's contiguous share [first, end) of `count` items split across the ranks in rank
  // order, sizes differing by at most one: how a step's batch and the test set are divided.
  std::pair<int64_t, int64_t> share(int64_t count) const {
    return {count * rank() / size(), count * (rank() + 1) / size()};
  }

  // In place: every rank's v[0, n) becomes the element-wise sum (min, max) over the ranks.
  virtual void sum(float* v, int64_t n) = 0;
  virtual void sum(double* v, int64_t n) = 0;
  virtual void min(float* v, int64_t n) = 0;
  virtual void max(float* v, int64_t n) = 0;
  // Every rank's `bytes` becomes rank `root`'s (resized to its length).
  virtual void broadcast(std::vector<uint8_t>& bytes, int root = 0) = 0;
  // Every rank's `text`, in rank order, on every rank.
  virtual std::vector<std::string> gather(const std::string& text) = 0;
};

// The group of one: rank 0 of 1; every operation leaves its arguments as they are.
Communicator& single_process();

// An error that stopped every rank of a group at the same point (collectively, on_root):
// the lowest rank where it happened holds it with print() true and prints it (cli/main.cpp);
// every other rank holds a copy with print() false, stays silent, and exits with the same
// code, so that N ranks give one message and the launcher sees a clean, agreed stop.
class RelayedError : public Error {
 public:
  RelayedError(const std::string& what, bool usage, bool print) : Error(what), usage_(usage), print_(print) {}
  bool usage() const { return usage_; }  // the original was a lowbit::UsageError (exit code 2)
  bool print() const { return print_; }

 private:
  bool usage_, print_;
};

// After every rank's own attempt at a step (`error` = its exception's message, "" for
// success; `usage`: it was a UsageError): returns when every rank succeeded; otherwise
// throws RelayedError on every rank with the lowest failed rank's message.
void agree(Communicator& comm, const std::string& error, bool usage);

// Runs `work` on every rank, then agree()s on the outcome. In a group of one, `work`'s
// exceptions pass unchanged.
template <class F>
void collectively(Communicator& comm, F&& work) {
  if (!comm.distributed()) {
    work();
    return;
  }
  std::string error;
  bool usage = false;
  try {
    work();
  } catch (const UsageError& e) {
    error = e.what(), usage = true;
  } catch (const std::exception& e) {
    error = *e.what() ? e.what() : "(no message)";
  }
  if (usage && error.empty()) error = "(no message)";
  agree(comm, error, usage);
}

// Runs `work` on rank 0 only (the files of a run folder), then agree()s on the outcome, so
// that no rank runs past a step that failed on rank 0.
template <class F>
void on_root(Communicator& comm, F&& work) {
  collectively(comm, [&] {
    if (comm.root()) work();
  });
}

}  // namespace lowbit
