#include "lowbit/runtime/input_stage.hpp"

#include <algorithm>
#include <cstring>

#include "lowbit/format/semantics.hpp"
#include "lowbit/kernels/bit_gemm.hpp"

namespace lowbit::runtime {

namespace {
constexpr int64_t kSlack = 8;  // prepare() copies windows 8 bytes at a time
}

InputStage::InputStage(const format::ModelDesc& desc) {
  const std::vector<int64_t>& shape = desc.input.shape;
  const bool image = shape.size() == 3;
  C_ = image ? shape[0] : 1, H_ = image ? shape[1] : 1, W_ = image ? shape[2] : shape[0];
  codes_ = desc.input.codes;
  const format::LayerDesc& first = desc.layers.front();
  patches_ = image && first.kind == format::LayerKind::kConv;
  kernels_words_ = kernels::packed_words(C_ * H_ * W_);
  if (patches_) {
    pad_h_ = first.pad_h, pad_w_ = first.pad_w, kh_ = first.kernel_h, kw_ = first.kernel_w, stride_ = first.stride;
    oh_ = first.conv_h(), ow_ = first.conv_w(), k_ = first.in_fan();
  }
  std::copy(desc.input.table.begin(), desc.input.table.end(), lut_);
  bool identity = true, staircase = lut_[0] == 0;
  for (int p = 0; p < 256; ++p) {
    identity = identity && lut_[p] == p;
    if (p > 0 && lut_[p] < lut_[p - 1]) staircase = false;
    if (p > 0)
      for (int c = lut_[p - 1]; c < lut_[p]; ++c) steps_.push_back(static_cast<uint8_t>(p));
  }
  constexpr size_t kMaxSteps = 15;  // 4-bit inputs and below
  lut_kind_ = identity ? LutKind::kIdentity : staircase && steps_.size() <= kMaxSteps ? LutKind::kSteps : LutKind::kTable;
}

int64_t InputStage::image_bytes() const {
  return patches_ ? C_ * (H_ + 2 * pad_h_) * (W_ + 2 * pad_w_) + kSlack : 0;
}

int64_t InputStage::code_bytes(int64_t m) const { return patches_ ? m * oh_ * ow_ * k_ + kSlack : kernels_words_ * 64; }

void InputStage::apply_lut(const uint8_t* img, int64_t count, uint8_t* codes) const {
  switch (lut_kind_) {
    case LutKind::kIdentity:
      std::memcpy(codes, img, static_cast<size_t>(count));
      return;
    case LutKind::kSteps:
      std::fill(codes, codes + count, uint8_t{0});
      for (uint8_t s : steps_)  // one compare pass per step: vectorizes
        for (int64_t t = 0; t < count; ++t) codes[t] = static_cast<uint8_t>(codes[t] + (img[t] >= s));
      return;
    case LutKind::kTable:
      for (int64_t t = 0; t < count; ++t) codes[t] = lut_[img[t]];
      return;
  }
}

void InputStage::prepare(const uint8_t* img, int64_t height, int64_t width, int64_t i, int64_t m, uint8_t* image,
                         uint8_t* code_rows, uint64_t* planes) const {
  // Codes of the image centre-padded with pixel 0, as data::make_batch pads, in (c, y, x)
  // order, inside a border of code 0 when the first convolution pads (code 0 is exact 0 for
  // unsigned codes and -1 for +-1 codes, which the plan's padding fix corrects): an
  // (H + 2 ph) x (W + 2 pw) map per channel. A flat input packs them as they are.
  const int64_t C = C_, H = H_, W = W_;
  const int64_t ph = pad_h_, pw = pad_w_;
  const int64_t Hp = H + 2 * ph, Wp = W + 2 * pw;
  uint8_t* codes = patches_ ? image : code_rows;
  if (height == H && width == W && ph == 0 && pw == 0) {
    apply_lut(img, C * H * W, codes);
  } else {
    std::fill(codes, codes + C * Hp * Wp, uint8_t{0});
    const int64_t top = format::centre_offset(H, height) + ph, left = format::centre_offset(W, width) + pw;
    for (int64_t c = 0; c < C; ++c) {
      if (height != H || width != W)
        for (int64_t y = 0; y < H; ++y) std::fill_n(codes + (c * Hp + y + ph) * Wp + pw, W, lut_[0]);
      for (int64_t y = 0; y < height; ++y)
        apply_lut(img + (c * height + y) * width, width, codes + (c * Hp + y + top) * Wp + left);
    }
  }
  if (!patches_) {
    kernels::pack_planes(words(), codes_.planes(), codes, planes + i * words(), m * words());
    return;
  }
  // Patch rows of the first convolution, (dy, dx, c) order.
  uint8_t* row = code_rows + i * oh_ * ow_ * k_;
  for (int64_t oy = 0; oy < oh_; ++oy)
    for (int64_t ox = 0; ox < ow_; ++ox)
      for (int64_t dy = 0; dy < kh_; ++dy) {
        const uint8_t* src = codes + (oy * stride_ + dy) * Wp + ox * stride_;
        if (C == 1 && kw_ <= 8) {
          // 8 bytes at once (a fixed-size copy is one move; a kw-byte one was a libc call):
          // the bytes past kw are overwritten by the next window row, or land in the slack.
          std::memcpy(row, src, 8);
          row += kw_;
          continue;
        }
        for (int64_t dx = 0; dx < kw_; ++dx)
          for (int64_t c = 0; c < C; ++c) *row++ = src[c * Hp * Wp + dx];
      }
}

}  // namespace lowbit::runtime
