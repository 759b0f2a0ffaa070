// The floating-point environment of the bit-exactness contract (../shared/ARCHITECTURE.md,
// docs/DEPLOYMENT.md): training, evaluation, export, the runtime and the tests all compute
// with denormals flushed to zero and read as zero, rounding to nearest-even.
//
//   x86-64:  MXCSR.FTZ (bit 15) | MXCSR.DAZ (bit 6), rounding control (bits 13-14) = 00
//   AArch64: FPCR.FZ (bit 24; flushes denormal inputs and results), FPCR.RMode (bits 22-23) = 00
//
// Why it is a contract and not a speed switch: export finds integer thresholds by bisection
// on evaluation's own float arithmetic, and the runtime repeats the score layer's float
// operations. A BatchNorm constant or product in the denormal range (|x| < 2^-126) rounds
// differently with and without FTZ/DAZ, so one path computing in another mode changes
// predictions (a hidden gamma of 2e-38 changed a third of 10 000 predictions between
// `lowbit eval` and `lowbit run` before this header existed). Denormals are flushed, not
// kept, because late in training tiny gradients become denormal and slow every product they
// enter by an order of magnitude (TensorFlow sets the same flags).
//
// Who sets it: the training library at its entry points (set_num_threads, Trainer::fit,
// train::evaluate, exporter::fold) for the calling thread and every OpenMP pool thread, and
// leaves it set; the runtime (lowbit_runtime) only inside its own calls, through
// FpContractScope on each worker thread, so a program embedding it keeps its own mode.
// Threads created later inherit the mode of the thread that creates them (Linux copies the
// FP control state on clone).
#pragma once
#include <cstdint>

namespace lowbit {

// Puts the calling thread in the contract mode.
void enter_fp_contract();
// The calling thread and every thread of the OpenMP pool (omp_get_max_threads() threads).
// Must not be called inside a parallel region.
void enter_fp_contract_all_threads();
// True when the calling thread computes in the contract mode.
bool in_fp_contract();

// Enters the contract mode on the calling thread and restores the previous mode on exit.
class FpContractScope {
 public:
  FpContractScope();
  ~FpContractScope();
  FpContractScope(const FpContractScope&) = delete;
  FpContractScope& operator=(const FpContractScope&) = delete;

 private:
  uint64_t saved_;
};

}  // namespace lowbit
