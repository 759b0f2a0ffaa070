// Runs a plan (plan.hpp) on chunks of images: the input stage, then per layer its GEMM
// and the steps after it (padding fix, max pooling, thresholds or scores). Threads: one
// OpenMP team per call (core/threading.hpp's limits), images split into chunks, one
// workspace per thread; for fewer images than threads on a dense network (batch-1
// latency) the team shares each layer's output channels instead.
#pragma once
#include <cstdint>
#include <vector>

#include "lowbit/runtime/plan.hpp"

namespace lowbit::runtime {

// Per-thread buffers, sized once for `chunk` images of a plan.
struct Workspace {
  Workspace(const Plan& plan, int64_t chunk);
  std::vector<uint64_t> a, b;     // activations in bit-planes or bytes (ping-pong)
  std::vector<uint64_t> patches;  // convolution patches, per plane
  std::vector<uint8_t> byte_patches;  // convolution patches of byte codes
  std::vector<uint8_t> image;     // the input stage's padded image
  std::vector<uint8_t> codes;     // the input stage's code rows (flat codes or patch rows)
  std::vector<int32_t> acc, pooled;
  std::vector<uint64_t> bits;     // a fused layer's output bits before pooling
  std::vector<uint64_t> unpooled; // a sum-pooling layer's codes before the pooling
  std::vector<std::vector<uint8_t>> shortcuts;  // per layer: its input's levels, when a later layer reads them
  std::vector<uint8_t> levels;    // a shortcut or grouped layer's output levels
  std::vector<uint64_t> group_operand;  // a grouped layer's gathered slice (tap_groups.hpp)
  std::vector<float> group_y;     // its float sums
  std::vector<int32_t> group_levels;  // and their levels, before max pooling
  std::vector<float> score_row;   // one image's scores when the caller wants none
};

// Classifies n images (channels x height x width each, already checked to fit the plan's
// input; a flat model's as 1 x features) on `work.size()` threads, each with its own
// workspace of `chunk` images. scores (n x classes) and predictions (n) may be null. Sets
// the floating-point contract mode on every thread it uses and restores it after.
void run_batch(const Plan& plan, std::vector<Workspace>& work, int64_t chunk, const uint8_t* images, int64_t n,
               int64_t height, int64_t width, float* scores, int32_t* predictions);

// Every layer's accumulators in the trained sign for n images (Engine::trace), on one
// thread with workspace `w` of `chunk` images.
std::vector<std::vector<int32_t>> trace_batch(const Plan& plan, Workspace& w, int64_t chunk, const uint8_t* images,
                                              int64_t n, int64_t height, int64_t width);

}  // namespace lowbit::runtime
