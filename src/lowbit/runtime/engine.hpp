// The deployment runtime: loads a .lbm model (written by `lowbit export`) and classifies
// batches of 8-bit images with bit-packed integer kernels. It depends on no training code
// and no BLAS (library lowbit_runtime: core, bit kernels, format), so it ships alone.
//
//   auto engine = lowbit::runtime::Engine::load("lfc.lbm");
//   std::vector<float> scores(n * engine.info().classes);
//   engine.run(images, n, 1, 28, 28, scores.data(), predictions.data());   // n grey 28x28 images
//
// Results equal the trainer's evaluation of the checkpoint bit for bit (docs/DEPLOYMENT.md):
// every layer computes exact integer accumulators, thresholds them into the next layer's
// codes, and the last layer applies the same float operations evaluation does, in the
// floating-point mode of the contract (core/fp_env.hpp), which each call sets on its own
// threads and restores after: the caller's mode does not matter and is left as it was.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace lowbit::format {
class LbmFile;
}

namespace lowbit::runtime {

struct ModelInfo {
  std::string name;
  std::vector<int64_t> input_shape;  // [C, H, W] (or [features]) the network takes
  // The image the network takes, as C x H x W ([features] reads as 1 x 1 x features);
  // run() accepts C-channel images up to H x W (a flat model: any C x H x W of `features` values).
  int64_t channels = 1, height = 1, width = 1;
  int64_t classes = 0;
  std::string input_quantizer;       // e.g. "dorefa:8"
  std::string normalize;             // the pixel normalization training used
  int64_t binary_macs = 0;           // multiply-accumulates per image (all layers)
  // Binary MACs (popcounted bit products) per image of a bit-serial evaluation: per layer,
  // its MACs x input bit-planes (1 for +-1 codes) x weight bit-planes, as the bit-plane
  // GEMM counts them (gemm.hpp weight_planes), also for the layers the integer GEMM runs on
  // bytes. Divided into a popcount roof (binary MACs/s) it gives the roof-implied frames/s.
  int64_t bit_macs = 0;
  std::vector<std::string> layers;   // one line per layer, for summaries
};

// Which layers run the sparse ternary GEMM (kernels/bit_sparse.hpp: zero weights
// skipped): kAuto those with weight codes in {-1, 0, +1} and at least
// runtime::kSparseMinZeros zeros (plan.hpp, where it was measured faster), their calls of
// fewer than runtime::kSparseMinRows rows on the dense GEMM (gemm.hpp); kAlways every layer
// whose codes are in {-1, 0, +1} (and whose input has at most 8 bit-planes), every call;
// kNever none. Speed only: predictions do not change (tests force each path and compare
// them).
enum class SparseGemm { kAuto, kAlways, kNever };

struct EngineOptions {
  int threads = 0;        // 0 = all cores (OpenMP's default); at most 1024
  int64_t chunk = 64;     // images per thread task (rows of one kernel call)
  // PlanOptions::byte_plane_product (runtime/plan.hpp), 1..81, or 0 for this CPU's default
  // (runtime::byte_plane_product_for): where hidden layers move from bit-planes to byte
  // codes and the integer GEMM.
  // Speed only: predictions do not change.
  int byte_plane_product = 0;
  // PlanOptions::sparse: where the sparse ternary GEMM runs (SparseGemm above).
  SparseGemm sparse = SparseGemm::kAuto;
};

class Engine {
 public:
  // Reads and validates the file (format::LbmFile) and the model description; throws
  // lowbit::Error naming the file (once) and the field at fault. EngineOptions out of range
  // (threads outside 0..1024, chunk outside 1..4096, byte_plane_product outside 0..81) throw too.
  static Engine load(const std::string& path, const EngineOptions& opt = {});
  // The same on a file image in memory (`what` names it in errors): export validates the
  // bytes it is about to write with this, so a file is written only when it loads.
  static Engine from_bytes(const std::vector<uint8_t>& bytes, const std::string& what, const EngineOptions& opt = {});
  static Engine from_file(const format::LbmFile& file, const EngineOptions& opt = {});
  Engine(Engine&&) noexcept;
  Engine& operator=(Engine&&) noexcept;
  ~Engine();

  const ModelInfo& info() const;
  // Classifies n images of channels x height x width uint8 pixels each, channel-major (the
  // dataset files' order: image i at images + i * channels * height * width). They must fit
  // the model input by format::check_images_fit: the model's channel count, at most its
  // height and width (smaller images are centre-padded with pixel 0, as training pads), or
  // for a flat model ([features]) exactly `features` values; otherwise lowbit::Error, one
  // line naming every mismatch, before anything is read. scores (n x classes, row-major)
  // and predictions (n, the first highest score, as training's argmax) may each be null.
  // Threads: one Engine may be called from several threads; its calls (run, trace,
  // set_threads) take turns (a mutex), each using the engine's own OpenMP team. For
  // throughput from several callers at once, give each its own Engine (load the file once
  // per thread) or pass larger batches.
  void run(const uint8_t* images, int64_t n, int64_t channels, int64_t height, int64_t width, float* scores,
           int32_t* predictions);
  // Every layer's integer accumulators for n images (layer l: n x outputs, row-major), in
  // the trained sign (export negates the weights of channels whose map decreases; this
  // undoes it); a convolution with SYQ tap groups gives its G partial sums per output
  // (n x outputs x G). Single-threaded; for tests that compare with training layer by layer.
  // Images as for run().
  std::vector<std::vector<int32_t>> trace(const uint8_t* images, int64_t n, int64_t channels, int64_t height,
                                          int64_t width);
  int threads() const;
  // 1..1024, else lowbit::Error.
  void set_threads(int threads);

 private:
  struct Impl;
  explicit Engine(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace lowbit::runtime
