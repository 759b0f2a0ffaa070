// The training loop: seeded shuffling, mini-batch SGD-family updates with a schedule,
// per-epoch evaluation, metrics.jsonl, atomic checkpoints (last + best) and exact
// resumption. Determinism: the epoch order comes from (seed, epoch), the per-batch
// randomness (dropout, augmentation) from (seed, global step), so a run resumed from
// a checkpoint replays exactly what the uninterrupted run would have done (for the
// same thread count, which fixes the floating-point reduction order).
//
// Data parallelism (docs/DISTRIBUTED.md): given a Communicator of N ranks (mpirun), every
// rank runs the same Trainer; each global batch is split into N contiguous slices of the
// seeded epoch order, the gradients are summed over the ranks (train/gradient_sync.hpp),
// BatchNorm and int:k activation ranges use the whole batch's statistics, the test set is
// evaluated split across the ranks, and rank 0 alone prints and writes the run folder.
// Every rank holds the same weights, quantizer and optimizer state after every step.
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "lowbit/core/communicator.hpp"
#include "lowbit/core/file_io.hpp"
#include "lowbit/data/batch.hpp"
#include "lowbit/data/dataset.hpp"
#include "lowbit/nn/loss.hpp"
#include "lowbit/nn/model.hpp"
#include "lowbit/optim/bop.hpp"
#include "lowbit/optim/low_precision_update.hpp"
#include "lowbit/optim/optimizer.hpp"
#include "lowbit/optim/schedule.hpp"
#include "lowbit/quant/pruning.hpp"
#include "lowbit/train/checkpoint.hpp"
#include "lowbit/train/progress.hpp"

namespace lowbit::train {

using json = nlohmann::json;

// Bounds of the counts a configuration may hold (flags and checkpoints are checked against them).
inline constexpr int64_t kMaxEpochs = 1000000;
inline constexpr int64_t kMaxBatch = int64_t{1} << 20;

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
  // The library of the float GEMMs, kernels::gemm_backend_name: "onednn" or "openblas".
  // Saved in checkpoints: --resume refuses another (the last bits of products differ), and
  // `lowbit eval` evaluates with the checkpoint's. Checkpoints from before it existed were
  // trained with OpenBLAS and read back as "openblas".
  std::string gemm = "onednn";
  // The precision of those products' operands, kernels::gemm_compute_name: "f32" or "bf16"
  // (bfloat16 operands, float32 accumulation, float32 master weights). Saved in checkpoints
  // like `gemm`; absent in older ones, which were "f32".
  std::string compute = "f32";
  // Low-precision training numerics (quant/low_precision.hpp): the formats of activations,
  // errors, gradients, weights, optimizer state and an accumulator. Saved in checkpoints
  // ("low_precision"; absent = all float32); --resume refuses a change.
  quant::LowPrecisionConfig low_precision;
  // PBNN's BatchNorm switch (seed 001, eq. 4-5): from the first epoch in which a progressive
  // quantizer's scale v is >= this value, every BatchNorm trains with frozen running
  // statistics (nn::BatchNorm::set_frozen), so that sign(BN(x)) is the threshold test the
  // deployed network applies; PBNN uses 500. 0 = never. Needs progressive quantizers. Saved
  // in checkpoints (absent = 0); --resume refuses a change.
  float bn_threshold_at = 0.f;
  // Sparse ternary training (quant/pruning.hpp, docs/SPARSITY.md): the quantized L2 penalty
  // (thesis eq. 3.3-3.5) and quantization pruning after given epochs (eq. 3.6-3.8). Saved
  // in checkpoints ("sparsity", only when set); --resume refuses a change.
  quant::SparsityConfig sparsity;
  data::BatchOptions data;
  int64_t eval_batch = 1000;
  int64_t train_limit = 0;  // use only the first N training images (0 = all)
  int64_t test_limit = 0;
  // Start from the model's current weights (and pruning masks) instead of initialising
  // them: fine-tuning (`lowbit train --init-from`). Not saved: a resumed run reloads its own.
  bool keep_weights = false;
  std::string out_dir;  // "" = write no files
  // With out_dir: resume continues the run in it (from last.ckpt; a folder without one starts
  // at epoch 1); overwrite discards an earlier run's files; with neither, a folder holding a
  // run (last.ckpt, best.ckpt or metrics.jsonl) is an error. Not both.
  bool resume = false;
  bool overwrite = false;
  int progress = -1;  // -1: live bar when stdout is a terminal; 0: plain lines; 1: live bar
  bool quiet = false;
};

