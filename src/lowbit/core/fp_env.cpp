#include "lowbit/core/fp_env.hpp"

#include <omp.h>

#if defined(__x86_64__) || defined(__i386__)
#include <xmmintrin.h>
#endif

namespace lowbit {

namespace {

#if defined(__x86_64__) || defined(__i386__)
constexpr uint64_t kMask = 0x8040 | 0x6000;  // FTZ | DAZ | rounding control
constexpr uint64_t kContract = 0x8040;       // FTZ | DAZ, round to nearest (RC = 00)
uint64_t get_control() { return _mm_getcsr(); }
void set_control(uint64_t v) { _mm_setcsr(static_cast<unsigned>(v)); }
#elif defined(__aarch64__)
constexpr uint64_t kMask = (uint64_t{1} << 24) | (uint64_t{3} << 22);  // FZ | RMode
constexpr uint64_t kContract = uint64_t{1} << 24;                      // FZ, round to nearest
uint64_t get_control() { return __builtin_aarch64_get_fpcr(); }
void set_control(uint64_t v) { __builtin_aarch64_set_fpcr(static_cast<unsigned>(v)); }
#else
#error "lowbit: add this architecture's flush-to-zero control to core/fp_env.cpp"
#endif

uint64_t contract_of(uint64_t control) { return (control & ~kMask) | kContract; }

}  // namespace

void enter_fp_contract() {
  const uint64_t c = get_control();
  if ((c & kMask) != kContract) set_control(contract_of(c));
}

void enter_fp_contract_all_threads() {
  enter_fp_contract();
#pragma omp parallel
  enter_fp_contract();
}

bool in_fp_contract() { return (get_control() & kMask) == kContract; }

FpContractScope::FpContractScope() : saved_(get_control()) {
  if ((saved_ & kMask) != kContract) set_control(contract_of(saved_));
}

FpContractScope::~FpContractScope() {
  if (get_control() != saved_) set_control(saved_);
}

}  // namespace lowbit
