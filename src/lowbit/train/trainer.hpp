// The training loop: seeded shuffling, mini-batch SGD-family updates with a schedule,
// per-epoch evaluation, metrics.jsonl, atomic checkpoints (last + best) and exact
// resumption. Determinism: the epoch order comes from (seed, epoch), the per-batch
// randomness (dropout, augmentation) from (seed, global step), so a run resumed from
// a checkpoint replays exactly what the uninterrupted run would have done (for the
// same thread count, which fixes the floating-point reduction order).
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "lowbit/data/batch.hpp"
#include "lowbit/data/dataset.hpp"
#include "lowbit/nn/loss.hpp"
#include "lowbit/nn/model.hpp"
#include "lowbit/optim/bop.hpp"
#include "lowbit/optim/optimizer.hpp"
#include "lowbit/optim/schedule.hpp"
#include "lowbit/train/progress.hpp"

namespace lowbit::train {

using json = nlohmann::json;

struct TrainConfig {
  int64_t epochs = 10;
  int64_t batch = 100;
  float lr = 1e-3f;
  std::string schedule = "cosine";  // see optim/schedule.hpp
  float warmup_epochs = 0.f;
  optim::OptimizerConfig optimizer;
  // Optimizer for 1-bit weights: "none" (the main optimizer updates latent weights) or
  // "bop" (Bop owns them; the main optimizer the rest).
  std::string binary_optimizer = "none";
  optim::BopOptions bop;
  // Per-layer LR scale for layers with sign-family weights: "none" or "glorot"
  // (BinaryNet: 1 / sqrt(1.5 / (fan_in + fan_out))).
  std::string lr_scale = "none";
  std::string loss = "cross_entropy";
  uint64_t seed = 1;
  int threads = 0;  // 0 = all cores
  data::BatchOptions data;
  int64_t eval_batch = 1000;
  int64_t train_limit = 0;  // use only the first N training images (0 = all)
  int64_t test_limit = 0;
  std::string out_dir;  // "" = write no files
  bool resume = false;
  int progress = -1;  // -1: live bar when stdout is a terminal; 0: plain lines; 1: live bar
  bool quiet = false;
};

json to_json(const TrainConfig& c);
TrainConfig train_config_from_json(const json& j);

struct EvalResult {
  double loss = 0;
  double accuracy = 0;
  std::vector<int32_t> predictions;
};

// Evaluate in inference mode (BatchNorm running stats, no dropout).
EvalResult evaluate(nn::Model& model, const data::Dataset& ds, const data::BatchOptions& opt, int64_t batch,
                    const nn::Loss& loss, int64_t limit = 0);

class Trainer {
 public:
  Trainer(nn::Model& model, TrainConfig cfg);
  ~Trainer();

  // Trains for cfg.epochs (continuing from out_dir/last.ckpt when cfg.resume).
  // Returns the metrics of every epoch, including those before a resume.
  std::vector<EpochMetrics> fit(const data::Dataset& train, const data::Dataset& test);

  // Called after each epoch (after its checkpoint is written); returning false stops
  // training early, as if the process had been killed right there.
  std::function<bool(const EpochMetrics&)> on_epoch_end;

  const TrainConfig& config() const { return cfg_; }
  std::string last_checkpoint_path() const;
  std::string best_checkpoint_path() const;

 private:
  EpochMetrics train_epoch(const data::Dataset& train, int64_t epoch);
  // Writes last.ckpt, and best.ckpt too (the same bytes) when `best`.
  void save(int64_t epoch_done, const std::vector<EpochMetrics>& history, bool best);
  int64_t restore(std::vector<EpochMetrics>& history);
  void write_metrics(const std::vector<EpochMetrics>& history);
  // Param groups (Bop) and LR scales (Glorot) for the quantized layers.
  void configure_params();

  nn::Model& model_;
  TrainConfig cfg_;
  std::unique_ptr<nn::Loss> loss_;
  std::unique_ptr<optim::Optimizer> optimizer_;
  std::unique_ptr<optim::Bop> bop_;  // when binary_optimizer == "bop"
  optim::LrSchedule schedule_;
  Progress progress_;
  double best_acc_ = -1;
  // Scratch reused across batches.
  Tensor x_, dlogits_;
  std::vector<int32_t> labels_, predicted_;
};

json metrics_to_json(const EpochMetrics& m);
EpochMetrics metrics_from_json(const json& j);

}  // namespace lowbit::train
