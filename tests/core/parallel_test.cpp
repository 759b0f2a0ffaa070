// core/parallel.hpp: the one parallel loop. Every index once, small loops without a team,
// exceptions from any thread rethrown on the caller (they used to call std::terminate).
#include "lowbit/core/parallel.hpp"

#include <gtest/gtest.h>
#include <omp.h>

#include <atomic>
#include <stdexcept>
#include <vector>

#include "lowbit/core/error.hpp"
#include "lowbit/core/threading.hpp"

namespace lowbit {
namespace {

// Runs the test body with 2 threads (the machines have 2 cores) and restores the count.
struct TwoThreads {
  int before = num_threads();
  TwoThreads() { set_num_threads(2); }
  ~TwoThreads() { set_num_threads(before); }
};

TEST(ParallelFor, VisitsEveryIndexOnce) {
  TwoThreads two;
  for (int64_t n : {int64_t{0}, int64_t{1}, int64_t{2}, int64_t{3}, int64_t{1000}, Grain::kElementwise + 7}) {
    std::vector<std::atomic<int>> seen(static_cast<size_t>(n));
    parallel_for(n, Grain::kItems, [&](int64_t b, int64_t e) {
      ASSERT_LE(0, b);
      ASSERT_LE(e, n);
      for (int64_t i = b; i < e; ++i) seen[static_cast<size_t>(i)]++;
    });
    for (int64_t i = 0; i < n; ++i) ASSERT_EQ(seen[static_cast<size_t>(i)].load(), 1) << "n " << n << " i " << i;
  }
}

TEST(ParallelFor, SmallLoopsRunOnTheCallerWithoutATeam) {
  TwoThreads two;
  bool in_region = true;
  int calls = 0;
  parallel_for(100, Grain::kElementwise, [&](int64_t b, int64_t e) {
    in_region = omp_in_parallel();
    ++calls;
    EXPECT_EQ(b, 0);
    EXPECT_EQ(e, 100);
  });
  EXPECT_FALSE(in_region);
  EXPECT_EQ(calls, 1);
  // `work` decides, not the item count: 4 items of 2^20 elements each are worth a team.
  std::atomic<int> chunks{0};
  parallel_for(4, Grain::kElementwise, [&](int64_t, int64_t) { chunks++; }, int64_t{4} << 20);
  EXPECT_EQ(chunks.load(), omp_get_max_threads() > 1 ? 2 : 1);
}

TEST(ParallelFor, AnExceptionOnAWorkerReachesTheCaller) {
  TwoThreads two;
  const int64_t n = 1000;
  // Thrown in the last chunk (a worker thread when there are two), and in every chunk.
  EXPECT_THROW(parallel_for(n, Grain::kItems, [&](int64_t, int64_t e) {
                 if (e == n) fail("chunk ending at ", e, " failed");
               }),
               Error);
  try {
    parallel_for(n, Grain::kItems, [&](int64_t b, int64_t) { throw std::runtime_error("chunk " + std::to_string(b)); });
    FAIL() << "no exception";
  } catch (const std::runtime_error& e) {
    EXPECT_EQ(std::string(e.what()).rfind("chunk ", 0), 0u);
  }
  EXPECT_THROW(parallel_team(2, [](int tid, int) {
                 if (tid == 1) throw std::logic_error("thread 1");
               }),
               std::logic_error);
  // The pool still works afterwards.
  std::atomic<int64_t> sum{0};
  parallel_for(n, Grain::kItems, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) sum += i;
  });
  EXPECT_EQ(sum.load(), n * (n - 1) / 2);
}

TEST(ParallelFor, NestedLoopsRunSerially) {
  TwoThreads two;
  std::atomic<int> inner_chunks{0};
  parallel_team(2, [&](int, int) {
    parallel_for(1000, Grain::kItems, [&](int64_t b, int64_t e) {
      EXPECT_EQ(b, 0);
      EXPECT_EQ(e, 1000);
      inner_chunks++;
    });
  });
  EXPECT_EQ(inner_chunks.load(), omp_get_max_threads() > 1 ? 2 : 1);
}

}  // namespace
}  // namespace lowbit
