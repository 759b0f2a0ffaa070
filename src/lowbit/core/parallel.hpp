// The one parallel loop of lowbit (OpenMP underneath): every multi-threaded loop outside the
// runtime's team goes through parallel_for, with
//   - a fixed grain table (Grain below): a loop smaller than its grain runs on the calling
//     thread without entering any OpenMP region (a region with a false `if` clause still
//     starts a team: 36% of an export in futex calls, found in the hardening issue);
//   - static contiguous chunks, so results do not depend on timing (floating-point
//     reductions are done per chunk by the caller in a fixed order when they must be
//     thread-count independent);
//   - exception capture: an exception thrown by the body on any thread is rethrown on the
//     calling thread after the loop (the first one thrown; the others are dropped). An
//     exception escaping an OpenMP region otherwise calls std::terminate.
// Nested calls (from inside a parallel region) run serially on the calling thread, so a
// parallel loop never nests under another or under a threaded library.
//
//   parallel_for(n, Grain::kElementwise, [&](int64_t begin, int64_t end) {
//     for (int64_t i = begin; i < end; ++i) y[i] = f(x[i]);
//   });
#pragma once
#include <omp.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <exception>
#include <mutex>

namespace lowbit {

// Work units below which a loop is not worth a thread team (a team start-up and join costs
// a few microseconds: the work of ~10^4-10^5 simple float operations).
namespace Grain {
inline constexpr int64_t kElementwise = int64_t{1} << 16;  // one operation per element: activations, dropout
inline constexpr int64_t kArithmetic = int64_t{1} << 15;   // a few per element: optimizers, quantizers, BatchNorm, pooling
inline constexpr int64_t kCopy = int64_t{1} << 20;         // memory-bound copies: batch assembly
inline constexpr int64_t kItems = 2;                       // whole items (images, weight blocks): any 2+
}  // namespace Grain

namespace detail {

// Captures the first exception thrown on any thread of a region; rethrown by the caller.
class ExceptionSlot {
 public:
  template <class F>
  void run(F&& f) noexcept {
    try {
      f();
    } catch (...) {
      std::lock_guard<std::mutex> lock(mutex_);
      if (!error_) error_ = std::current_exception();
    }
  }
  void rethrow() const {
    if (error_) std::rethrow_exception(error_);
  }

 private:
  std::mutex mutex_;
  std::exception_ptr error_;
};

}  // namespace detail

// Calls fn(begin, end) on contiguous chunks that partition [0, n) (each index once): on the
// calling thread alone when `work` (default n) is below `grain`, inside a parallel region,
// or with one thread; else one chunk per thread of the team. `work` lets a loop over n
// items declare the elements those items hold (e.g. planes x pixels).
template <class F>
void parallel_for(int64_t n, int64_t grain, F&& fn, int64_t work = -1) {
  if (n <= 0) return;
  if (work < 0) work = n;
  if (work < grain || n < 2 || omp_in_parallel() || omp_get_max_threads() == 1) {
    fn(int64_t{0}, n);
    return;
  }
  detail::ExceptionSlot slot;
  const int threads = static_cast<int>(std::min<int64_t>(omp_get_max_threads(), n));
#pragma omp parallel num_threads(threads)
  {
    const int64_t team = omp_get_num_threads(), tid = omp_get_thread_num();
    const int64_t per = (n + team - 1) / team;
    const int64_t b = std::min(n, tid * per), e = std::min(n, b + per);
    if (b < e) slot.run([&] { fn(b, e); });
  }
  slot.rethrow();
}

// Calls fn(thread, team) once on each of `threads` threads (0 < threads; the calling thread
// alone when 1 or inside a parallel region), for work split by the caller (per-thread
// scratch buffers, barrier-free ranges). Exceptions as for parallel_for.
template <class F>
void parallel_team(int threads, F&& fn) {
  if (threads <= 1 || omp_in_parallel()) {
    fn(0, 1);
    return;
  }
  detail::ExceptionSlot slot;
#pragma omp parallel num_threads(threads)
  {
    const int tid = omp_get_thread_num(), team = omp_get_num_threads();
    slot.run([&] { fn(tid, team); });
  }
  slot.rethrow();
}

}  // namespace lowbit