json to_json(const TrainConfig& c);
// Every value typed and range-checked; lowbit::Error naming the key otherwise.
TrainConfig train_config_from_json(const json& j);
// The training configuration a checkpoint was written with (its "train_config"); the error
// names `source` when it is missing or malformed.
TrainConfig checkpoint_train_config(const Checkpoint& ck, const std::string& source);

// How an epoch's images split into batches: `steps` batches of `batch`, the last one holding
// the rest. A rest too small for the model (BatchNorm needs two values per channel) joins
// the batch before it: `merged` says how many images did (0 = none), as PyTorch's
// drop_last would drop them, but nothing is lost.
struct BatchPlan {
  int64_t images = 0, batch = 1, steps = 0, merged = 0;
  std::pair<int64_t, int64_t> range(int64_t step) const;  // (first image, count) of a step
};
// Throws lowbit::Error, naming the cause, when no partition works (fewer images than
// min_batch, or batch < min_batch).
BatchPlan plan_batches(int64_t images, int64_t batch, int64_t min_batch);

struct EvalResult {
  double loss = 0;
  double accuracy = 0;
  std::vector<int32_t> predictions;  // one per image; empty when evaluated across ranks
};

// Evaluate in inference mode (BatchNorm running stats, no dropout). With a Communicator of
// several ranks, rank r evaluates images [n r / N, n (r+1) / N) and the loss and accuracy
// are those of all n images on every rank (predictions are then left empty). scores, when
// given (one process only), receives the model's outputs (logits): n x classes, row-major.
EvalResult evaluate(nn::Model& model, const data::Dataset& ds, const data::BatchOptions& opt, int64_t batch,
                    const nn::Loss& loss, int64_t limit = 0, Communicator* comm = nullptr,
                    std::vector<float>* scores = nullptr);

// Throws a usage error (lowbit::UsageError) when a per-layer low-precision override
// (--lp-layer, quant::LayerNumerics) matches no layer of `model` at a site it sets: for
// acts and errors a layer whose output is rounded, for grads, weights and state a layer
// owning parameters the formats round (relu_1/weights would change nothing); the message
// lists those layers' names.
void check_layer_overrides(const quant::LowPrecisionConfig& lp, nn::Model& model);

class Trainer {
 public:
  // comm: the group of data-parallel ranks this process trains with (null: this process
  // alone). Every rank constructs its Trainer with the same model and configuration; fit()
  // checks that they did (the same binary, settings, model, data and initial weights), and
  // after every epoch that their weights are still equal. Errors found on every rank alike
  // or on one rank at a step they all take together (the checks, rank 0's files) reach every
  // rank as RelayedError (a lowbit::Error; usage() says whether it was a UsageError); alone,
  // errors pass unchanged. --batch must be at least the ranks.
  Trainer(nn::Model& model, TrainConfig cfg, Communicator* comm = nullptr);
  ~Trainer();

  // Trains for cfg.epochs (continuing from out_dir/last.ckpt when cfg.resume). Everything
  // that can be decided before training is, and fails here with lowbit::Error: data that does
  // not fit the model, a batch partition BatchNorm cannot train on, an output folder that is
  // not writable, is used by another process, or holds a run that neither --resume nor
  // --overwrite was given for. Holds an exclusive lock on out_dir while it runs.
  // Files in out_dir: last.ckpt then best.ckpt after each epoch, then metrics.jsonl, each
  // written atomically; a kill at any moment leaves a state that resume completes (best.ckpt
  // rewritten from last.ckpt when the kill fell between them; metrics rewritten from the
  // checkpoint's history; temporary files removed). Returns the metrics of every epoch,
  // including those before a resume.
  std::vector<EpochMetrics> fit(const data::Dataset& train, const data::Dataset& test);

