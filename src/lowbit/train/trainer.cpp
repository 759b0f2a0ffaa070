#include "lowbit/train/trainer.hpp"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <sstream>

#include "lowbit/core/error.hpp"
#include "lowbit/core/file_io.hpp"
#include "lowbit/core/fp_env.hpp"
#include "lowbit/core/json_get.hpp"
#include "lowbit/core/threading.hpp"
#include "lowbit/dist/launch.hpp"
#include "lowbit/kernels/gemm.hpp"
#include "lowbit/format/input_fit.hpp"
#include "lowbit/nn/batchnorm.hpp"
#include "lowbit/nn/pruning.hpp"
#include "lowbit/quant/progressive.hpp"
#include "lowbit/quant/quantizer.hpp"
#include "lowbit/train/checkpoint.hpp"
#include "lowbit/train/gradient_sync.hpp"

namespace lowbit::train {

namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// The flags whose values differ between two training configurations (defined below).
std::string config_difference(const json& saved, const json& now);

// Streams of randomness, each derived from (seed, counter) so they can be replayed.
constexpr uint64_t kBatchStream = 0xB47C4ull;

optim::ScheduleConfig schedule_config(const TrainConfig& c) {
  optim::ScheduleConfig d;
  d.base_lr = c.lr;
  d.epochs = c.epochs;
  d.warmup_epochs = c.warmup_epochs;
  return optim::parse_schedule(c.schedule, d);
}

void check_data_fits(const nn::Model& model, const data::Dataset& ds) {
  format::check_images_fit(model.input_shape(), ds.channels, ds.height, ds.width,
                           cat("dataset ", ds.name, " and model ", model.name()));
  const Shape out = model.output_shape();
  LOWBIT_CHECK(out.size() == 1 && out[0] >= ds.num_classes, "dataset ", ds.name, " has ", ds.num_classes,
               " classes but model ", model.name(), " gives ", shape_str(out), " scores per image");
}

// A batch of images in the model's input layout: (N, C, H, W) as make_batch builds it, or
// (N, F) for a flat model ([F], each image's values in stored order).
void make_model_batch(const nn::Model& model, const data::Dataset& ds, const int64_t* idx, int64_t count,
                      const data::BatchOptions& opt, Rng& rng, Tensor& x, std::vector<int32_t>& labels) {
  data::make_batch(ds, idx, count, opt, rng, x, labels);
  if (model.input_shape().size() == 1) x.reshape({count, model.input_shape()[0]});
}

data::BatchOptions batch_options_for(const nn::Model& model, data::BatchOptions opt) {
  if (model.input_shape().size() == 3) {
    opt.out_height = static_cast<int>(model.input_shape()[1]);
    opt.out_width = static_cast<int>(model.input_shape()[2]);
  }
  return opt;
}

}  // namespace

json to_json(const TrainConfig& c) {
  json j = {{"epochs", c.epochs},
          {"batch", c.batch},
          {"lr", c.lr},
          {"schedule", c.schedule},
          {"warmup_epochs", c.warmup_epochs},
          {"optimizer",
           {{"name", c.optimizer.name},
            {"momentum", c.optimizer.momentum},
            {"nesterov", c.optimizer.nesterov},
            {"weight_decay", c.optimizer.weight_decay},
            {"beta1", c.optimizer.beta1},
            {"beta2", c.optimizer.beta2},
            {"eps", c.optimizer.eps}}},
          {"binary_optimizer", c.binary_optimizer},
          {"bop", {{"gamma", c.bop.gamma}, {"threshold", c.bop.threshold}}},
          {"lr_scale", c.lr_scale},
          {"loss", c.loss},
          {"seed", c.seed},
          {"threads", c.threads},
          {"gemm", c.gemm},
          {"compute", c.compute},
          {"low_precision", quant::to_json(c.low_precision)},
          {"bn_threshold_at", c.bn_threshold_at},
          {"data",
           {{"normalize", data::normalize_name(c.data.normalize)},
            {"random_crop", c.data.augment.random_crop},
            {"crop_pad", c.data.augment.crop_pad},
            {"hflip", c.data.augment.hflip}}},
          {"eval_batch", c.eval_batch},
          {"train_limit", c.train_limit},
          {"test_limit", c.test_limit}};
  // Written only when set, so that runs from before it resume unchanged.
  if (c.sparsity.active()) j["sparsity"] = quant::to_json(c.sparsity);
  return j;
}

TrainConfig train_config_from_json(const json& j) {
  // Read back from a checkpoint: every value typed and range-checked (core/json_get.hpp).
  constexpr const char* w = "training configuration in checkpoint";
  constexpr double kHuge = 1e30;
  constexpr int64_t kMaxCount = int64_t{1} << 40;
  TrainConfig c;
  c.epochs = json_int(j, "epochs", 1, kMaxEpochs, w);
  c.batch = json_int(j, "batch", 1, kMaxBatch, w);
  c.lr = static_cast<float>(json_number(j, "lr", 0, kHuge, w));
  c.schedule = json_string(j, "schedule", w);
  c.warmup_epochs = static_cast<float>(json_number(j, "warmup_epochs", 0, static_cast<double>(kMaxEpochs), w));
  const json& o = json_member(j, "optimizer", w);
  const std::string ow = std::string(w) + ": optimizer";
  c.optimizer.name = json_string(o, "name", ow);
  c.optimizer.momentum = static_cast<float>(json_number(o, "momentum", -kHuge, kHuge, ow));
  c.optimizer.nesterov = json_bool(o, "nesterov", ow);
  c.optimizer.weight_decay = static_cast<float>(json_number(o, "weight_decay", -kHuge, kHuge, ow));
  c.optimizer.beta1 = static_cast<float>(json_number(o, "beta1", -kHuge, kHuge, ow));
  c.optimizer.beta2 = static_cast<float>(json_number(o, "beta2", -kHuge, kHuge, ow));
  c.optimizer.eps = static_cast<float>(json_number(o, "eps", -kHuge, kHuge, ow));
  // Absent in checkpoints written before quantization-aware training existed.
  c.binary_optimizer = json_string_or(j, "binary_optimizer", "none", w);
  if (j.contains("bop")) {
    c.bop.gamma = static_cast<float>(json_number(j.at("bop"), "gamma", -kHuge, kHuge, std::string(w) + ": bop"));
    c.bop.threshold = static_cast<float>(json_number(j.at("bop"), "threshold", -kHuge, kHuge, std::string(w) + ": bop"));
  }
  c.lr_scale = json_string_or(j, "lr_scale", "none", w);
  c.loss = json_string(j, "loss", w);
  const json& seed = json_member(j, "seed", w);
  LOWBIT_CHECK(seed.is_number_unsigned(), w, ": 'seed' must be an integer in 0..", UINT64_MAX, ", got ", seed.dump());
  c.seed = seed.get<uint64_t>();
  c.threads = static_cast<int>(json_int(j, "threads", 0, kMaxThreads, w));
  // Absent before training GEMMs moved to oneDNN: those runs used OpenBLAS.
  c.gemm = json_string_or(j, "gemm", "openblas", w);
  LOWBIT_CHECK(c.gemm == "onednn" || c.gemm == "openblas", w, ": 'gemm' must be \"onednn\" or \"openblas\", got \"",
               c.gemm, "\"");
  c.compute = json_string_or(j, "compute", "f32", w);
  LOWBIT_CHECK(c.compute == "f32" || c.compute == "bf16", w, ": 'compute' must be \"f32\" or \"bf16\", got \"",
               c.compute, "\"");
  // Absent before low-precision training existed: all float32.
  if (j.contains("low_precision")) c.low_precision = quant::low_precision_from_json(j.at("low_precision"), w);
  // Absent before PBNN's BatchNorm switch existed: never.
  if (j.contains("bn_threshold_at")) {
    c.bn_threshold_at = static_cast<float>(json_number(j, "bn_threshold_at", 0, kHuge, w));
    LOWBIT_CHECK(c.bn_threshold_at == 0 || c.bn_threshold_at >= 1, w,
                 ": 'bn_threshold_at' must be 0 or a progressive scale >= 1, got ", c.bn_threshold_at);
  }
  if (j.contains("sparsity")) c.sparsity = quant::sparsity_from_json(j.at("sparsity"), std::string(w) + ": sparsity");
  const json& d = json_member(j, "data", w);
  const std::string dw = std::string(w) + ": data";
  c.data.normalize = data::parse_normalize(json_string(d, "normalize", dw));
  c.data.augment.random_crop = json_bool(d, "random_crop", dw);
  c.data.augment.crop_pad = static_cast<int>(json_int(d, "crop_pad", 0, 1 << 10, dw));
  c.data.augment.hflip = json_bool(d, "hflip", dw);
  c.eval_batch = json_int(j, "eval_batch", 1, kMaxBatch, w);
  c.train_limit = json_int(j, "train_limit", 0, kMaxCount, w);
  c.test_limit = json_int(j, "test_limit", 0, kMaxCount, w);
  return c;
}

