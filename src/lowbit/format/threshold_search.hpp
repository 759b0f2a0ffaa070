// The threshold search shared by export (folding a trained BatchNorm + quantizer) and the
// QONNX importer (folding a graph's BatchNormalization + quantizer): the integer thresholds
// of a non-decreasing level function on the accumulator, found by evaluating that very
// function (the float arithmetic of whoever defines it), so the thresholds reproduce it
// exactly on every integer accumulator.
#pragma once
#include <algorithm>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "lowbit/core/error.hpp"

namespace lowbit::format {


namespace detail {

// Every jump of a non-decreasing level function inside (lo, hi], where level(lo) = a and
// level(hi) = b: t[l] = the first acc with level > l, for l in [a, b). Halving the interval
// and recursing into each half with its own end levels finds all L jumps of a range R in
// about L log2(R / L) evaluations, where bisecting each level apart takes L log2(R).
template <class LevelFn>
void find_jumps(LevelFn& level, int64_t lo, int64_t hi, int a, int b, std::vector<int32_t>& t) {
  if (a == b) return;
  if (hi - lo == 1) {
    for (int l = a; l < b; ++l) t[static_cast<size_t>(l)] = static_cast<int32_t>(hi);
    return;
  }
  const int64_t mid = lo + (hi - lo) / 2;
  const int m = level(mid);
  find_jumps(level, lo, mid, a, m, t);
  find_jumps(level, mid, hi, m, b, t);
}

}  // namespace detail

// Thresholds of one output channel: t[l] = the smallest acc in [-range, range] whose level
// is > l (l = 0..levels-1), INT32_MIN when every acc reaches it, INT32_MAX when none does,
// for a non-decreasing `level` function from accumulator to level index 0..levels.
template <class LevelFn>
std::vector<int32_t> channel_thresholds(LevelFn&& level, int64_t range, int levels) {
  std::vector<int32_t> t(static_cast<size_t>(levels));
  const int lo_level = level(-range), hi_level = level(range);
  for (int l = 0; l < levels; ++l) {
    if (l < lo_level) t[static_cast<size_t>(l)] = std::numeric_limits<int32_t>::min();  // every acc reaches it
    if (l >= hi_level) t[static_cast<size_t>(l)] = std::numeric_limits<int32_t>::max();  // none does
  }
  detail::find_jumps(level, -range, range, lo_level, hi_level, t);
  return t;
}

// Checks that sorted thresholds `t` reproduce the level function: #{l : acc >= t_l} (the
// runtime's count, by bisection) == level(acc) on every accumulator of [-range, range] when
// the range is small, else on a sweep of about 1024 points and both sides of each threshold.
// Throws lowbit::Error "WHERE, channel C: thresholds give level L at accumulator A but WHO
// gives L' (its map is not monotone)" when they differ.
template <class LevelFn>
void check_thresholds(LevelFn&& level, const std::vector<int32_t>& t, int64_t range, const std::string& where,
                      int64_t channel, const char* who) {
  auto check = [&](int64_t acc) {
    if (acc < -range || acc > range) return;
    const int count = static_cast<int>(std::upper_bound(t.begin(), t.end(), acc) - t.begin());
    LOWBIT_CHECK(count == level(acc), where, ", channel ", channel, ": thresholds give level ", count,
                 " at accumulator ", acc, " but ", who, " gives ", level(acc), " (its map is not monotone)");
  };
  const int64_t step = std::max<int64_t>(1, range / 512);
  for (int64_t acc = -range; acc <= range; acc += step) check(acc);
  for (int32_t v : t) check(int64_t{v} - 1), check(v);
}

}  // namespace lowbit::format
