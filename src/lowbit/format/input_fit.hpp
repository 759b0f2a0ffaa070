// Whether a set of images fits a model's input: the one rule that training, evaluation and
// every runtime entry point (Engine::run, `lowbit run`, examples/classify) apply, so that a
// model is never fed data of another geometry (a 3-channel CIFAR CNV run on 1-channel
// Fashion-MNIST read past its images and crashed; other mismatches printed an accuracy
// computed from garbage).
//
// The rule (data::make_batch's, docs/DATA.md):
//   model input [C, H, W]: the images have exactly C channels and are at most H x W; smaller
//                          images are centre-padded with pixel 0, larger ones are an error
//                          (nothing is cropped or resized);
//   model input [F]:       each image has exactly F values (C * H * W == F), read in the
//                          order the dataset stores them (channel-major).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace lowbit::format {

// Throws lowbit::Error, one line naming `what` and every mismatch, when images of
// channels x height x width (each >= 1) do not fit `model_input` ([C, H, W] or [F]).
void check_images_fit(const std::vector<int64_t>& model_input, int64_t channels, int64_t height, int64_t width,
                      const std::string& what);

}  // namespace lowbit::format