TrainConfig checkpoint_train_config(const Checkpoint& ck, const std::string& source) {
  LOWBIT_CHECK(ck.meta.contains("train_config"), source, ": checkpoint lacks the training configuration");
  try {
    return train_config_from_json(ck.meta.at("train_config"));
  } catch (const Error& e) {
    fail(source, ": ", e.what());
  }
}

json metrics_to_json(const EpochMetrics& m) {
  json j = {{"epoch", m.epoch},         {"loss", m.loss},         {"train_acc", m.train_acc},
          {"test_loss", m.test_loss}, {"test_acc", m.test_acc}, {"seconds", m.seconds},
          {"eval_seconds", m.eval_seconds}, {"lr", m.lr},       {"images_per_second", m.images_per_second},
          {"flip_ratio", m.flip_ratio}, {"weight_zeros", m.weight_zeros}};
  if (m.allreduce_seconds >= 0) j["allreduce_seconds"] = m.allreduce_seconds;  // data-parallel runs only
  return j;
}

EpochMetrics metrics_from_json(const json& j) {
  constexpr const char* w = "epoch metrics in checkpoint";
  constexpr double kHuge = 1e300;
  EpochMetrics m;
  m.epoch = json_int(j, "epoch", 1, kMaxEpochs, w);
  auto number = [&](const char* key, double fallback) {
    return j.contains(key) ? json_number(j, key, -kHuge, kHuge, w) : fallback;
  };
  m.loss = number("loss", 0.0);
  m.train_acc = json_number(j, "train_acc", 0, 1, w);
  m.test_loss = number("test_loss", 0.0);
  m.test_acc = json_number(j, "test_acc", 0, 1, w);
  m.seconds = number("seconds", 0.0);
  m.eval_seconds = number("eval_seconds", 0.0);
  m.lr = number("lr", 0.0);
  m.images_per_second = number("images_per_second", 0.0);
  m.flip_ratio = number("flip_ratio", -1.0);
  m.weight_zeros = number("weight_zeros", -1.0);
  m.allreduce_seconds = number("allreduce_seconds", -1.0);
  return m;
}

EvalResult evaluate(nn::Model& model, const data::Dataset& ds, const data::BatchOptions& opt, int64_t batch,
                    const nn::Loss& loss, int64_t limit, Communicator* comm, std::vector<float>* scores) {
  enter_fp_contract_all_threads();  // the float mode export and the runtime compute in (core/fp_env.hpp)
  check_data_fits(model, ds);
  const data::BatchOptions bopt = batch_options_for(model, {opt.normalize, {}, 0, 0});  // no augmentation
  const int64_t all = limit > 0 ? std::min(limit, ds.size()) : ds.size();
  LOWBIT_CHECK(batch > 0, "evaluation batch size must be positive");
  // This rank's images [first, n): all of them alone, a contiguous share across ranks.
  const bool split = comm && comm->distributed();
  LOWBIT_CHECK(!(split && scores), "evaluate: scores are kept by one process only");
  const auto [first, n] = (split ? *comm : single_process()).share(all);
  if (scores) scores->clear();
  EvalResult r;
  r.predictions.resize(static_cast<size_t>(n - first));
  std::vector<int64_t> idx(static_cast<size_t>(batch));
  std::vector<int32_t> labels;
  Tensor x;
  Rng rng(0);
  nn::Context ctx{false, &rng};
  int64_t correct = 0;
  double loss_sum = 0;
  for (int64_t start = first; start < n; start += batch) {
    const int64_t count = std::min(batch, n - start);
    for (int64_t i = 0; i < count; ++i) idx[static_cast<size_t>(i)] = start + i;
    make_model_batch(model, ds, idx.data(), count, bopt, rng, x, labels);
    const Tensor& logits = model.forward(x, ctx);
    if (scores) scores->insert(scores->end(), logits.data(), logits.data() + logits.size());
    loss_sum += loss.compute(logits, labels.data(), nullptr) * static_cast<double>(count);
    int32_t* pred = r.predictions.data() + (start - first);
    nn::argmax_rows(logits, pred);
    for (int64_t i = 0; i < count; ++i) correct += pred[i] == labels[static_cast<size_t>(i)];
  }
  if (split) {
    double sums[2] = {loss_sum, static_cast<double>(correct)};
    comm->sum(sums, 2);
    loss_sum = sums[0];
    correct = static_cast<int64_t>(sums[1]);
    r.predictions.clear();
  }
  r.accuracy = all ? static_cast<double>(correct) / static_cast<double>(all) : 0.0;
  r.loss = all ? loss_sum / static_cast<double>(all) : 0.0;
  return r;
}

namespace {

// A configuration's own mistakes are usage errors (lowbit::UsageError, exit code 2 in the
// CLI): the parts built from it (loss, schedule, optimizers) report theirs as Error.
template <class F>
auto as_usage_error(F&& build) -> decltype(build()) {
  try {
    return build();
  } catch (const UsageError&) {
    throw;
  } catch (const Error& e) {
    throw UsageError(e.what());
  }
}

}  // namespace

