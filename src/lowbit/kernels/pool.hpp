// 2-D max / average pooling kernels on raw pointers. `planes` independent H x W planes
// (N*C for an NCHW batch) map to planes of OH x OW with OH = conv_out_size(H, kh, sh, ph).
// The window of output (oh, ow) covers rows oh*sh - ph + [0, kh) and columns
// ow*sw - pw + [0, kw), clipped to the input:
//   - max pooling treats padding as -inf: the max is over the valid taps only;
//   - average pooling divides by the number of VALID taps (PyTorch count_include_pad=False),
//     so a window half in the padding averages only its real pixels.
// Every window must contain at least one valid tap (guaranteed when pad <= kernel / 2).
//
// argmax holds, per output element, the index h*W + w of the chosen tap inside its input
// plane; ties go to the first maximum in row-major window order.
//
// The optimised kernels parallelise over planes with OpenMP (when the work is large);
// the *_ref twins are plain sequential loops with per-tap bounds checks, for tests.
// Backward kernels OVERWRITE dx.
#pragma once
#include <cstdint>

namespace lowbit::kernels {

void maxpool2d(const float* x, int64_t planes, int H, int W, int kh, int kw, int sh, int sw, int ph, int pw,
               float* y, int32_t* argmax);
void maxpool2d_backward(const float* dy, const int32_t* argmax, int64_t planes, int H, int W, int OH, int OW,
                        float* dx);
void avgpool2d(const float* x, int64_t planes, int H, int W, int kh, int kw, int sh, int sw, int ph, int pw,
               float* y);
void avgpool2d_backward(const float* dy, int64_t planes, int H, int W, int kh, int kw, int sh, int sw, int ph,
                        int pw, float* dx);

void maxpool2d_ref(const float* x, int64_t planes, int H, int W, int kh, int kw, int sh, int sw, int ph, int pw,
                   float* y, int32_t* argmax);
void avgpool2d_ref(const float* x, int64_t planes, int H, int W, int kh, int kw, int sh, int sw, int ph, int pw,
                   float* y);
void avgpool2d_backward_ref(const float* dy, int64_t planes, int H, int W, int kh, int kw, int sh, int sw, int ph,
                            int pw, float* dx);

}  // namespace lowbit::kernels
