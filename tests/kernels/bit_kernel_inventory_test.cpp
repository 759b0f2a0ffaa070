// The shared bit-kernel tester: every entry of the inventory (kernel_inventory.hpp) on
// every Highway target compiled into the bit kernels, over the standard size sweep of its
// shape, against its `_ref` twin bit for bit (outputs, untouched columns, guards). One
// test per (kernel, target), so a target this CPU lacks shows as a skipped test (and in
// one printed line), not as a missing one. And the list itself: a function declared in a
// bit-kernel header that is neither inventoried nor named below as not a kernel fails.
// The oracle tests (an independent computation on unpacked values) stay in
// bit_gemm_test.cpp.
#include "lowbit/kernels/kernel_inventory.hpp"

#include <gtest/gtest.h>

#include <hwy/targets.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <ostream>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "lowbit/kernels/bit_gemm.hpp"
#include "lowbit/kernels/bit_isa.hpp"

namespace lowbit::kernels {
namespace {

// ---- The standard size sweep ---------------------------------------------------------

// The sorted positive values of `base` and t - 1, t, t + 1 for every tile t > 0.
std::vector<int64_t> around(std::vector<int64_t> base, std::initializer_list<int64_t> tiles) {
  for (int64_t t : tiles)
    if (t > 0) base.insert(base.end(), {t - 1, t, t + 1});
  std::erase_if(base, [](int64_t v) { return v <= 0; });
  std::sort(base.begin(), base.end());
  base.erase(std::unique(base.begin(), base.end()), base.end());
  return base;
}

struct Range {
  int64_t j0, j1;
};

// Partial column ranges of n columns the entry takes: odd ends, a block straddled, the
// halves, the words, an empty one (nothing may be written).
std::vector<Range> ranges(const KernelEntry& e, int64_t n) {
  std::vector<Range> out;
  const int64_t t = e.tile_n;
  for (Range r : {Range{1, n - 1}, Range{n / 2, n}, Range{0, n / 2}, Range{t - 1, t + 1}, Range{32, 64}, Range{0, 64},
                  Range{64, n}, Range{64, 128}, Range{n / 2, n / 2}, Range{64, 64}}) {
    if (r.j0 < 0 || r.j0 > r.j1 || r.j1 > n || (r.j0 == 0 && r.j1 == n)) continue;
    const bool word_start = r.j0 % 64 == 0, word_end = r.j1 % 64 == 0 || r.j1 == n;
    if (e.columns == ColumnRanges::kNone) continue;
    if (e.columns == ColumnRanges::kWordStart && !word_start) continue;
    if (e.columns == ColumnRanges::kWords && !(word_start && word_end)) continue;
    if (std::none_of(out.begin(), out.end(), [&](Range o) { return o.j0 == r.j0 && o.j1 == r.j1; })) out.push_back(r);
  }
  return out;
}

// Every case of entry e's sweep, in a fixed order with fixed seeds:
//   kGemm:   K in {1, 63, 64, 65, 127, 128, 129, tile_k +-1, 2 tile_k + 1}, M in {1, 2, 3,
//            tile_m +-1, 2 tile_m + 1}, N in {1, 3, 63, 64, 65, 130, 32 +-1, tile_n +-1}, all columns,
//            leading dimensions alternately minimal and 3 larger (for K > 129 one M per
//            N, rotating through the set); then per (K <= 129, N) each partial column
//            range the kernel takes (M rotating);
//   kRows:   M x N as kGemm, no depth;
//   kWords:  words in {1, 2, 3, 5, 8, 13}, plane stride minimal and 3 larger;
//   kWindow: windows 1..3 x 1..3 (square: k x k), strides 1, 2, 3, every padding < the
//            window when taken; maps of one output pixel, 6x7 and 9x5; channels in
//            {1, 3, 63, 64, 65, 130, tile_n +-1}; 1 or 2 images;
// each for every variant (planes, levels, weight bound).
std::vector<KernelCase> sweep(const KernelEntry& e) {
  std::vector<KernelCase> out;
  uint64_t counter = 0;
  auto add = [&](KernelCase c) {
    c.seed = 0x9e3779b97f4a7c15ull * ++counter + 0x632be59bd9b4e019ull;
    out.push_back(c);
  };
  const std::vector<int64_t> ks = around({1, 63, 64, 65, 127, 128, 129, 2 * e.tile_k + 1}, {e.tile_k});
  const std::vector<int64_t> ms = around({1, 2, 3, 2 * e.tile_m + 1}, {e.tile_m});
  const std::vector<int64_t> ns = around({1, 3, 63, 64, 65, 130}, {BinaryMatrix::kBlock, e.tile_n});
  // Where one M stands for the set: successive pairs of cases (one of each leading
  // dimension, which alternates) take the next M.
  auto rotating_m = [&] { return ms[(counter / 2) % ms.size()]; };
  for (int v : e.variants) {
    KernelCase c;
    c.variant = v;
    switch (e.shape) {
      case KernelShape::kGemm:
        for (int64_t k : ks) {
          c.k = k;
          // Deep rows (the depth tile of the bit GEMMs is 31 words) cost the scalar twin
          // most and vary along K only: one M per N there, rotating through the set, and
          // no partial column ranges (those are the same at every depth).
          const bool deep = k > 129;
          for (int64_t n : ns)
            for (size_t mi = 0; mi < (deep ? 1 : ms.size()); ++mi) {
              c.m = deep ? rotating_m() : ms[mi], c.n = n, c.j0 = 0, c.j1 = -1, c.pad = (counter % 2) * 3;
              add(c);
            }
          for (int64_t n : ns)
            for (Range r : deep ? std::vector<Range>{} : ranges(e, n)) {
              c.m = rotating_m(), c.n = n, c.j0 = r.j0, c.j1 = r.j1, c.pad = (counter % 2) * 3;
              add(c);
            }
        }
        break;
      case KernelShape::kRows:
        for (int64_t m : ms)
          for (int64_t n : ns) {
            c.m = m, c.n = n, c.pad = (counter % 2) * 3;
            add(c);
          }
        break;
      case KernelShape::kWords:
        for (int64_t words : {1, 2, 3, 5, 8, 13})
          for (int64_t pad : {0, 3}) {
            c.n = words, c.pad = pad;
            add(c);
          }
        break;
      case KernelShape::kWindow:
        for (int64_t kh = 1; kh <= 3; ++kh)
          for (int64_t kw = e.square ? kh : 1; kw <= (e.square ? kh : 3); ++kw)
            for (int64_t s = 1; s <= 3; ++s)
              for (int64_t ph = 0; ph < (e.padding ? kh : 1); ++ph)
                for (int64_t pw = 0; pw < (e.padding ? kw : 1); ++pw) {
                  struct Map { int64_t h, w; };
                  const Map smallest{std::max<int64_t>(1, kh - 2 * ph), std::max<int64_t>(1, kw - 2 * pw)};
                  for (Map map : {smallest, Map{6, 7}, Map{9, 5}})
                    for (int64_t ch : around({1, 3, 63, 64, 65, 130}, {e.tile_n})) {
                      c.m = 1 + counter % 2, c.n = ch, c.h = map.h, c.w = map.w;
                      c.kh = kh, c.kw = kw, c.stride = s, c.ph = ph, c.pw = pw;
                      add(c);
                    }
                }
        break;
    }
  }
  return out;
}

// ---- Targets ---------------------------------------------------------------------------

std::string names(const std::vector<int64_t>& targets) {
  std::string s;
  for (int64_t t : targets) s += (s.empty() ? "" : ", ") + std::string(hwy::TargetName(t));
  return s.empty() ? "none" : s;
}

bool cpu_has(int64_t target) {
  const std::vector<int64_t> usable = bit_kernel_targets();
  return std::find(usable.begin(), usable.end(), target) != usable.end();
}

// Once per run: which compiled targets are tested here and which are skipped.
void report_targets_once() {
  static bool done = false;
  if (done) return;
  done = true;
  std::vector<int64_t> tested, skipped;
  for (int64_t t : bit_kernel_compiled_targets()) (cpu_has(t) ? tested : skipped).push_back(t);
  size_t cases = 0;
  for (const KernelEntry& e : bit_kernels()) cases += sweep(e).size();
  std::printf("[ bit kernels ] %zu kernels (kernel_inventory.cpp), %zu sweep cases per target; targets tested: %s\n",
              bit_kernels().size(), cases, names(tested).c_str());
  for (int64_t t : skipped) std::printf("[ bit kernels ] skipped: %s (compiled in, this CPU lacks it)\n", hwy::TargetName(t));
  std::fflush(stdout);
}

// Dispatch capped to one target for a scope (also when an assertion returns early).
class TargetCap {
 public:
  explicit TargetCap(int64_t target) { hwy::SetSupportedTargetsForTest(target); }
  ~TargetCap() { hwy::SetSupportedTargetsForTest(0); }  // back to the CPU's own targets
  TargetCap(const TargetCap&) = delete;
  TargetCap& operator=(const TargetCap&) = delete;
};

// ---- Kernel x target ---------------------------------------------------------------------

struct Param {
  size_t entry;
  int64_t target;
};
void PrintTo(const Param& p, std::ostream* os) { *os << bit_kernels()[p.entry].name << " on " << hwy::TargetName(p.target); }

std::vector<Param> params() {
  std::vector<Param> out;
  for (size_t e = 0; e < bit_kernels().size(); ++e)
    for (int64_t t : bit_kernel_compiled_targets()) out.push_back({e, t});
  return out;
}

class KernelInventorySweep : public ::testing::TestWithParam<Param> {
 public:
  static void SetUpTestSuite() { report_targets_once(); }
};

TEST_P(KernelInventorySweep, MatchesItsRefBitForBit) {
  const KernelEntry& e = bit_kernels()[GetParam().entry];
  const int64_t target = GetParam().target;
  if (!cpu_has(target)) GTEST_SKIP() << hwy::TargetName(target) << ": compiled in, this CPU lacks it";
  const TargetCap cap(target);
  ASSERT_STREQ(bit_kernel_target(), hwy::TargetName(target));  // dispatch follows the cap
  const std::vector<KernelCase> cases = sweep(e);
  ASSERT_GT(cases.size(), 10u);
  for (const KernelCase& c : cases) {
    std::string diff;
    try {
      diff = e.check(c);
    } catch (const std::exception& ex) {
      diff = std::string("threw: ") + ex.what();
    }
    ASSERT_EQ(diff, "") << e.name << " vs " << e.ref << " on " << hwy::TargetName(target) << ", "
                        << (*e.variant_name ? e.variant_name : "variant") << " " << c.variant << ": " << c.str();
  }
}

INSTANTIATE_TEST_SUITE_P(Bit, KernelInventorySweep, ::testing::ValuesIn(params()),
                         [](const ::testing::TestParamInfo<Param>& info) {
                           return std::string(bit_kernels()[info.param.entry].name) + "_" +
                                  hwy::TargetName(info.param.target);
                         });

// ---- The list itself ---------------------------------------------------------------------

TEST(KernelInventory, EntriesAreCompleteAndDistinct) {
  report_targets_once();
  std::set<std::string> seen;
  for (const KernelEntry& e : bit_kernels()) {
    SCOPED_TRACE(e.name);
    EXPECT_TRUE(seen.insert(e.name).second) << "listed twice";
    EXPECT_EQ(std::string(e.ref), std::string(e.name) + "_ref");
    EXPECT_GT(std::string(e.layout).size(), 20u);
    EXPECT_GT(std::string(e.description).size(), 20u);
    EXPECT_FALSE(e.variants.empty());
    EXPECT_EQ(*e.variant_name == '\0', e.variants.size() == 1 && e.variants[0] == 0) << "variant_name names the variants";
    EXPECT_NE(e.check, nullptr);
    EXPECT_GE(e.tile_n, 1);
    if (e.shape == KernelShape::kGemm) {
      EXPECT_GE(e.tile_k, 1);
    }
    if (e.columns != ColumnRanges::kNone) {
      EXPECT_FALSE(ranges(e, 130).empty());
    }
  }
  const std::vector<int64_t> compiled = bit_kernel_compiled_targets();
  for (int64_t t : bit_kernel_targets())  // every target this CPU runs is a compiled one: tested above
    EXPECT_NE(std::find(compiled.begin(), compiled.end(), t), compiled.end()) << hwy::TargetName(t);
}

// A check that compared nothing would pass every sweep: each entry must catch one flipped bit.
TEST(KernelInventory, EveryCheckCatchesACorruptedOutput) {
  for (const KernelEntry& e : bit_kernels()) {
    KernelCase c = sweep(e).back();
    EXPECT_EQ(e.check(c), "") << e.name << ": " << c.str();
    c.corrupt = true;
    EXPECT_NE(e.check(c), "") << e.name << ": " << c.str();
  }
}

#ifdef LOWBIT_SOURCE_DIR
std::string read_text(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// Functions declared at namespace scope of a header: a declaration starts in column 0 (the
// project's style; class members are indented), its name is the first identifier before '('.
std::vector<std::string> declared_functions(const std::string& text) {
  static const std::regex decl(R"(^[A-Za-z][^(;{=]*?\b([A-Za-z_]\w*)\s*\()");
  static const std::regex skip(R"(^(//|#|namespace|class|struct|enum|using|template|static_assert|\}))");
  std::vector<std::string> out;
  std::istringstream lines(text);
  std::string line;
  std::smatch m;
  while (std::getline(lines, line))
    if (!std::regex_search(line, skip) && std::regex_search(line, m, decl)) out.push_back(m[1]);
  return out;
}

// What the bit-kernel headers declare besides kernels, and why it is not in the inventory.
const std::map<std::string, const char*> kNotKernels = {
    {"packed_words", "a size"},
    {"threshold_bits", "a size"},
    {"sparse_work_bytes", "a size"},
    {"set_binary_kernels_enabled", "a switch of the training layers"},
    {"binary_kernels_enabled", "a switch of the training layers"},
    {"xnor_gemm_target", "dispatch query"},
    {"bit_kernel_targets", "dispatch query"},
    {"bit_kernel_target", "dispatch query"},
    {"bit_kernel_compiled_targets", "dispatch query"},
    {"isa_choices", "dispatch query"},
    {"set_max_isa", "dispatch cap"},
    {"active_isa", "dispatch query"},
};

// The headers of lowbit_bit_kernels (CMakeLists.txt: kernels/xnor_gemm.cpp, kernels/bit_*.cpp).
std::vector<std::filesystem::path> bit_kernel_files(const std::filesystem::path& dir, const std::string& ext) {
  std::vector<std::filesystem::path> out;
  for (const auto& f : std::filesystem::directory_iterator(dir)) {
    const std::string name = f.path().filename().string();
    if (f.path().extension() == ext && (name.rfind("bit_", 0) == 0 || name == "xnor_gemm" + ext)) out.push_back(f.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

const std::filesystem::path kKernelDir = std::filesystem::path(LOWBIT_SOURCE_DIR) / "src/lowbit/kernels";

TEST(KernelInventory, NamesEveryKernelOfTheBitKernelHeaders) {
  if (!std::filesystem::exists(kKernelDir)) GTEST_SKIP() << "sources not found at " << kKernelDir;
  std::map<std::string, std::string> kernel_of;  // inventoried function -> its entry
  for (const KernelEntry& e : bit_kernels()) kernel_of[e.name] = kernel_of[e.ref] = e.name;
  std::set<std::string> declared;
  const auto headers = bit_kernel_files(kKernelDir, ".hpp");
  ASSERT_GE(headers.size(), 2u);
  for (const auto& h : headers) {
    const std::string rel = "lowbit/kernels/" + h.filename().string();
    for (const std::string& f : declared_functions(read_text(h))) {
      declared.insert(f);
      const bool is_ref = f.size() > 4 && f.compare(f.size() - 4, 4, "_ref") == 0;
      if (kernel_of.count(f)) {
        const KernelEntry& e =
            *std::find_if(bit_kernels().begin(), bit_kernels().end(), [&](const KernelEntry& x) { return kernel_of[f] == x.name; });
        EXPECT_EQ(rel, e.header) << f << " is declared in " << rel;
      } else if (is_ref) {
        ADD_FAILURE() << rel << " declares " << f << ", a scalar twin, but the inventory has no entry for "
                      << f.substr(0, f.size() - 4) << " (kernel_inventory.cpp)";
      } else {
        EXPECT_TRUE(kNotKernels.count(f)) << rel << " declares " << f
                                           << ": add its entry to the inventory (kernel_inventory.cpp) with its "
                                              "_ref twin, or, if it is not a kernel, to kNotKernels here";
      }
    }
  }
  for (const KernelEntry& e : bit_kernels()) {  // and nothing stale in the list
    EXPECT_TRUE(declared.count(e.name)) << e.name << " is inventoried but declared in no bit-kernel header";
    EXPECT_TRUE(declared.count(e.ref)) << e.ref << " is inventoried but declared in no bit-kernel header";
  }
  for (const auto& [f, why] : kNotKernels) EXPECT_TRUE(declared.count(f)) << f << " (kNotKernels) is declared nowhere";
}

// Every dispatching file compiles for the same targets (bit_targets.hpp before Highway), so
// the targets above are those of every kernel, not just of bit_gemm.cpp's dispatch table.
TEST(KernelInventory, EveryDispatchingFileCompilesTheSameTargets) {
  if (!std::filesystem::exists(kKernelDir)) GTEST_SKIP() << "sources not found at " << kKernelDir;
  int dispatching = 0;
  for (const auto& f : bit_kernel_files(kKernelDir, ".cpp")) {
    const std::string text = read_text(f);
    if (text.find("HWY_DYNAMIC_DISPATCH") == std::string::npos) continue;
    ++dispatching;
    const size_t targets = text.find("#include \"lowbit/kernels/bit_targets.hpp\"");
    const size_t foreach = text.find("#include <hwy/foreach_target.h>");
    EXPECT_TRUE(targets != std::string::npos && foreach != std::string::npos && targets < foreach)
        << f.filename() << ": include lowbit/kernels/bit_targets.hpp before <hwy/foreach_target.h>";
  }
  EXPECT_GE(dispatching, 6);
}
#endif  // LOWBIT_SOURCE_DIR

}  // namespace
}  // namespace lowbit::kernels