Trainer::Trainer(nn::Model& model, TrainConfig cfg, Communicator* comm)
    : model_(model),
      cfg_(std::move(cfg)),
      comm_(comm ? comm : &single_process()),
      quiet_(cfg_.quiet || !comm_->root()),
      loss_(as_usage_error([&] { return nn::make_loss(cfg_.loss); })),
      schedule_(as_usage_error([&] { return optim::LrSchedule(schedule_config(cfg_)); })),
      progress_(cfg_.progress < 0 ? Progress::stdout_is_terminal() : cfg_.progress == 1, std::cout) {
  // Everything a configuration can get wrong is found here, before any work: a bad
  // --eval-batch used to surface after the first epoch's training.
  LOWBIT_CHECK_USAGE(cfg_.epochs >= 1 && cfg_.epochs <= kMaxEpochs, "--epochs must be in 1..", kMaxEpochs, ", got ",
                     cfg_.epochs);
  LOWBIT_CHECK_USAGE(cfg_.batch >= 1 && cfg_.batch <= kMaxBatch, "--batch must be in 1..", kMaxBatch, ", got ", cfg_.batch);
  LOWBIT_CHECK_USAGE(cfg_.batch >= comm_->size(), "--batch ", cfg_.batch, " is split across ", comm_->size(),
                     " data-parallel ranks and must give each at least one image: use --batch >= ", comm_->size(),
                     " or fewer ranks");
  LOWBIT_CHECK_USAGE(cfg_.eval_batch >= 1 && cfg_.eval_batch <= kMaxBatch, "--eval-batch must be in 1..", kMaxBatch,
                     ", got ", cfg_.eval_batch);
  LOWBIT_CHECK_USAGE(cfg_.train_limit >= 0 && cfg_.test_limit >= 0,
                     "--train-limit and --test-limit must be >= 0 (0 = all), got ", cfg_.train_limit, " and ",
                     cfg_.test_limit);
  LOWBIT_CHECK_USAGE(cfg_.gemm == "onednn" || cfg_.gemm == "openblas", "--gemm must be onednn or openblas, got '",
                     cfg_.gemm, "'");
  LOWBIT_CHECK_USAGE(cfg_.compute == "f32" || cfg_.compute == "bf16", "--compute must be f32 or bf16, got '",
                     cfg_.compute, "'");
  LOWBIT_CHECK_USAGE(cfg_.threads >= 0 && cfg_.threads <= kMaxThreads, "--threads must be in 0..", kMaxThreads,
                     " (0 = all cores), got ", cfg_.threads);
  LOWBIT_CHECK_USAGE(std::isfinite(cfg_.lr) && cfg_.lr > 0, "--lr must be a positive number, got ", cfg_.lr);
  LOWBIT_CHECK_USAGE(std::isfinite(cfg_.warmup_epochs) && cfg_.warmup_epochs >= 0, "--warmup must be >= 0 epochs, got ",
                     cfg_.warmup_epochs);
  LOWBIT_CHECK_USAGE(!cfg_.resume || !cfg_.out_dir.empty(), "--resume needs --out DIR holding last.ckpt");
  LOWBIT_CHECK_USAGE(!(cfg_.resume && cfg_.overwrite),
                     "--resume continues the run in --out and --overwrite discards it: choose one");
  LOWBIT_CHECK_USAGE(cfg_.bn_threshold_at == 0 || (std::isfinite(cfg_.bn_threshold_at) && cfg_.bn_threshold_at >= 1),
                     "--bn-threshold-at must be 0 (never) or a progressive scale v >= 1, got ", cfg_.bn_threshold_at);
  if (cfg_.bn_threshold_at > 0) {
    bool progressive = false, batchnorm = false;
    float vmax = 0.f;
    for (quant::Quantizer* q : model_.quantizers())
      if (dynamic_cast<quant::ProgressiveQuantizer*>(q)) {
        progressive = true;
        vmax = std::max(vmax, q->spec().vmax);
      }
    for (nn::Layer* l : model_.leaf_layers()) batchnorm = batchnorm || dynamic_cast<nn::BatchNorm*>(l) != nullptr;
    LOWBIT_CHECK_USAGE(progressive, "--bn-threshold-at switches BatchNorm once the progressive quantizers' scale v "
                       "reaches it, and ", model_.name(), " has none: train with --weights/--acts progressive[:V]");
    LOWBIT_CHECK_USAGE(cfg_.bn_threshold_at <= vmax, "--bn-threshold-at ", cfg_.bn_threshold_at,
                       " is never reached: the progressive quantizers' scale v rises to ", vmax, " at most");
    LOWBIT_CHECK_USAGE(batchnorm, "--bn-threshold-at switches BatchNorm layers, and ", model_.name(), " has none");
  }
  as_usage_error([&] {
    configure_params();
    optimizer_ = optim::make_optimizer(cfg_.optimizer, model_.params());
    if (cfg_.binary_optimizer == "bop") bop_ = std::make_unique<optim::Bop>(model_.params(), cfg_.bop);
    check_layer_overrides(cfg_.low_precision, model_);
    nn::check_sparsity_config(model_, cfg_.sparsity);
    for (nn::WeightedLayer* l : model_.weighted_layers()) quant_l2_ = quant_l2_ || cfg_.sparsity.quant_l2_of(l->name()) > 0;
    if (cfg_.sparsity.prunes()) {
      LOWBIT_CHECK_USAGE(cfg_.sparsity.prune_after.back() < cfg_.epochs, "--prune-after ",
                         cfg_.sparsity.prune_after.back(), " leaves no epoch to retrain in (--epochs ", cfg_.epochs, ")");
      std::string prunable;
      for (nn::WeightedLayer* l : model_.weighted_layers())
        if (nn::unprunable_reason(*l).empty()) prunable += " " + l->name();
      LOWBIT_CHECK_USAGE(!prunable.empty(), "--prune-after: no layer of ", model_.name(),
                         " can be pruned: quantization pruning needs weights with a zero level (e.g. --weights ternary:0.9)");
      // Every layer to prune needs its sigma now, not after the first epochs.
      for (nn::WeightedLayer* l : model_.weighted_layers())
        if (nn::unprunable_reason(*l).empty() && cfg_.sparsity.prune_sigma_of(l->name()) < 0 &&
            nn::quantization_threshold(*l) < 0)
          usage_fail("--prune-after: ", l->name(), "'s quantizer '", l->quant().weight_spec(),
                     "' has no fixed threshold eta to prune at: give --prune-sigma (or --prune-sigma-layer ", l->name(),
                     "=S), or use ternary:ETA");
    }
    if (cfg_.low_precision.active())
      low_precision_ = std::make_unique<optim::LowPrecisionUpdate>(cfg_.low_precision, model_.named_params(), cfg_.seed);
    return 0;
  });
}

namespace {
// The names of the layers whose outputs the low-precision formats round (every layer but
// nested Sequentials; nn/sequential.cpp), in execution order.
void rounding_layer_names(nn::Layer& layer, std::vector<std::string>& out) {
  if (nn::rounds_output(layer)) out.push_back(layer.name());
  for (nn::Layer* k : layer.children()) rounding_layer_names(*k, out);
}
}  // namespace

void Trainer::apply_bn_threshold_form(int64_t epoch) {
  if (cfg_.bn_threshold_at <= 0) return;
  float v = 0.f;
  for (quant::Quantizer* q : model_.quantizers())
    if (auto* p = dynamic_cast<quant::ProgressiveQuantizer*>(q)) v = std::max(v, p->v());
  const bool frozen = v >= cfg_.bn_threshold_at;
  bool changed = false;
  for (nn::Layer* l : model_.leaf_layers())
    if (auto* bn = dynamic_cast<nn::BatchNorm*>(l)) {
      changed = changed || bn->frozen() != frozen;
      bn->set_frozen(frozen);
    }
  if (changed && frozen)
    say(cat("epoch ", epoch + 1, ": progressive scale v = ", v, " >= ", cfg_.bn_threshold_at,
            ": BatchNorm trains in its threshold form (running statistics; PBNN eq. 4-5)"));
}

