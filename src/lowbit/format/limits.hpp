// What the deployment runtime executes: the bounds shared by export (which refuses a model
// beyond them before it writes anything, naming the layer and the limit) and the runtime's
// loader (which refuses a file beyond them). One definition, so an exported file always
// loads: exporting int:9 weights once wrote a .lbm the runtime then rejected.
#pragma once
#include <cstdint>

namespace lowbit::format {

// Bit-planes of any value between layers: input and activation codes 0..255 (or +-1), and
// the window sums of a sum pooling (a 2x2 sum of 6-bit codes, 0..252, fits; of 7-bit
// codes, 0..508, does not).
inline constexpr int kMaxCodeBits = 8;
inline constexpr int kMaxSumCount = (1 << kMaxCodeBits) - 1;  // codes in one sum: 255 +-1 codes take 8 planes
inline constexpr int32_t kMaxWeightCode = 255;  // |weight code| (int:8, dorefa:8's odd codes up to 255)
inline constexpr int64_t kMaxOutputs = 1 << 16; // outputs (channels, units, classes) of one layer
inline constexpr int64_t kMaxLayers = 4096;
inline constexpr int64_t kMaxInputDim = 1 << 16;         // one dimension of the input shape
inline constexpr int64_t kMaxInputValues = int64_t{1} << 24;  // values of one input image
inline constexpr int64_t kMaxKernel = 1 << 10, kMaxStride = 64, kMaxPool = 1 << 10;
inline constexpr int64_t kMaxLayerWeights = int64_t{1} << 27;  // out x K of one layer (VGG's 25088 x 4096 fits)
// Compressed weights (rle, huffman) can describe many codes in few bytes: the codes of a
// file's compressed layers total at most this many per byte of its sections, so that a
// small file cannot make the reader allocate gigabytes (a decompression bomb). Dense
// encodings expand at most 32 times (pm1: a bit to an int32). 2^14 codes per byte is
// 99.99% sparse 1024 x 1024 layers with room to spare.
inline constexpr int64_t kMaxDecodedWeightsPerByte = int64_t{1} << 14;

// |accumulator| <= in * max|w| * 255 (the largest |input value|, window sums included). Consumers may scale it by
// up to 4 (the runtime doubles even weight codes, and doubles again a +-1 first
// convolution's integer weights): 4x that must stay below 2^31 for int32 arithmetic.
inline bool accumulators_fit_int32(int64_t in, int32_t max_abs_weight) {
  return in >= 0 && in <= (int64_t{1} << 31) && max_abs_weight >= 0 && max_abs_weight <= kMaxWeightCode &&
         in * max_abs_weight * 255 * 4 < (int64_t{1} << 31);
}

}  // namespace lowbit::format
