// format/semantics.hpp, the exact maths every consumer shares: code formats (single codes and
// the window sums of sum pooling) against brute force over every combination of small
// windows, and the threshold rule.
#include "lowbit/format/semantics.hpp"

#include <gtest/gtest.h>

#include <bit>
#include <climits>
#include <set>
#include <vector>

#include "lowbit/format/limits.hpp"

namespace lowbit {
namespace {

using format::CodeFormat;

// Every sum of n values of one code, as (number of +1s or sum of codes) -> value: the levels
// a format with count n must cover, by enumeration.
std::set<std::pair<int, int>> brute_force_sums(const CodeFormat& one, int n) {
  const int codes = one.levels() + 1;  // levels 0..levels()
  std::set<std::pair<int, int>> out;
  std::vector<int> pick(static_cast<size_t>(n), 0);
  while (true) {
    int level_sum = 0, value_sum = 0;
    for (int l : pick) level_sum += l, value_sum += one.value(l);
    out.insert({level_sum, value_sum});
    size_t i = 0;
    while (i < pick.size() && ++pick[i] == codes) pick[i++] = 0;
    if (i == pick.size()) break;
  }
  return out;
}

TEST(Semantics, SingleCodes) {
  const CodeFormat pm1 = CodeFormat::plus_minus_one();
  EXPECT_EQ(pm1.levels(), 1);
  EXPECT_EQ(pm1.planes(), 1);
  EXPECT_EQ(pm1.value(0), -1);
  EXPECT_EQ(pm1.value(1), 1);
  EXPECT_EQ(pm1.max_abs_value(), 1);
  EXPECT_EQ(pm1.count, 1);
  EXPECT_EQ(pm1.str(), "+-1");
  for (int b = 1; b <= format::kMaxCodeBits; ++b) {
    const CodeFormat u = CodeFormat::unsigned_bits(b);
    EXPECT_EQ(u.levels(), (1 << b) - 1);
    EXPECT_EQ(u.planes(), b);
    EXPECT_EQ(u.value(0), 0);
    EXPECT_EQ(u.value(u.levels()), u.levels());
    EXPECT_EQ(u.max_abs_value(), (1 << b) - 1);
    EXPECT_EQ(u.str(), std::to_string(b) + "-bit");
  }
  EXPECT_EQ(format::unsigned_codes_for(1), CodeFormat::unsigned_bits(1));
  EXPECT_EQ(format::unsigned_codes_for(3), CodeFormat::unsigned_bits(2));
  EXPECT_EQ(format::unsigned_codes_for(4), CodeFormat::unsigned_bits(3));
  EXPECT_EQ(format::unsigned_codes_for(255), CodeFormat::unsigned_bits(8));
}

// level() inverts value() on every level of every format the IR carries (shortcut maps
// are read back as levels from their values).
TEST(Semantics, LevelInvertsValue) {
  std::vector<CodeFormat> formats = {CodeFormat::plus_minus_one(), CodeFormat::plus_minus_one().summed(4)};
  for (int b = 1; b <= format::kMaxCodeBits; ++b)
    for (int z : {0, 1, (1 << b) - 1}) {
      formats.push_back(CodeFormat::unsigned_bits(b, z));
      formats.push_back(CodeFormat::unsigned_bits(b, z).summed(3));
    }
  for (const CodeFormat& f : formats)
    for (int l = 0; l <= f.levels(); ++l) EXPECT_EQ(f.level(f.value(l)), l) << f.str() << " level " << l;
}

// The sums of n codes: the levels are exactly the sums of the codes' levels (0..levels()),
// each level's value is the sum of the values, and planes() is the fewest bits holding the
// largest level.
TEST(Semantics, WindowSumsMatchEveryCombination) {
  for (const CodeFormat one : {CodeFormat::plus_minus_one(), CodeFormat::unsigned_bits(1), CodeFormat::unsigned_bits(2),
                               CodeFormat::unsigned_bits(3)})
    for (int n : {1, 2, 3, 4, 5}) {
      SCOPED_TRACE(one.str() + " x" + std::to_string(n));
      const CodeFormat sum = one.summed(n);
      EXPECT_EQ(sum.count, n);
      EXPECT_EQ(sum.pm1, one.pm1);
      const auto sums = brute_force_sums(one, n);
      std::set<int> levels;
      int max_abs = 0;
      for (const auto& [level, value] : sums) {
        EXPECT_EQ(sum.value(level), value) << "level " << level;
        levels.insert(level);
        max_abs = std::max(max_abs, std::abs(value));
      }
      EXPECT_EQ(static_cast<int>(levels.size()), sum.levels() + 1);  // every level 0..levels() occurs
      EXPECT_EQ(*levels.begin(), 0);
      EXPECT_EQ(*levels.rbegin(), sum.levels());
      EXPECT_EQ(sum.max_abs_value(), max_abs);
      EXPECT_LT(sum.levels(), 1 << sum.planes());
      EXPECT_GE(sum.levels(), 1 << (sum.planes() - 1));
    }
}

TEST(Semantics, WindowSumExtremes) {
  // 2x2 sums of +-1 codes: levels 0..4 (values -4, -2, 0, 2, 4) in 3 planes.
  const CodeFormat s4 = CodeFormat::plus_minus_one().summed(4);
  EXPECT_EQ(s4.levels(), 4);
  EXPECT_EQ(s4.planes(), 3);
  EXPECT_EQ(s4.value(0), -4);
  EXPECT_EQ(s4.value(2), 0);
  EXPECT_EQ(s4.value(4), 4);
  EXPECT_EQ(s4.str(), "sums of 4 +-1");
  // The largest sums the format takes: 255 +-1 codes, 255 1-bit codes, 3 x 85 ... in 8 planes.
  EXPECT_EQ(CodeFormat::plus_minus_one().summed(format::kMaxSumCount).planes(), format::kMaxCodeBits);
  EXPECT_EQ(CodeFormat::plus_minus_one().summed(format::kMaxSumCount).value(0), -255);
  EXPECT_EQ(CodeFormat::unsigned_bits(2).summed(85).planes(), 8);
  EXPECT_EQ(CodeFormat::unsigned_bits(2).summed(86).planes(), 9);
  EXPECT_EQ(CodeFormat::unsigned_bits(8).summed(9).planes(), 12);  // 3x3 of 8-bit codes: too wide for the IR
  EXPECT_EQ(CodeFormat::unsigned_bits(8).summed(9).levels(), 9 * 255);
  // 2x2 sums of 2-bit codes: 0..12, 4 planes; sums of sums multiply the counts.
  const CodeFormat u = CodeFormat::unsigned_bits(2).summed(4);
  EXPECT_EQ(u.levels(), 12);
  EXPECT_EQ(u.planes(), 4);
  EXPECT_EQ(u.value(12), 12);
  EXPECT_EQ(u.str(), "sums of 4 2-bit");
  EXPECT_EQ(u.summed(9), CodeFormat::unsigned_bits(2).summed(36));
}

TEST(Semantics, EqualityComparesWhatTheCodesMean) {
  const CodeFormat pm1 = CodeFormat::plus_minus_one();
  EXPECT_EQ(pm1, (CodeFormat{true, 5, 1}));  // bits mean nothing for +-1 codes
  EXPECT_NE(pm1, CodeFormat::unsigned_bits(1));  // same level set, other values
  EXPECT_NE(pm1, pm1.summed(4));
  EXPECT_EQ(pm1.summed(4), pm1.summed(2).summed(2));
  EXPECT_NE(CodeFormat::unsigned_bits(2).summed(4), CodeFormat::unsigned_bits(3).summed(4));
  EXPECT_NE(CodeFormat::unsigned_bits(2).summed(4), CodeFormat::unsigned_bits(2).summed(9));
  EXPECT_EQ(CodeFormat::unsigned_bits(2).summed(1), CodeFormat::unsigned_bits(2));
}

TEST(Semantics, ThresholdLevelCountsReachedThresholds) {
  const int32_t t[3] = {INT32_MIN, 0, 5};
  EXPECT_EQ(format::threshold_level(t, 3, -100), 1);  // INT32_MIN: always reached
  EXPECT_EQ(format::threshold_level(t, 3, 0), 2);     // acc >= t
  EXPECT_EQ(format::threshold_level(t, 3, 4), 2);
  EXPECT_EQ(format::threshold_level(t, 3, 5), 3);
  const int32_t never[1] = {INT32_MAX};
  EXPECT_EQ(format::threshold_level(never, 1, int64_t{INT32_MAX} - 1), 0);
}

}  // namespace
}  // namespace lowbit