void Trainer::prune_before(int64_t epoch) {
  const std::vector<int64_t>& after = cfg_.sparsity.prune_after;
  if (std::find(after.begin(), after.end(), epoch) == after.end()) return;
  const std::vector<nn::LayerZeros> z = nn::quantization_prune(model_, cfg_.sparsity);
  optimizer_->apply_masks();
  if (bop_) bop_->apply_masks();
  if (low_precision_) low_precision_->reset_accumulator();  // the high-precision copy holds the pruned weights too
  best_acc_ = -1;  // best.ckpt follows the pruned model from here on (thesis Algorithm 1: the retrained net)
  say(cat("quantization pruning after epoch ", epoch, " (thesis eq. 3.6; pruned weights now stay 0):\n",
          nn::zeros_table(z)));
}

void check_layer_overrides(const quant::LowPrecisionConfig& lp, nn::Model& model) {
  if (lp.layers.empty()) return;
  // acts and errors: every layer whose output is rounded; grads, weights and state: the
  // layers owning parameters the formats round (not learned quantizer scales).
  std::vector<std::string> outputs, owners;
  rounding_layer_names(model.net(), outputs);
  for (const nn::NamedParam& p : model.named_params()) {
    if (!quant::rounds_parameter(p.name)) continue;
    const std::string layer = quant::layer_of_parameter(p.name);
    if (owners.empty() || owners.back() != layer) owners.push_back(layer);
  }
  auto require_match = [&](const quant::LayerNumerics& l, const std::vector<std::string>& names, const char* what) {
    for (const std::string& n : names)
      if (l.matches(n)) return;
    std::string list;
    for (const std::string& n : names) list += cat(list.empty() ? "" : ", ", n);
    usage_fail("--lp-layer: pattern '", l.match, "' matches no layer of ", model.name(), what, list, ")");
  };
  for (const quant::LayerNumerics& l : lp.layers) {
    if (l.acts || l.errors) require_match(l, outputs, " (its layers: ");
    if (l.grads || l.weights || l.state) require_match(l, owners, " with parameters to round (those layers: ");
  }
}

namespace {
// Layers whose weights are 1-bit signs: what Bop, the Glorot scale and the flip ratio are about.
bool has_sign_weights(nn::WeightedLayer& l) {
  const quant::Quantizer* q = l.quant().weight_quantizer();
  return q && q->bits() == 1;
}

// An optimizer's scalar state goes to meta[meta_key], its tensors to PREFIX + name.
void add_optimizer_state(Checkpoint& ck, optim::Optimizer& opt, const char* meta_key, const std::string& prefix) {
  ck.meta[meta_key] = opt.state_json();
  for (auto& [name, t] : opt.state_tensors()) ck.tensors.emplace_back(prefix + name, *t);
}

void load_optimizer_state(const Checkpoint& ck, optim::Optimizer& opt, const json& meta, const std::string& prefix,
                          const char* what, const std::string& path) {
  opt.load_state_json(meta);
  for (auto& [name, t] : opt.state_tensors()) {
    const Tensor* src = ck.find(prefix + name);
    if (!src || src->shape() != t->shape()) fail(path, ": ", what, " state '", name, "' missing or of the wrong shape");
    *t = *src;
  }
}
}  // namespace

void Trainer::configure_params() {
  LOWBIT_CHECK(cfg_.binary_optimizer == "none" || cfg_.binary_optimizer == "bop",
               "--binary-optimizer must be none or bop, got '", cfg_.binary_optimizer, "'");
  LOWBIT_CHECK(cfg_.lr_scale == "none" || cfg_.lr_scale == "glorot", "--lr-scale must be none or glorot, got '",
               cfg_.lr_scale, "'");
  int64_t binary_layers = 0;
  for (nn::WeightedLayer* l : model_.weighted_layers()) {
    Param& w = l->weight();
    const bool sign = has_sign_weights(*l);
    binary_layers += sign;
    w.group = sign && cfg_.binary_optimizer == "bop" ? "binary" : "";
    w.lr_scale = 1.f;
    if (cfg_.lr_scale == "glorot" && l->quant().weight_quantizer() && l->quant().weight_quantizer()->latent_clip() > 0)
      w.lr_scale = static_cast<float>(1.0 / std::sqrt(1.5 / static_cast<double>(l->fan_in() + l->fan_out())));
  }
  if (cfg_.binary_optimizer == "bop" && binary_layers == 0)
    usage_fail("--binary-optimizer bop needs 1-bit weights (e.g. --weights binary); this model has none");
  if (cfg_.lr_scale == "glorot" && binary_layers == 0)
    usage_fail("--lr-scale glorot scales the learning rate of 1-bit (sign) weights; this model has none");
}

Trainer::~Trainer() = default;

std::string Trainer::last_checkpoint_path() const { return cfg_.out_dir + "/last.ckpt"; }
std::string Trainer::best_checkpoint_path() const { return cfg_.out_dir + "/best.ckpt"; }

