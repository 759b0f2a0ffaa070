// The runtime's input stage: raw 8-bit pixels to the first layer's input codes
// (format::InputDesc's table), centre-padding smaller images as training does
// (format::centre_offset, pixel 0), then either packing them into bit-planes (a dense first
// layer: one row of C*H*W codes) or cutting the first convolution's patch rows as byte
// codes (K = kh*kw*C codes each, (dy, dx, c) order, read by the integer GEMM).
#pragma once
#include <cstdint>
#include <vector>

#include "lowbit/format/model_desc.hpp"

namespace lowbit::runtime {

class InputStage {
 public:
  InputStage() = default;
  // From a validated description (its input and first layer).
  explicit InputStage(const format::ModelDesc& desc);

  const format::CodeFormat& codes() const { return codes_; }
  // True when the first layer is a convolution fed byte patch rows (GemmInput::codes).
  bool patches() const { return patches_; }
  // Words of one plane of one image's packed flat input (0 for patches).
  int64_t words() const { return patches_ ? 0 : kernels_words_; }
  // Scratch bytes prepare() needs per thread: the padded image (patches) ...
  int64_t image_bytes() const;
  // ... and the code rows of a chunk of m images (patches) or one image's flat codes.
  int64_t code_bytes(int64_t m) const;

  // Image i (channels x height x width pixels, fitting the model input) of an m-image
  // chunk: flat, packed as bit-planes into planes + i * words() (plane b at
  // planes + b * m * words()); patches, as patch rows into codes + i * (rows per image) * K.
  // `image` and `codes` are the scratch buffers above; gaps of the flat codes past C*H*W
  // must be 0 (they are never written).
  void prepare(const uint8_t* img, int64_t height, int64_t width, int64_t i, int64_t m, uint8_t* image,
               uint8_t* codes, uint64_t* planes) const;

 private:
  // The table as a staircase when it is one (codes non-decreasing in the pixel from 0, as
  // quantizers map pixels): code = #{s : pixel >= steps[s]}; few steps vectorize as compare
  // passes, the identity (8-bit input) is a copy. Else a lookup per pixel.
  enum class LutKind { kIdentity, kSteps, kTable };
  void apply_lut(const uint8_t* img, int64_t count, uint8_t* codes) const;

  format::CodeFormat codes_;
  bool patches_ = false;
  int64_t C_ = 1, H_ = 1, W_ = 1;
  int64_t kernels_words_ = 0;
  // The first convolution (patches only).
  int64_t pad_h_ = 0, pad_w_ = 0, kh_ = 1, kw_ = 1, stride_ = 1, oh_ = 1, ow_ = 1, k_ = 0;
  uint8_t lut_[256] = {};
  LutKind lut_kind_ = LutKind::kTable;
  std::vector<uint8_t> steps_;
};

}  // namespace lowbit::runtime
