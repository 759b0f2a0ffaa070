// Data-parallel gradient reduction (docs/DISTRIBUTED.md): after every rank's backward on its
// slice of the global batch, each parameter's gradient becomes the sum over the ranks (the
// loss of each slice is already its part of the global mean, nn::Loss::compute's mean_over,
// so the sum is the global batch's gradient). Gradients are packed in the model's parameter
// order into buckets of at most kGradientBucketFloats and reduced one bucket at a time, as
// Horovod's tensor fusion and PyTorch DDP's buckets do: few messages, and the same bucket
// layout on every rank and every step, so that the sums are reproducible for a given number
// of ranks. A gradient larger than a bucket is reduced in place, alone.
#pragma once
#include <vector>

#include "lowbit/core/communicator.hpp"
#include "lowbit/core/param.hpp"

namespace lowbit::train {

inline constexpr int64_t kGradientBucketFloats = int64_t{1} << 22;  // 16 MiB of float32

// Sums every params[i]->grad over comm's ranks, in place. Every rank must pass parameters of
// the same shapes in the same order. `scratch` is reused between calls.
void sum_gradients(Communicator& comm, const std::vector<Param*>& params, std::vector<float>& scratch,
                   int64_t bucket_floats = kGradientBucketFloats);

}  // namespace lowbit::train