EpochMetrics Trainer::train_epoch(const data::Dataset& train, int64_t epoch) {
  const int64_t n = batches_.images, steps = batches_.steps;
  std::vector<int64_t> order = data::epoch_order(n, cfg_.seed, epoch);
  const data::BatchOptions bopt = batch_options_for(model_, cfg_.data);
  if (!quiet_) progress_.start_epoch(epoch + 1, cfg_.epochs, steps);

  // Signs of the 1-bit latent weights at the start of the epoch, for the flip ratio.
  std::vector<const Tensor*> sign_weights;
  std::vector<std::vector<uint8_t>> signs;
  for (nn::WeightedLayer* l : model_.weighted_layers()) {
    if (!has_sign_weights(*l)) continue;
    const Tensor& w = l->weight().value;
    sign_weights.push_back(&w);
    std::vector<uint8_t>& b = signs.emplace_back(static_cast<size_t>(w.size()));
    for (int64_t i = 0; i < w.size(); ++i) b[static_cast<size_t>(i)] = w[i] >= 0.f;
  }

  auto t0 = Clock::now();
  double loss_sum = 0;
  int64_t correct = 0, seen = 0;
  double comm_seconds = 0;
  float lr = 0;
  for (int64_t step = 0; step < steps; ++step) {
    const auto [start, count] = batches_.range(step);
    // This rank's rows [lo, hi) of the step's batch (all of them when training alone). It
    // draws the augmentation of the images before and after its slice too, so that its
    // stream stays where one process building the whole batch would leave it.
    const auto [lo, hi] = comm_->share(count);
    Rng rng(cfg_.seed ^ kBatchStream, static_cast<uint64_t>(epoch * steps + step));
    data::skip_batch_draws(rng, lo, bopt.augment);
    make_model_batch(model_, train, order.data() + start + lo, hi - lo, bopt, rng, x_, labels_);
    data::skip_batch_draws(rng, count - hi, bopt.augment);
    const uint64_t global_step = static_cast<uint64_t>(epoch * steps + step);
    nn::Context ctx{true, &rng};
    if (comm_->distributed()) {
      ctx.comm = comm_;
      ctx.row_offset = lo;
    }
    if (low_precision_) {
      ctx.numerics = &cfg_.low_precision;
      ctx.seed = cfg_.seed;
      ctx.step = global_step;
    }
    const Tensor& logits = model_.forward(x_, ctx);
    // This slice's part of the batch mean; summed over the ranks with the step's count of
    // correct predictions, so that every rank sees the batch's loss (and stops together).
    double step_sums[2] = {loss_->compute(logits, labels_.data(), &dlogits_, count), 0.0};
    predicted_.resize(static_cast<size_t>(hi - lo));
    nn::argmax_rows(logits, predicted_.data());
    for (int64_t i = 0; i < hi - lo; ++i) step_sums[1] += predicted_[static_cast<size_t>(i)] == labels_[static_cast<size_t>(i)];
    auto t_comm = Clock::now();
    comm_->sum(step_sums, 2);
    comm_seconds += seconds_since(t_comm);
    const double loss = step_sums[0];
    correct += static_cast<int64_t>(step_sums[1]);
    if (!std::isfinite(loss)) {
      const std::string keep = cfg_.out_dir.empty()          ? std::string("no --out was given")
                               : file_exists(last_checkpoint_path()) ? cat("the last good checkpoint is kept in ", last_checkpoint_path())
                                                                    : std::string("no checkpoint had been written yet");
      // Every rank finds it at once; rank 0 says it.
      throw RelayedError(cat("training diverged: loss is ", std::isnan(loss) ? "NaN" : loss > 0 ? "+inf" : "-inf",
                             " at epoch ", epoch + 1, ", batch ", step + 1, "; stopped without saving (", keep,
                             "). Try a lower --lr."),
                         false, comm_->root());
    }
    model_.backward(dlogits_);
    t_comm = Clock::now();
    sum_gradients(*comm_, model_.params(), gradient_scratch_);  // the batch's gradient on every rank
    comm_seconds += seconds_since(t_comm);
    if (quant_l2_) nn::add_quantized_l2(model_, cfg_.sparsity);
    lr = schedule_.at(epoch, step, steps);
    if (low_precision_) {
      // Pruned gradients go before the formats see them: a block format's shared exponent
      // must come from the gradients that are applied (the optimizer zeroes them too).
      for (nn::Param* p : model_.params())
        if (p->masked())
          for (int64_t i = 0; i < p->grad.size(); ++i) p->grad[i] = p->mask[i] != 0.f ? p->grad[i] : 0.f;
      std::vector<optim::Optimizer*> optimizers{optimizer_.get()};
      if (bop_) optimizers.push_back(bop_.get());
      low_precision_->step(global_step, lr, optimizers);
    } else {
      optimizer_->step(lr);
      if (bop_) bop_->step(lr);
    }
    loss_sum += loss * static_cast<double>(count);
    seen += count;
    if (!quiet_)
      progress_.update(step + 1, loss_sum / static_cast<double>(seen), static_cast<double>(correct) / static_cast<double>(seen),
                     static_cast<double>(seen) / seconds_since(t0));
  }
  EpochMetrics m;
  m.epoch = epoch + 1;
  m.seconds = seconds_since(t0);
  m.loss = loss_sum / static_cast<double>(seen);
  m.train_acc = static_cast<double>(correct) / static_cast<double>(seen);
  m.lr = lr;
  m.images_per_second = static_cast<double>(seen) / m.seconds;
  if (comm_->distributed()) m.allreduce_seconds = comm_seconds;
  if (!sign_weights.empty()) {
    int64_t flips = 0, total = 0;
    for (size_t k = 0; k < sign_weights.size(); ++k) {
      const Tensor& w = *sign_weights[k];
      for (int64_t i = 0; i < w.size(); ++i) flips += (w[i] >= 0.f) != (signs[k][static_cast<size_t>(i)] != 0);
      total += w.size();
    }
    m.flip_ratio = total ? static_cast<double>(flips) / static_cast<double>(total) : 0.0;
  }
  std::vector<nn::LayerZeros> zeros;
  for (const nn::LayerZeros& z : nn::weight_zeros(model_)) {
    for (nn::WeightedLayer* l : model_.weighted_layers())
      if (l->name() == z.layer && nn::unprunable_reason(*l).empty()) zeros.push_back(z);
  }
  if (!zeros.empty()) m.weight_zeros = nn::total_zeros(zeros).fraction();
  if (m.weight_zeros == 1.0 && comm_->root())
    std::cerr << "lowbit: warning: every quantized weight is 0 after epoch " << m.epoch
              << ": the latent weights lie within the ternary threshold and nothing can train; initialise them beyond "
                 "it (e.g. --init uniform:1, docs/SPARSITY.md) or lower the threshold\n";
  return m;
}

BatchPlan plan_batches(int64_t images, int64_t batch, int64_t min_batch) {
  BatchPlan p;
  p.images = images;
  p.batch = batch;
  LOWBIT_CHECK(images >= 1, "the training set is empty (the data folder?)");
  LOWBIT_CHECK_USAGE(images >= min_batch, "the training set has ", images, " image(s) (--train-limit?); BatchNorm with "
                     "one value per channel needs at least ", min_batch, " per batch");
  LOWBIT_CHECK_USAGE(batch >= min_batch, "--batch ", batch, " is too small: a BatchNorm layer sees one value per channel "
                     "per image and needs at least ", min_batch, " images per batch to compute a variance");
  p.steps = (images + batch - 1) / batch;
  if (images % batch != 0 && images % batch < min_batch) {  // a last batch too small to train on
    --p.steps;                                              // joins the one before it
    p.merged = images % batch;
  }
  return p;
}

std::pair<int64_t, int64_t> BatchPlan::range(int64_t step) const {
  const int64_t start = step * batch;
  return {start, step == steps - 1 ? images - start : batch};
}

std::string Trainer::out_file(const char* name) const { return cfg_.out_dir + "/" + name; }

void Trainer::say(const std::string& line) const {
  if (!quiet_) std::cout << line << "\n" << std::flush;
}

std::string Trainer::weights_crc() {
  uint32_t crc = 0;
  for (const nn::Param* p : model_.params()) crc = crc32(p->value.data(), sizeof(float) * static_cast<size_t>(p->value.size()), crc);
  for (const nn::NamedBuffer& b : model_.named_buffers())
    crc = crc32(b.tensor->data(), sizeof(float) * static_cast<size_t>(b.tensor->size()), crc);
  return cat("crc32 ", crc);
}

void Trainer::check_ranks_agree(const char* what, const json& mine) {
  const std::vector<std::string> all = comm_->gather(mine.dump());
  collectively(*comm_, [&] {
    for (size_t r = 1; r < all.size(); ++r) {
      if (all[r] == all[0]) continue;
      std::string how;
      if (std::string(what) == "settings")  // name the flags, as --resume does
        how = cat(": ", config_difference(json::parse(all[0]), json::parse(all[r])));
      else
        how = cat(": rank 0 has ", all[0].substr(0, 200), ", rank ", r, " has ", all[r].substr(0, 200));
      usage_fail("data-parallel ranks differ in their ", what, how, ". Every rank must run the same lowbit build with "
                 "the same flags, data and starting point (docs/DISTRIBUTED.md)");
    }
  });
}

