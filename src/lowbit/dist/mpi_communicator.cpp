#include "lowbit/dist/mpi_communicator.hpp"

#include <mpi.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <climits>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <thread>

#include "lowbit/dist/launch.hpp"

namespace lowbit::dist {

namespace {

using Clock = std::chrono::steady_clock;

// MPI counts are ints: larger reductions go in pieces of this many elements.
constexpr int64_t kMaxCount = int64_t{1} << 30;

class MpiCommunicator final : public Communicator {
 public:
  explicit MpiCommunicator(double timeout_s)
      : timeout_s_(timeout_s), rank_(launched_rank()), size_(launched_group_size()) {
    int initialized = 0;
    MPI_Initialized(&initialized);
    LOWBIT_CHECK(!initialized, "MPI is already initialised in this process");
    // Watched from the start: MPI_Init waits for every rank of the job.
    watchdog_ = std::thread([this] { watch(); });
    try {
      Watch w(*this, "MPI_Init_thread");
      int provided = 0;
      LOWBIT_CHECK(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided) == MPI_SUCCESS,
                   "MPI_Init_thread failed: cannot start data-parallel training (is this process run by mpirun?)");
      MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
      MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
      MPI_Comm_size(MPI_COMM_WORLD, &size_);
      MPI_Comm local;
      check(MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &local), "MPI_Comm_split_type");
      MPI_Comm_size(local, &local_size_);
      MPI_Comm_free(&local);
    } catch (...) {
      stop_watchdog();
      throw;
    }
  }

  ~MpiCommunicator() override {
    // A rank leaving on an error must not wait in MPI_Finalize for ranks that never come:
    // mpirun ends the job when a rank exits non-zero (cli/main.cpp), so only a clean exit
    // finalises; Open MPI's finalize waits for every rank, so the watchdog watches it too.
    if (std::uncaught_exceptions() == 0) {
      Watch w(*this, "MPI_Finalize");
      MPI_Finalize();
    }
    stop_watchdog();
  }

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  int local_size() const override { return local_size_; }

  void sum(float* v, int64_t n) override { reduce(v, n, MPI_FLOAT, MPI_SUM, "MPI_Allreduce(sum)"); }
  void sum(double* v, int64_t n) override { reduce(v, n, MPI_DOUBLE, MPI_SUM, "MPI_Allreduce(sum)"); }
  void min(float* v, int64_t n) override { reduce(v, n, MPI_FLOAT, MPI_MIN, "MPI_Allreduce(min)"); }
  void max(float* v, int64_t n) override { reduce(v, n, MPI_FLOAT, MPI_MAX, "MPI_Allreduce(max)"); }

  void broadcast(std::vector<uint8_t>& bytes, int root) override {
    LOWBIT_CHECK(root >= 0 && root < size_, "broadcast from rank ", root, " of ", size_);
    Watch w(*this, "MPI_Bcast");
    uint64_t n = bytes.size();
    check(MPI_Bcast(&n, 1, MPI_UINT64_T, root, MPI_COMM_WORLD), "MPI_Bcast");
    bytes.resize(n);
    for (uint64_t at = 0; at < n; at += kMaxCount)
      check(MPI_Bcast(bytes.data() + at, static_cast<int>(std::min<uint64_t>(kMaxCount, n - at)), MPI_BYTE, root,
                      MPI_COMM_WORLD),
            "MPI_Bcast");
  }

  std::vector<std::string> gather(const std::string& text) override {
    Watch w(*this, "MPI_Allgather");
    LOWBIT_CHECK(text.size() < static_cast<size_t>(INT_MAX / std::max(1, size_)), "gather: text too long");
    const int len = static_cast<int>(text.size());
    std::vector<int> lens(static_cast<size_t>(size_)), offsets(static_cast<size_t>(size_));
    check(MPI_Allgather(&len, 1, MPI_INT, lens.data(), 1, MPI_INT, MPI_COMM_WORLD), "MPI_Allgather");
    int total = 0;
    for (int r = 0; r < size_; ++r) offsets[static_cast<size_t>(r)] = total, total += lens[static_cast<size_t>(r)];
    std::string all(static_cast<size_t>(total), '\0');
    check(MPI_Allgatherv(text.data(), len, MPI_CHAR, all.data(), lens.data(), offsets.data(), MPI_CHAR, MPI_COMM_WORLD),
          "MPI_Allgatherv");
    std::vector<std::string> out;
    for (int r = 0; r < size_; ++r)
      out.push_back(all.substr(static_cast<size_t>(offsets[static_cast<size_t>(r)]), static_cast<size_t>(lens[static_cast<size_t>(r)])));
    return out;
  }

