// The inventory of the bit kernels: one list of every SIMD-dispatched kernel of
// lowbit_bit_kernels (bit_gemm.hpp, xnor_gemm.hpp) with its scalar `_ref` twin, the layout
// it expects and a check that runs both on one case of random data and compares them bit
// for bit. The shared tester (tests/kernels/bit_kernel_inventory_test.cpp) runs every
// entry on every compiled Highway target over its standard size sweep, and fails when a
// bit-kernel header declares a function that is neither in this list nor named there as
// not a kernel; so adding a kernel is: declare it and its `_ref` twin, add one entry here
// (docs/KERNELS.md).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace lowbit::kernels {

// Which of the tester's standard sweeps fits a kernel's arguments.
enum class KernelShape {
  kGemm,    // m rows x n columns, depth k (K around 64, the column block, the register tiles)
  kRows,    // m rows x n columns of int32 values, no depth (threshold_planes)
  kWords,   // n packed words (pack_planes)
  kWindow,  // NHWC maps: m images, h x w pixels, n channels; window kh x kw, stride, padding
};

// Which column ranges [j0, j1) a kernel takes (threads split the output by them).
enum class ColumnRanges {
  kNone,       // always all columns
  kAny,        // any 0 <= j0 <= j1 <= n
  kWordStart,  // j0 a multiple of 64, any j1
  kWords,      // j0 and j1 multiples of 64 (or j1 = n): packed output words
};

// One case of a sweep. Fields a kernel's shape does not use stay as they are.
struct KernelCase {
  int64_t m = 1;       // rows (kGemm, kRows); images (kWindow)
  int64_t n = 1;       // output columns (kGemm, kRows); words (kWords); channels (kWindow)
  int64_t k = 1;       // depth (kGemm)
  int variant = 0;     // the entry's variant: planes, levels or the weight bound
  int64_t j0 = 0;      // column range; j1 = -1: all n
  int64_t j1 = -1;
  int64_t pad = 0;     // a leading dimension this much above the minimum (ldc, lda, plane stride)
  int64_t h = 1, w = 1, kh = 1, kw = 1, stride = 1, ph = 0, pw = 0;  // kWindow
  uint64_t seed = 1;   // of the random operands
  // Flip one bit of the optimized kernel's output before comparing: the tester checks
  // that every entry's comparison catches it (a check that compares nothing fails).
  bool corrupt = false;

  std::string str() const;  // "m=3 n=65 k=129 planes=2 cols=[64,130) pad=3", for messages
};

struct KernelEntry {
  const char* name;         // the dispatched kernel, as declared ("bgemm_pm1")
  const char* ref;          // its scalar twin, the specification ("bgemm_pm1_ref")
  const char* header;       // where both are declared, under src/ ("lowbit/kernels/bit_gemm.hpp")
  const char* layout;       // the operands' layouts and shapes, in words
  const char* description;  // what it computes
  KernelShape shape;
  ColumnRanges columns;
  bool padding = false;         // kWindow: takes padding ph < kh, pw < kw
  bool square = false;          // kWindow: one window size k (kh = kw)
  const char* variant_name;     // what KernelCase::variant means ("planes", "levels", "|w| <="; "" none)
  std::vector<int> variants;    // the values the sweep runs ({0} when none)
  // Block sizes the sweep straddles (each at -1, 0, +1): rows of the largest register
  // tile over the targets, the column block, and the depth (kGemm) at which the kernel's
  // inner loop changes (e.g. the 31-word span of the 8-bit popcount accumulators).
  int64_t tile_m = 0, tile_n = 0, tile_k = 0;
  // Runs the kernel (at the current dispatch target) and its `_ref` twin on the case's
  // random operands, in and around the output (guard values past it, the columns outside
  // [j0, j1) and past n); "" when every value is equal, else where they first differ.
  // Throws lowbit::Error for a case the kernel refuses.
  std::string (*check)(const KernelCase&) = nullptr;
};

// Every dispatched bit kernel, in header order. The targets they run on:
// bit_kernel_compiled_targets() (bit_isa.hpp), of which bit_kernel_targets() this CPU has.
const std::vector<KernelEntry>& bit_kernels();

}  // namespace lowbit::kernels