  // Called after each epoch (after its checkpoint is written); returning false stops
  // training early, as if the process had been killed right there.
  std::function<bool(const EpochMetrics&)> on_epoch_end;

  // What a checkpoint after `epoch_done` epochs holds (save() writes it): the model's
  // tensors and buffers, the optimizers' state (Adam moments, Bop, a low-precision
  // accumulator) and the run's metadata. Every data-parallel rank holds the same tensors.
  Checkpoint state(int64_t epoch_done, const std::vector<EpochMetrics>& history);

  const TrainConfig& config() const { return cfg_; }
  std::string last_checkpoint_path() const;
  std::string best_checkpoint_path() const;

 private:
  EpochMetrics train_epoch(const data::Dataset& train, int64_t epoch);
  // Writes last.ckpt, then best.ckpt too (the same bytes) when `best`.
  void save(int64_t epoch_done, const std::vector<EpochMetrics>& history, bool best);
  // Locks and checks out_dir; true when there is a last.ckpt to resume from.
  bool prepare_out_dir();
  // Loads last.ckpt's bytes (read by rank 0, sent to every rank).
  int64_t restore(const std::vector<uint8_t>& last_ckpt, std::vector<EpochMetrics>& history);
  void repair_best(const std::vector<uint8_t>& last_bytes, int64_t done, int64_t best,
                   const std::vector<EpochMetrics>& history);
  void write_metrics(const std::vector<EpochMetrics>& history);
  std::string out_file(const char* name) const;
  void say(const std::string& line) const;  // one line on stdout unless quiet (or not rank 0)
  // Data parallelism: throws RelayedError (usage) on every rank when the ranks' `mine` (what
  // `what` names) differ from rank 0's, naming the first rank that differs and how.
  void check_ranks_agree(const char* what, const json& mine);
  // "crc32 N" of the model's parameters and buffers: equal on every rank while training.
  std::string weights_crc();
  // Param groups (Bop) and LR scales (Glorot) for the quantized layers.
  void configure_params();
  // Freezes or unfreezes every BatchNorm for this epoch (TrainConfig::bn_threshold_at), from
  // the progressive quantizers' current scale, and says so when it switches.
  void apply_bn_threshold_form(int64_t epoch);
  // Quantization pruning (TrainConfig::sparsity.prune_after) when `epoch` epochs are done:
  // masks every prunable layer, clears the pruned weights' optimizer state, reports zeros.
  void prune_before(int64_t epoch);

  nn::Model& model_;
  TrainConfig cfg_;
  Communicator* comm_;  // never null: single_process() when training alone
  bool quiet_;          // cfg_.quiet, or a rank other than 0
  std::unique_ptr<nn::Loss> loss_;
  std::unique_ptr<optim::Optimizer> optimizer_;
  std::unique_ptr<optim::Bop> bop_;  // when binary_optimizer == "bop"
  std::unique_ptr<optim::LowPrecisionUpdate> low_precision_;  // when cfg_.low_precision.active()
  bool quant_l2_ = false;  // some layer has a quantized L2 penalty (cfg_.sparsity)
  optim::LrSchedule schedule_;
  Progress progress_;
  double best_acc_ = -1;
  BatchPlan batches_;
  json data_id_;  // the training images: count and CRC-32, kept in checkpoints for --resume
  std::unique_ptr<FolderLock> lock_;
  // Scratch reused across batches.
  Tensor x_, dlogits_;
  std::vector<int32_t> labels_, predicted_;
  std::vector<float> gradient_scratch_;
};

json metrics_to_json(const EpochMetrics& m);
EpochMetrics metrics_from_json(const json& j);

}  // namespace lowbit::train