 private:
  // Marks a collective as in flight for the watchdog.
  struct Watch {
    Watch(MpiCommunicator& c, const char* op) : c(c) {
      c.op_.store(op);
      c.since_ns_.store(Clock::now().time_since_epoch().count());
    }
    ~Watch() { c.since_ns_.store(0); }
    MpiCommunicator& c;
  };

  void reduce(void* v, int64_t n, MPI_Datatype type, MPI_Op op, const char* what) {
    if (n <= 0) return;
    Watch w(*this, what);
    int bytes = 0;
    MPI_Type_size(type, &bytes);
    auto* p = static_cast<char*>(v);
    for (int64_t at = 0; at < n; at += kMaxCount)
      check(MPI_Allreduce(MPI_IN_PLACE, p + at * bytes, static_cast<int>(std::min(kMaxCount, n - at)), type, op,
                          MPI_COMM_WORLD),
            what);
  }

  void check(int rc, const char* what) const {
    if (rc == MPI_SUCCESS) return;
    char text[MPI_MAX_ERROR_STRING] = {};
    int len = 0;
    MPI_Error_string(rc, text, &len);
    fail("rank ", rank_, ": ", what, " failed: ", std::string(text, static_cast<size_t>(len)),
         " (another rank has probably stopped; the run folder keeps its last good checkpoint)");
  }

  void stop_watchdog() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_ = true;
    }
    wake_.notify_all();
    watchdog_.join();
  }

  // Ends the process when one collective has waited longer than timeout_s_: the other ranks
  // are gone or stuck, and an MPI call has no timeout of its own.
  void watch() {
    std::unique_lock<std::mutex> lock(mutex_);
    auto last_tick = Clock::now();
    while (!wake_.wait_for(lock, std::chrono::milliseconds(200), [this] { return stop_; })) {
      const auto now = Clock::now();
      // A tick far later than 200 ms: this process itself was stopped (SIGSTOP, a frozen
      // VM) and is running again; its peers did not keep it waiting, so its wait restarts.
      const bool was_frozen = now - last_tick > std::chrono::seconds(2);
      last_tick = now;
      int64_t since = since_ns_.load();
      if (since == 0) continue;
      if (was_frozen) {
        since_ns_.compare_exchange_strong(since, now.time_since_epoch().count());
        continue;
      }
      const double waited = std::chrono::duration<double>(now.time_since_epoch() - Clock::duration(since)).count();
      if (waited < timeout_s_) continue;
      char host[256] = "?";
      gethostname(host, sizeof host - 1);
      std::fprintf(stderr,
                   "lowbit: rank %d of %d (host %s, pid %d): %s has waited %.0f s for the other ranks (--mpi-timeout "
                   "%g): a rank has died, hangs or runs something else. Stopping; a run folder keeps its last "
                   "complete checkpoint, from which --resume continues.\n",
                   rank_, size_, host, static_cast<int>(getpid()), op_.load(), waited, timeout_s_);
      std::fflush(stderr);
      std::_Exit(1);  // the work failed (cli/commands.hpp's exit codes), not a bug
    }
  }

  double timeout_s_;
  int rank_ = 0, size_ = 1, local_size_ = 1;
  std::atomic<int64_t> since_ns_{0};
  std::atomic<const char*> op_{""};
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stop_ = false;
  std::thread watchdog_;
};

}  // namespace

std::unique_ptr<Communicator> make_mpi_communicator(double timeout_s) {
  LOWBIT_CHECK(timeout_s >= 1 && timeout_s <= 1e6, "--mpi-timeout must be in [1, 1e6] seconds, got ", timeout_s);
  return std::make_unique<MpiCommunicator>(timeout_s);
}

}  // namespace lowbit::dist
