// The deployment runtime: loads a .lbm model (written by `lowbit export`) and classifies
// batches of 8-bit images with bit-packed integer kernels. It depends on no training code
// and no BLAS (library lowbit_runtime: core, bit kernels, format), so it ships alone.
//
//   auto engine = lowbit::runtime::Engine::load("lfc.lbm");
//   std::vector<float> scores(n * engine.info().classes);
//   engine.run(images, n, 28, 28, scores.data(), predictions.data());
//
// Results equal the trainer's evaluation of the checkpoint bit for bit (docs/DEPLOYMENT.md):
// every layer computes exact integer accumulators, thresholds them into the next layer's
// codes, and the last layer applies the same float operations evaluation does.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace lowbit::runtime {

struct ModelInfo {
  std::string name;
  std::vector<int64_t> input_shape;  // [C, H, W] (or [features]) the network takes
  // The image the network takes, as C x H x W ([features] reads as 1 x 1 x features);
  // run() accepts images up to H x W.
  int64_t channels = 1, height = 1, width = 1;
  int64_t classes = 0;
  std::string input_quantizer;       // e.g. "dorefa:8"
  std::string normalize;             // the pixel normalization training used
  int64_t binary_macs = 0;           // multiply-accumulates per image (all layers)
  std::vector<std::string> layers;   // one line per layer, for summaries
};

struct EngineOptions {
  int threads = 0;        // 0 = all cores (OpenMP's default)
  int64_t chunk = 64;     // images per thread task (rows of one kernel call)
};

class Engine {
 public:
  // Reads and validates the file (format::LbmFile) and the model description; throws
  // lowbit::Error naming the file and the field at fault.
  static Engine load(const std::string& path, const EngineOptions& opt = {});
  Engine(Engine&&) noexcept;
  Engine& operator=(Engine&&) noexcept;
  ~Engine();

  const ModelInfo& info() const;
  // Classifies n images, each C x height x width uint8 (channel-major, as the dataset
  // files store them); smaller images than the network's input are centre-padded with
  // pixel 0, as training does. scores (n x classes) and predictions (n, the first
  // highest score) may each be null.
  void run(const uint8_t* images, int64_t n, int64_t height, int64_t width, float* scores, int32_t* predictions);
  // Every layer's integer accumulators for n images (layer l: n x outputs, row-major), in
  // the trained sign (export negates the weights of channels whose map decreases; this
  // undoes it). Single-threaded; for tests that compare with training layer by layer.
  std::vector<std::vector<int32_t>> trace(const uint8_t* images, int64_t n, int64_t height, int64_t width);
  int threads() const;
  void set_threads(int threads);

 private:
  struct Impl;
  explicit Engine(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace lowbit::runtime