// last.ckpt first, then best.ckpt (the same bytes): a kill between the two leaves a
// last.ckpt whose own epoch is its best epoch, from which resume rewrites best.ckpt. The
// reverse order could leave a best.ckpt newer than any last.ckpt, and a kill after last.ckpt
// alone lost the best checkpoint for good (resume believed it written).
Checkpoint Trainer::state(int64_t epoch_done, const std::vector<EpochMetrics>& history) {
  Checkpoint ck;
  ck.meta["kind"] = "lowbit-checkpoint";
  ck.meta["topology"] = model_.topology();
  ck.meta["train_config"] = to_json(cfg_);
  ck.meta["train_data"] = data_id_;
  ck.meta["epochs_done"] = epoch_done;
  ck.meta["ranks"] = comm_->size();  // data-parallel ranks (docs/DISTRIBUTED.md): resume notes a change
  ck.meta["best_test_acc"] = best_acc_;
  json hist = json::array();
  for (const auto& m : history) hist.push_back(metrics_to_json(m));
  ck.meta["history"] = hist;
  add_model_tensors(model_, ck);
  add_optimizer_state(ck, *optimizer_, "optimizer", "optim:");
  if (bop_) add_optimizer_state(ck, *bop_, "bop_state", "bop:");
  if (low_precision_)
    for (auto& [name, t] : low_precision_->state_tensors()) ck.tensors.emplace_back(name, *t);
  return ck;
}

void Trainer::save(int64_t epoch_done, const std::vector<EpochMetrics>& history, bool best) {
  const std::vector<uint8_t> bytes = encode_checkpoint(state(epoch_done, history));
  write_file_atomic(last_checkpoint_path(), bytes);
  if (best) write_file_atomic(best_checkpoint_path(), bytes);
}

namespace {

// The first epoch (1-based) with the highest test accuracy, as fit() picks it (strictly
// better replaces); 0 for an empty history.
// The best epoch (1-based; 0 = none) among those after epoch `from`: after quantization
// pruning only pruned epochs count (Trainer::prune_before), so best.ckpt is sparse.
int64_t best_epoch_of(const std::vector<EpochMetrics>& history, int64_t from = 0) {
  int64_t best = 0;
  for (size_t i = static_cast<size_t>(std::max<int64_t>(0, from)); i < history.size(); ++i)
    if (best == 0 || history[i].test_acc > history[static_cast<size_t>(best - 1)].test_acc) best = static_cast<int64_t>(i) + 1;
  return best;
}

// A setting's value as the user typed it: the float settings (--lr ...) are stored from
// floats, and 0.01f printed as a double reads 0.009999999776482582.
std::string shown(const json& v) {
  if (!v.is_number_float()) return v.dump();
  const auto f = static_cast<float>(v.get<double>());
  if (static_cast<double>(f) != v.get<double>()) return v.dump();
  char buf[32];
  const auto r = std::to_chars(buf, buf + sizeof buf, f);  // the shortest text that reads back as f
  return std::string(buf, r.ptr);
}

// The settings of a run that --resume must keep, as "flag: checkpoint value -> now value"
// pairs ("" when none changed). --epochs may grow, and the thread count, evaluation batch
// and test limit only affect speed or what is reported.
std::string config_difference(const json& saved, const json& now) {
  static const std::vector<std::pair<std::string, std::string>> flags = {
      {"/optimizer/name", "--optimizer"}, {"/optimizer/momentum", "--momentum"},
      {"/optimizer/nesterov", "--nesterov"}, {"/optimizer/weight_decay", "--weight-decay"},
      {"/warmup_epochs", "--warmup"}, {"/data/normalize", "--normalize"}, {"/data/random_crop", "--augment"},
      {"/data/hflip", "--augment"}, {"/data/crop_pad", "--augment"}, {"/train_limit", "--train-limit"},
      {"/binary_optimizer", "--binary-optimizer"}, {"/bop/gamma", "--bop-gamma"}, {"/bop/threshold", "--bop-threshold"},
      {"/lr_scale", "--lr-scale"}, {"/gemm", "--gemm"},
      {"/compute", "--compute"}, {"/low_precision/acts", "--lp-acts"}, {"/low_precision/errors", "--lp-errors"},
      {"/low_precision/grads", "--lp-grads"}, {"/low_precision/weights", "--lp-weights"},
      {"/low_precision/state", "--lp-state"}, {"/low_precision/acc", "--lp-acc"},
      {"/low_precision/rounding", "--lp-rounding"}, {"/low_precision/layers", "--lp-layer"},
      {"/bn_threshold_at", "--bn-threshold-at"}, {"/sparsity/quant_l2", "--quant-l2"},
      {"/sparsity/quant_l2_layers", "--quant-l2-layer"}, {"/sparsity/prune_after", "--prune-after"},
      {"/sparsity/prune_sigma", "--prune-sigma"}, {"/sparsity/prune_sigma_layers", "--prune-sigma-layer"}};
  const json a = saved.flatten(), b = now.flatten();
  std::string out;
  // Every key of either side: a setting the checkpoint lacks (an --lp-layer override added
  // on resume) is a change too.
  json keys = a;
  keys.update(b);
  for (auto it = keys.begin(); it != keys.end(); ++it) {
    const std::string& key = it.key();
    if (key == "/epochs" || key == "/threads" || key == "/eval_batch" || key == "/test_limit") continue;
    const json was = a.value(key, json()), is = b.value(key, json());
    if (a.contains(key) && b.contains(key) && was == is) continue;
    std::string flag = "--" + key.substr(key.rfind('/') + 1);
    for (const auto& [k, f] : flags)
      if (k == key || key.rfind(k + "/", 0) == 0) flag = f;  // arrays flatten to KEY/0, KEY/1...
    out += cat(out.empty() ? "" : ", ", flag, " ", shown(was), " -> ", shown(is));
  }
  return out;
}

// Why a checkpoint's topology differs from the requested model, in terms of the flags.
std::string topology_difference(const json& saved, const json& wanted) {
  if (saved.value("input", json()) != wanted.value("input", json()))
    return cat("it was trained on inputs of shape ", saved.value("input", json()).dump(), ", and the model for this --data takes ",
               wanted.value("input", json()).dump(), ": resume with the same --data");
  const json a = saved.value("layers", json::array()), b = wanted.value("layers", json::array());
  const std::string same_flags = "resume with the same --model, --weights, --acts, --input-bits, --activation and --dropout";
  if (a.size() != b.size())
    return cat("it has ", a.size(), " layers, the requested model ", b.size(), ": ", same_flags);
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i] == b[i]) continue;
    json a_rest = a[i], b_rest = b[i];
    a_rest.erase("units"), b_rest.erase("units");
    const bool last_dense = a_rest == b_rest && i + 1 >= a.size() - 2 && a[i].value("type", "") == "dense";
    if (last_dense)
      return cat("it was trained for ", a[i].value("units", json()).dump(), " classes, and this --data has ",
                 b[i].value("units", json()).dump(), ": resume with the same --data");
    return cat("layer ", i, " differs (checkpoint ", a[i].dump(), ", requested ", b[i].dump(), "): ", same_flags);
  }
  return cat("its model name or settings differ (checkpoint ", saved.dump().substr(0, 200), "): ", same_flags);
}

}  // namespace

