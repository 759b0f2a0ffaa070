// The public face of the runtime: loading (format reader -> plan), the call contract
// (image checks, one call at a time, thread count) and the executor. The work is in
// plan.cpp (packing, once), input_stage.cpp, gemm implementations and executor.cpp.
#include "lowbit/runtime/engine.hpp"

#include <omp.h>

#include <array>
#include <mutex>

#include "lowbit/core/error.hpp"
#include "lowbit/core/threading.hpp"
#include "lowbit/format/input_fit.hpp"
#include "lowbit/format/lbm.hpp"
#include "lowbit/format/model_desc.hpp"
#include "lowbit/runtime/executor.hpp"
#include "lowbit/runtime/plan.hpp"

namespace lowbit::runtime {

struct Engine::Impl {
  std::string source;
  EngineOptions opt;
  Plan plan;
  std::vector<Workspace> work;  // one per thread
  std::mutex calls;             // run/trace/set_threads share `work`: one call at a time

  void set_threads(int threads) { work.assign(static_cast<size_t>(threads), Workspace(plan, opt.chunk)); }
  // Checks images of channels x height x width against the model input (format/input_fit.hpp)
  // and returns them as the executor reads them: a flat model ([features]) takes each image
  // as one row of C*H*W values, 1 x features.
  std::array<int64_t, 2> fit_images(int64_t n, int64_t channels, int64_t height, int64_t width) const {
    LOWBIT_CHECK(n >= 0, source, ": image count ", n, " is negative");
    format::check_images_fit(plan.info.input_shape, channels, height, width, source);
    return plan.info.input_shape.size() == 1 ? std::array<int64_t, 2>{1, plan.info.width}
                                             : std::array<int64_t, 2>{height, width};
  }
};

Engine::Engine(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Engine::Engine(Engine&&) noexcept = default;
Engine& Engine::operator=(Engine&&) noexcept = default;
Engine::~Engine() = default;

Engine Engine::from_file(const format::LbmFile& file, const EngineOptions& opt) {
  LOWBIT_CHECK(opt.chunk >= 1 && opt.chunk <= 4096, file.source(), ": EngineOptions::chunk ", opt.chunk,
               " outside 1..4096");
  LOWBIT_CHECK(opt.threads >= 0 && opt.threads <= kMaxThreads, file.source(), ": EngineOptions::threads ",
               opt.threads, " outside 0..", kMaxThreads, " (0 = all cores)");
  LOWBIT_CHECK(opt.byte_plane_product >= 0 && opt.byte_plane_product <= 81, file.source(),
               ": EngineOptions::byte_plane_product ", opt.byte_plane_product, " outside 0..81 (0 = this CPU's default)");
  auto impl = std::make_unique<Impl>();
  impl->source = file.source();
  impl->opt = opt;
  try {
    impl->plan = make_plan(format::read_model_desc(file), PlanOptions{opt.byte_plane_product, opt.sparse});
  } catch (const Error& e) {
    fail(file.source(), ": ", e.what());
  }
  impl->set_threads(opt.threads > 0 ? opt.threads : omp_get_max_threads());
  return Engine(std::move(impl));
}

Engine Engine::load(const std::string& path, const EngineOptions& opt) {
  return from_file(format::LbmFile::read(path), opt);
}

Engine Engine::from_bytes(const std::vector<uint8_t>& bytes, const std::string& what, const EngineOptions& opt) {
  return from_file(format::LbmFile::parse(bytes.data(), bytes.size(), what), opt);
}

const ModelInfo& Engine::info() const { return impl_->plan.info; }

int Engine::threads() const { return static_cast<int>(impl_->work.size()); }

void Engine::set_threads(int threads) {
  const std::lock_guard<std::mutex> lock(impl_->calls);
  LOWBIT_CHECK(threads >= 1 && threads <= kMaxThreads, "runtime: threads must be in 1..", kMaxThreads, ", got ", threads);
  impl_->set_threads(threads);
}

std::vector<std::vector<int32_t>> Engine::trace(const uint8_t* images, int64_t n, int64_t channels, int64_t height,
                                                int64_t width) {
  const std::lock_guard<std::mutex> lock(impl_->calls);
  Impl& im = *impl_;
  const auto [h, w] = im.fit_images(n, channels, height, width);
  return trace_batch(im.plan, im.work[0], im.opt.chunk, images, n, h, w);
}

void Engine::run(const uint8_t* images, int64_t n, int64_t channels, int64_t height, int64_t width, float* scores,
                 int32_t* predictions) {
  const std::lock_guard<std::mutex> lock(impl_->calls);
  Impl& im = *impl_;
  const auto [h, w] = im.fit_images(n, channels, height, width);
  run_batch(im.plan, im.work, im.opt.chunk, images, n, h, w, scores, predictions);
}

}  // namespace lowbit::runtime
