// Seeded, portable random numbers (xoshiro256**, seeded by splitmix64).
// We do not use <random> distributions: their output differs between standard
// libraries, and checkpoints must resume bit-for-bit. The whole state is 4 words,
// so it is saved in checkpoints as is.
#pragma once
#include <array>
#include <cstdint>

namespace lowbit {

class Rng {
 public:
  explicit Rng(uint64_t seed = 0) { reseed(seed); }
  // An independent stream derived from (seed, stream), e.g. one per epoch or per thread.
  Rng(uint64_t seed, uint64_t stream);

  void reseed(uint64_t seed);
  uint64_t next_u64();
  uint32_t next_u32() { return static_cast<uint32_t>(next_u64() >> 32); }
  // Uniform in [0, 1), 24 random bits (every float in the grid is equally likely).
  float uniform() { return static_cast<float>(next_u64() >> 40) * 0x1.0p-24f; }
  double uniform_double() { return static_cast<double>(next_u64() >> 11) * 0x1.0p-53; }
  float uniform(float lo, float hi) { return lo + (hi - lo) * uniform(); }
  // Unbiased integer in [0, n) (Lemire's multiply-and-reject).
  uint64_t below(uint64_t n);
  // Standard normal (Box-Muller, both values used).
  float normal();
  bool bernoulli(float p) { return uniform() < p; }

  using State = std::array<uint64_t, 4>;
  State state() const { return s_; }
  void set_state(const State& s);

 private:
  State s_{};
  bool has_spare_ = false;
  float spare_ = 0.f;
};

uint64_t splitmix64(uint64_t& x);

}  // namespace lowbit