int64_t Trainer::restore(const std::vector<uint8_t>& bytes, std::vector<EpochMetrics>& history) {
  const std::string path = last_checkpoint_path();
  Checkpoint ck = decode_checkpoint(bytes, path);
  const json saved_topology = ck.meta.value("topology", json());
  if (saved_topology != model_.topology())
    usage_fail(path, ": cannot resume: ", topology_difference(saved_topology, model_.topology()));
  const TrainConfig saved = checkpoint_train_config(ck, path);
  const std::string changed = config_difference(to_json(saved), to_json(cfg_));
  if (!changed.empty())
    usage_fail(path, ": cannot resume: the run was trained with other settings (", changed, "); resuming with "
               "them changed would not continue the same run. Resume with the same flags, or start a new run (another "
               "--out, or --overwrite)");
  if (ck.meta.contains("train_data") && ck.meta.at("train_data") != data_id_)
    usage_fail(path, ": cannot resume: the run was trained on other data (", ck.meta.at("train_data").dump(),
               ", now ", data_id_.dump(), "); resume with the same --data and --train-limit");
  load_model_tensors(model_, ck, path);
  load_optimizer_state(ck, *optimizer_, json_member(ck.meta, "optimizer", path), "optim:", "optimizer", path);
  if (bop_) {
    if (!ck.meta.contains("bop_state")) fail(path, ": checkpoint has no Bop state; resume with the same --binary-optimizer");
    load_optimizer_state(ck, *bop_, ck.meta.at("bop_state"), "bop:", "Bop", path);
  } else if (ck.meta.contains("bop_state")) {
    fail(path, ": checkpoint was trained with --binary-optimizer bop; resume with the same option");
  }
  if (low_precision_)
    for (auto& [name, t] : low_precision_->state_tensors()) {
      const Tensor* src = ck.find(name);
      if (!src || src->shape() != t->shape())
        fail(path, ": low-precision accumulator '", name, "' missing or of the wrong shape");
      *t = *src;
    }
  history.clear();
  const json& hist = json_member(ck.meta, "history", path);
  LOWBIT_CHECK(hist.is_array() && static_cast<int64_t>(hist.size()) <= kMaxEpochs, path, ": 'history' must be an array of epochs");
  for (const auto& m : hist) history.push_back(metrics_from_json(m));
  const int64_t done = json_int(ck.meta, "epochs_done", 0, kMaxEpochs, path);
  LOWBIT_CHECK(done == static_cast<int64_t>(history.size()), path, ": records ", done, " epochs done but ",
               history.size(), " epochs of history");
  int64_t pruned_from = 0;  // the last pruning before the checkpoint: only later epochs can be best
  for (int64_t p : cfg_.sparsity.prune_after)
    if (p < done) pruned_from = p;
  const int64_t best = best_epoch_of(history, pruned_from);
  best_acc_ = best ? history[static_cast<size_t>(best - 1)].test_acc : -1.0;
  if (comm_->root()) repair_best(bytes, done, best, history);
  // The group size only changes the order of float sums (the global batches, their order and
  // random draws are the same for any number of ranks but for a last batch smaller than the
  // ranks, which fit() notes), so another one may continue.
  const int64_t ranks = ck.meta.contains("ranks") ? json_int(ck.meta, "ranks", 1, int64_t{1} << 24, path) : 1;
  if (ranks != comm_->size())
    say(cat("note: ", path, " was written by a run on ", ranks, " rank(s), continued on ", comm_->size(),
            ": the same global batches and data order; sums of floats in another order, so the result matches a run "
            "on ", ranks, " up to rounding, not bit for bit"));
  return done;
}

// best.ckpt must hold the best epoch that last.ckpt records. When the best epoch is the
// last one, last.ckpt holds the same bytes save() would have written: a missing, torn or
// older best.ckpt (a kill between the two writes) is rewritten from it. Otherwise the best
// weights are gone (a folder from an older lowbit, or edited by hand): say so, and let
// best.ckpt track the best of what is left, so it never claims an accuracy it does not hold.
void Trainer::repair_best(const std::vector<uint8_t>& last_bytes, int64_t done, int64_t best,
                          const std::vector<EpochMetrics>& history) {
  if (best == 0) return;
  const std::string path = best_checkpoint_path();
  int64_t held = 0;  // the epoch best.ckpt holds, 0 when none or unreadable
  std::string problem = "is missing";
  if (file_exists(path)) {
    try {
      held = json_int(read_checkpoint(path).meta, "epochs_done", 0, kMaxEpochs, path);
      problem = cat("holds epoch ", held);
    } catch (const Error& e) {
      problem = cat("is unreadable (", e.what(), ")");
    }
  }
  if (held == best) return;
  if (best == done) {
    write_file_atomic(path, last_bytes);
    say(cat("note: ", path, " ", problem, "; rewrote it from last.ckpt (epoch ", best, ", the best so far)"));
    return;
  }
  best_acc_ = held >= 1 && held <= done ? history[static_cast<size_t>(held - 1)].test_acc : -1.0;
  say(cat("warning: ", path, " ", problem, ", not the best epoch ", best, " that last.ckpt records (test accuracy ",
          history[static_cast<size_t>(best - 1)].test_acc, "); those weights cannot be recovered. best.ckpt now "
          "follows the best epoch from here on"));
}

void Trainer::write_metrics(const std::vector<EpochMetrics>& history) {
  std::ostringstream os;
  for (const auto& m : history) os << metrics_to_json(m).dump() << "\n";
  write_file_atomic(out_file("metrics.jsonl"), os.str());
}

namespace {
constexpr const char* kRunFiles[] = {"last.ckpt", "best.ckpt", "metrics.jsonl"};
}

// Before any training: the output folder is writable and this process's alone, stale
// temporary files of killed writes are gone, and an earlier run in it is continued
// (--resume), discarded (--overwrite) or refused, never silently overwritten.
bool Trainer::prepare_out_dir() {
  const std::string& out = cfg_.out_dir;
  check_writable_dir(out);
  lock_ = std::make_unique<FolderLock>(out, "lowbit train");
  int stale = 0;
  for (const char* f : kRunFiles) stale += remove_stale_temp_files(out, f);
  if (stale) say(cat("note: removed ", stale, " temporary file(s) left in ", out, " by an interrupted write"));
  std::vector<std::string> present;
  for (const char* f : kRunFiles)
    if (file_exists(out_file(f))) present.emplace_back(f);
  if (cfg_.resume) {
    if (file_exists(last_checkpoint_path())) return true;
    LOWBIT_CHECK(present.empty(), out, " holds ", present.front(), " but no last.ckpt to resume from; start over with "
                 "--overwrite (discarding it) or choose another --out");
    say(cat("note: ", out, " holds no checkpoint yet: training starts from epoch 1"));
    return false;
  }
  if (present.empty()) return false;
  LOWBIT_CHECK(cfg_.overwrite, out, " already holds a training run (", present.front(), "); continue it with --resume, ",
               "start over with --overwrite (discarding it), or choose another --out");
  for (const std::string& f : present) std::filesystem::remove(out_file(f.c_str()));
  say(cat("note: --overwrite: removed the earlier run's files from ", out));
  return false;
}

