// The threshold search shared by export (folding a trained BatchNorm + quantizer) and the
// QONNX importer (folding a graph's BatchNormalization + quantizer): the integer thresholds
// of a non-decreasing level function on the accumulator, found by evaluating that very
// function (the float arithmetic of whoever defines it), so the thresholds reproduce it
// exactly on every integer accumulator.
#pragma once
#include <cstdint>
#include <limits>
#include <vector>

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

}  // namespace lowbit::format
