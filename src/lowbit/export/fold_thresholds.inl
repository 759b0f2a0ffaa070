// Bisection for channel_thresholds (declared in fold.hpp).
#pragma once
#include <limits>

namespace lowbit::exporter {

template <class LevelFn>
std::vector<int32_t> channel_thresholds(LevelFn&& level, int64_t range, int levels) {
  std::vector<int32_t> t(static_cast<size_t>(levels));
  const int lo_level = level(-range), hi_level = level(range);
  for (int l = 0; l < levels; ++l) {
    int32_t& out = t[static_cast<size_t>(l)];
    if (lo_level > l) {
      out = std::numeric_limits<int32_t>::min();
    } else if (hi_level <= l) {
      out = std::numeric_limits<int32_t>::max();
    } else {  // level(lo) <= l < level(hi): find the first acc with level > l
      int64_t lo = -range, hi = range;
      while (hi - lo > 1) {
        const int64_t mid = lo + (hi - lo) / 2;
        (level(mid) > l ? hi : lo) = mid;
      }
      out = static_cast<int32_t>(hi);
    }
  }
  return t;
}

}  // namespace lowbit::exporter