std::vector<EpochMetrics> Trainer::fit(const data::Dataset& train, const data::Dataset& test) {
  // Also the float contract mode on every pool thread. Ranks on one machine share its cores.
  set_num_threads(cfg_.threads || !comm_->distributed() ? cfg_.threads : dist::default_threads(comm_->local_size()));
  if (comm_->distributed() && comm_->root() && num_threads() * comm_->local_size() > dist::machine_cores())
    std::cerr << "lowbit: warning: " << comm_->local_size() << " ranks x " << num_threads()
              << (num_threads() == 1 ? " thread" : " threads") << " on this machine's " << dist::machine_cores()
              << " cores: the ranks take turns on them, slower than fewer ranks (docs/DISTRIBUTED.md)\n";
  // The products' library and precision are process-wide: this run's hold while it lasts and
  // the caller's come back after (a program or test may train several models in turn).
  struct GemmSettings {
    kernels::GemmBackend backend = kernels::gemm_backend();
    kernels::GemmCompute compute = kernels::gemm_compute();
    ~GemmSettings() {
      kernels::set_gemm_backend(backend);
      kernels::set_gemm_compute(compute);
    }
  } restore_callers_gemm;
  kernels::set_gemm_backend(kernels::parse_gemm_backend(cfg_.gemm));
  kernels::set_gemm_compute(kernels::parse_gemm_compute(cfg_.compute));
  const int64_t n = cfg_.train_limit > 0 ? std::min(cfg_.train_limit, train.size()) : train.size();
  // Across ranks a batch needs an image per rank too: a last batch with fewer joins the one
  // before it, as one too small for BatchNorm does (one process would keep it apart).
  const int64_t min_batch = model_.min_training_batch();
  const bool ranks_bound = comm_->size() > min_batch;
  collectively(*comm_, [&] {  // the same on every rank: one message, not N
    check_data_fits(model_, train);
    check_data_fits(model_, test);
    LOWBIT_CHECK_USAGE(!ranks_bound || n >= comm_->size(), "the training set has ", n, " image(s) (--train-limit?), fewer "
                       "than the ", comm_->size(), " data-parallel ranks that each need one per batch");
    batches_ = plan_batches(n, cfg_.batch, std::max<int64_t>(min_batch, comm_->size()));
  });
  // Which images the run trains on, so --resume can tell other data from the same shapes.
  data_id_ = {{"images", n},
              {"crc32", crc32(train.labels.data(), static_cast<size_t>(n) * sizeof(int32_t),
                              crc32(train.images.data(), static_cast<size_t>(n * train.image_size())))}};
  if (batches_.merged)
    say(cat("note: ", n, " images in batches of ", cfg_.batch, " would leave a last batch of ", batches_.merged,
            ranks_bound ? cat(", fewer than the ", comm_->size(), " data-parallel ranks")
                        : std::string(", too few for BatchNorm"),
            "; it joins the batch before it (", cfg_.batch + batches_.merged, " images)"));
  if (comm_->distributed()) {
    // Every rank must run the same program on the same settings, model and data, or the sums
    // they exchange mean nothing (a node with another build, a flag typed differently).
    json threads_free = to_json(cfg_);
    threads_free.erase("threads");
    check_ranks_agree("binary", dist::binary_identity());
    check_ranks_agree("settings", threads_free);
    check_ranks_agree("model", model_.topology());
    check_ranks_agree("training data", data_id_);
    say(cat("data parallel: ", comm_->size(), " ranks (", comm_->local_size(), " on this machine, ", num_threads(),
            num_threads() == 1 ? " thread" : " threads", " each), ", cfg_.batch, " images per step split across them"));
  }
  std::vector<EpochMetrics> history;
  int64_t start_epoch = 0;
  bool resuming = false;
  // The run folder is rank 0's: it locks and checks it, reads last.ckpt and sends it on.
  if (!cfg_.out_dir.empty()) on_root(*comm_, [&] { resuming = prepare_out_dir(); });
  std::vector<uint8_t> flag{static_cast<uint8_t>(resuming)};
  comm_->broadcast(flag, 0);
  resuming = flag[0] != 0;
  if (resuming) {
    std::vector<uint8_t> last;
    on_root(*comm_, [&] { last = read_file(last_checkpoint_path()); });
    comm_->broadcast(last, 0);
    collectively(*comm_, [&] { start_epoch = restore(last, history); });
    // Rank 0 alone repaired best.ckpt, which can change which accuracy counts as best.
    std::vector<uint8_t> best(sizeof best_acc_);
    std::memcpy(best.data(), &best_acc_, sizeof best_acc_);
    comm_->broadcast(best, 0);
    std::memcpy(&best_acc_, best.data(), sizeof best_acc_);
    on_root(*comm_, [&] { write_metrics(history); });  // complete again after a kill between last.ckpt and metrics.jsonl
    say(cat("resumed from ", last_checkpoint_path(), " after epoch ", start_epoch));
  } else {
    if (!cfg_.keep_weights) model_.init(cfg_.seed);
    optimizer_->apply_masks();  // fine-tuning a pruned model: its masked weights are 0 already
    if (low_precision_) low_precision_->reset_accumulator();  // from the initialised weights
  }
  // From here every step keeps them equal: the same reduced gradients on the same weights.
  if (comm_->distributed()) check_ranks_agree("initial weights", weights_crc());
  for (int64_t epoch = start_epoch; epoch < cfg_.epochs; ++epoch) {
    model_.set_training_progress(cfg_.epochs > 1 ? static_cast<double>(epoch) / static_cast<double>(cfg_.epochs - 1)
                                                 : 1.0);
    apply_bn_threshold_form(epoch);
    prune_before(epoch);
    EpochMetrics m = train_epoch(train, epoch);
    auto t_eval = Clock::now();
    EvalResult ev = evaluate(model_, test, cfg_.data, cfg_.eval_batch, *loss_, cfg_.test_limit, comm_);
    m.eval_seconds = seconds_since(t_eval);
    m.test_acc = ev.accuracy;
    m.test_loss = ev.loss;
    history.push_back(m);
    bool best = m.test_acc > best_acc_;
    if (best) best_acc_ = m.test_acc;
    if (!cfg_.out_dir.empty()) {
      // Checkpoints first, then metrics: a kill in between leaves metrics one epoch behind
      // the checkpoint (resume rewrites them), never ahead of it. Rank 0's files; every rank
      // holds the same state, and none runs on when rank 0 could not write.
      on_root(*comm_, [&] {
        save(epoch + 1, history, best);
        write_metrics(history);
      });
    }
    if (comm_->distributed()) {
      // Cheap insurance that the design holds (every rank applies bitwise the same sums):
      // a rank whose weights drifted (a faulty node, an MPI giving ranks different sums)
      // would otherwise train on silently.
      const std::vector<std::string> crcs = comm_->gather(weights_crc());
      collectively(*comm_, [&] {
        for (size_t r = 1; r < crcs.size(); ++r)
          LOWBIT_CHECK(crcs[r] == crcs[0], "after epoch ", epoch + 1, " rank ", r, "'s weights differ from rank 0's (",
                       crcs[r], " vs ", crcs[0], "): the ranks did not apply the same gradient sums; a faulty node or "
                       "MPI library. The checkpoint of this epoch is rank 0's");
      });
    }
    if (!quiet_) progress_.end_epoch(m);
    // Every rank stops after the same epoch when any rank's callback says so.
    double stop = on_epoch_end && !on_epoch_end(m) ? 1.0 : 0.0;
    comm_->sum(&stop, 1);
    if (stop > 0) break;
  }
  lock_.reset();
  return history;
}

}  // namespace lowbit::train
