#include "lowbit/kernels/bit_isa.hpp"

#include "lowbit/kernels/bit_targets.hpp"  // before Highway: the targets of every bit kernel
#include <hwy/highway.h>
#include <hwy/targets.h>

#include <algorithm>
#include <cctype>
#include <vector>

#include "lowbit/core/error.hpp"
#include "lowbit/kernels/bit_gemm.hpp"

namespace lowbit::kernels {

namespace {

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace

// Every target compiled into this binary (HWY_TARGETS), best first, whether or not this
// CPU supports it.
std::vector<int64_t> bit_kernel_compiled_targets() {
  std::vector<int64_t> out;
  for (int64_t bit = 1; bit != 0 && bit <= HWY_TARGETS; bit <<= 1)
    if (HWY_TARGETS & bit) out.push_back(bit);
  // Highway orders targets so that a smaller bit is a better target (within one architecture).
  return out;
}

std::string isa_choices() {
  std::string s;
  for (int64_t t : bit_kernel_compiled_targets()) s += (s.empty() ? "" : ", ") + lower(hwy::TargetName(t));
  return s;
}

void set_max_isa(const std::string& name) {
  hwy::SetSupportedTargetsForTest(0);  // undo an earlier cap
  hwy::DisableTargets(0);
  if (name.empty()) return;
  const std::vector<int64_t> all = bit_kernel_compiled_targets();
  auto it = std::find_if(all.begin(), all.end(), [&](int64_t t) { return lower(hwy::TargetName(t)) == lower(name); });
  LOWBIT_CHECK(it != all.end(), "--max-isa '", name, "' is not a target of this build; valid: ", isa_choices());
  LOWBIT_CHECK((hwy::SupportedTargets() & *it) != 0, "--max-isa '", name, "': this CPU does not support it");
  int64_t better = 0;
  for (auto b = all.begin(); b != it; ++b) better |= *b;
  hwy::DisableTargets(better);
}

// What the kernels dispatch to now (not merely the best target this file was compiled
// for: on an SVE machine that would name SVE while the kernels run NEON).
std::string active_isa() { return bit_kernel_target(); }

}  // namespace lowbit::kernels
