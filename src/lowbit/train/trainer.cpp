#include "lowbit/train/trainer.hpp"

#include <chrono>
#include <cmath>
#include <iostream>
#include <sstream>

#include "lowbit/core/error.hpp"
#include "lowbit/core/file_io.hpp"
#include "lowbit/core/threading.hpp"
#include "lowbit/quant/quantizer.hpp"
#include "lowbit/train/checkpoint.hpp"

namespace lowbit::train {

namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

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
  const Shape& in = model.input_shape();
  LOWBIT_CHECK(in.size() == 3 || in.size() == 1, "model input ", shape_str(in), " is neither [C, H, W] nor [F]");
  if (in.size() == 3) {
    LOWBIT_CHECK(in[0] == ds.channels && in[1] >= ds.height && in[2] >= ds.width, "dataset ", ds.name, " has images ",
                 ds.channels, "x", ds.height, "x", ds.width, " but model ", model.name(), " expects input ",
                 shape_str(in));
  } else {
    LOWBIT_CHECK(in[0] == ds.image_size(), "dataset ", ds.name, " has ", ds.image_size(),
                 " values per image but model ", model.name(), " expects ", in[0]);
  }
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
  return {{"epochs", c.epochs},
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
          {"data",
           {{"normalize", data::normalize_name(c.data.normalize)},
            {"random_crop", c.data.augment.random_crop},
            {"crop_pad", c.data.augment.crop_pad},
            {"hflip", c.data.augment.hflip}}},
          {"eval_batch", c.eval_batch},
          {"train_limit", c.train_limit},
          {"test_limit", c.test_limit}};
}

TrainConfig train_config_from_json(const json& j) {
  TrainConfig c;
  try {
    c.epochs = j.at("epochs");
    c.batch = j.at("batch");
    c.lr = j.at("lr");
    c.schedule = j.at("schedule");
    c.warmup_epochs = j.at("warmup_epochs");
    const json& o = j.at("optimizer");
    c.optimizer.name = o.at("name");
    c.optimizer.momentum = o.at("momentum");
    c.optimizer.nesterov = o.at("nesterov");
    c.optimizer.weight_decay = o.at("weight_decay");
    c.optimizer.beta1 = o.at("beta1");
    c.optimizer.beta2 = o.at("beta2");
    c.optimizer.eps = o.at("eps");
    // Absent in checkpoints written before quantization-aware training existed.
    c.binary_optimizer = j.value("binary_optimizer", std::string("none"));
    if (j.contains("bop")) {
      c.bop.gamma = j.at("bop").at("gamma");
      c.bop.threshold = j.at("bop").at("threshold");
    }
    c.lr_scale = j.value("lr_scale", std::string("none"));
    c.loss = j.at("loss");
    c.seed = j.at("seed");
    c.threads = j.at("threads");
    const json& d = j.at("data");
    c.data.normalize = data::parse_normalize(d.at("normalize"));
    c.data.augment.random_crop = d.at("random_crop");
    c.data.augment.crop_pad = d.at("crop_pad");
    c.data.augment.hflip = d.at("hflip");
    c.eval_batch = j.at("eval_batch");
    c.train_limit = j.at("train_limit");
    c.test_limit = j.at("test_limit");
  } catch (const json::exception& e) {
    fail("training configuration in checkpoint is incomplete (", e.what(), ")");
  }
  return c;
}

json metrics_to_json(const EpochMetrics& m) {
  return {{"epoch", m.epoch},         {"loss", m.loss},         {"train_acc", m.train_acc},
          {"test_loss", m.test_loss}, {"test_acc", m.test_acc}, {"seconds", m.seconds},
          {"eval_seconds", m.eval_seconds}, {"lr", m.lr},       {"images_per_second", m.images_per_second},
          {"flip_ratio", m.flip_ratio}};
}

EpochMetrics metrics_from_json(const json& j) {
  EpochMetrics m;
  m.epoch = j.at("epoch");
  m.loss = j.at("loss");
  m.train_acc = j.at("train_acc");
  m.test_loss = j.value("test_loss", 0.0);
  m.test_acc = j.at("test_acc");
  m.seconds = j.at("seconds");
  m.eval_seconds = j.value("eval_seconds", 0.0);
  m.lr = j.at("lr");
  m.images_per_second = j.value("images_per_second", 0.0);
  m.flip_ratio = j.value("flip_ratio", -1.0);
  return m;
}

EvalResult evaluate(nn::Model& model, const data::Dataset& ds, const data::BatchOptions& opt, int64_t batch,
                    const nn::Loss& loss, int64_t limit) {
  check_data_fits(model, ds);
  const data::BatchOptions bopt = batch_options_for(model, {opt.normalize, {}, 0, 0});  // no augmentation
  const int64_t n = limit > 0 ? std::min(limit, ds.size()) : ds.size();
  LOWBIT_CHECK(batch > 0, "evaluation batch size must be positive");
  EvalResult r;
  r.predictions.resize(static_cast<size_t>(n));
  std::vector<int64_t> idx(static_cast<size_t>(batch));
  std::vector<int32_t> labels;
  Tensor x;
  Rng rng(0);
  nn::Context ctx{false, &rng};
  int64_t correct = 0;
  double loss_sum = 0;
  for (int64_t start = 0; start < n; start += batch) {
    const int64_t count = std::min(batch, n - start);
    for (int64_t i = 0; i < count; ++i) idx[static_cast<size_t>(i)] = start + i;
    data::make_batch(ds, idx.data(), count, bopt, rng, x, labels);
    const Tensor& logits = model.forward(x, ctx);
    loss_sum += loss.compute(logits, labels.data(), nullptr) * static_cast<double>(count);
    int32_t* pred = r.predictions.data() + start;
    nn::argmax_rows(logits, pred);
    for (int64_t i = 0; i < count; ++i) correct += pred[i] == labels[static_cast<size_t>(i)];
  }
  r.accuracy = n ? static_cast<double>(correct) / static_cast<double>(n) : 0.0;
  r.loss = n ? loss_sum / static_cast<double>(n) : 0.0;
  return r;
}

Trainer::Trainer(nn::Model& model, TrainConfig cfg)
    : model_(model),
      cfg_(std::move(cfg)),
      loss_(nn::make_loss(cfg_.loss)),
      schedule_(schedule_config(cfg_)),
      progress_(cfg_.progress < 0 ? Progress::stdout_is_terminal() : cfg_.progress == 1, std::cout) {
  LOWBIT_CHECK(cfg_.epochs > 0, "--epochs must be positive, got ", cfg_.epochs);
  LOWBIT_CHECK(cfg_.batch > 0, "--batch must be positive, got ", cfg_.batch);
  LOWBIT_CHECK(std::isfinite(cfg_.lr) && cfg_.lr > 0, "--lr must be a positive number, got ", cfg_.lr);
  configure_params();
  optimizer_ = optim::make_optimizer(cfg_.optimizer, model_.params());
  if (cfg_.binary_optimizer == "bop") bop_ = std::make_unique<optim::Bop>(model_.params(), cfg_.bop);
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
    fail("--binary-optimizer bop needs 1-bit weights (e.g. --weights binary); this model has none");
}

Trainer::~Trainer() = default;

std::string Trainer::last_checkpoint_path() const { return cfg_.out_dir + "/last.ckpt"; }
std::string Trainer::best_checkpoint_path() const { return cfg_.out_dir + "/best.ckpt"; }

EpochMetrics Trainer::train_epoch(const data::Dataset& train, int64_t epoch) {
  const int64_t n = cfg_.train_limit > 0 ? std::min(cfg_.train_limit, train.size()) : train.size();
  const int64_t steps = (n + cfg_.batch - 1) / cfg_.batch;
  std::vector<int64_t> order = data::epoch_order(n, cfg_.seed, epoch);
  const data::BatchOptions bopt = batch_options_for(model_, cfg_.data);
  progress_.start_epoch(epoch + 1, cfg_.epochs, steps);

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
  float lr = 0;
  for (int64_t step = 0; step < steps; ++step) {
    const int64_t start = step * cfg_.batch;
    const int64_t count = std::min(cfg_.batch, n - start);
    Rng rng(cfg_.seed ^ kBatchStream, static_cast<uint64_t>(epoch * steps + step));
    data::make_batch(train, order.data() + start, count, bopt, rng, x_, labels_);
    nn::Context ctx{true, &rng};
    const Tensor& logits = model_.forward(x_, ctx);
    double loss = loss_->compute(logits, labels_.data(), &dlogits_);
    if (!std::isfinite(loss)) {
      std::string keep = cfg_.out_dir.empty() ? std::string("no checkpoint was requested")
                                              : cat("the last good checkpoint is kept in ", last_checkpoint_path());
      fail("training diverged: loss is ", loss, " at epoch ", epoch + 1, ", batch ", step + 1,
           "; stopped without saving (", keep, "). Try a lower --lr.");
    }
    predicted_.resize(static_cast<size_t>(count));
    nn::argmax_rows(logits, predicted_.data());
    for (int64_t i = 0; i < count; ++i) correct += predicted_[static_cast<size_t>(i)] == labels_[static_cast<size_t>(i)];
    model_.backward(dlogits_);
    lr = schedule_.at(epoch, step, steps);
    optimizer_->step(lr);
    if (bop_) bop_->step(lr);
    loss_sum += loss * static_cast<double>(count);
    seen += count;
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
  if (!sign_weights.empty()) {
    int64_t flips = 0, total = 0;
    for (size_t k = 0; k < sign_weights.size(); ++k) {
      const Tensor& w = *sign_weights[k];
      for (int64_t i = 0; i < w.size(); ++i) flips += (w[i] >= 0.f) != (signs[k][static_cast<size_t>(i)] != 0);
      total += w.size();
    }
    m.flip_ratio = total ? static_cast<double>(flips) / static_cast<double>(total) : 0.0;
  }
  return m;
}

void Trainer::save(int64_t epoch_done, const std::vector<EpochMetrics>& history, bool best) {
  Checkpoint ck;
  ck.meta["kind"] = "lowbit-checkpoint";
  ck.meta["topology"] = model_.topology();
  ck.meta["train_config"] = to_json(cfg_);
  ck.meta["epochs_done"] = epoch_done;
  ck.meta["best_test_acc"] = best_acc_;
  json hist = json::array();
  for (const auto& m : history) hist.push_back(metrics_to_json(m));
  ck.meta["history"] = hist;
  add_model_tensors(model_, ck);
  add_optimizer_state(ck, *optimizer_, "optimizer", "optim:");
  if (bop_) add_optimizer_state(ck, *bop_, "bop_state", "bop:");
  const std::vector<uint8_t> bytes = encode_checkpoint(ck);
  write_file_atomic(last_checkpoint_path(), bytes);
  if (best) write_file_atomic(best_checkpoint_path(), bytes);
}

int64_t Trainer::restore(std::vector<EpochMetrics>& history) {
  const std::string path = last_checkpoint_path();
  if (!file_exists(path)) fail("--resume: no checkpoint to resume from (", path, " does not exist)");
  Checkpoint ck = read_checkpoint(path);
  if (ck.meta.value("topology", json()) != model_.topology())
    fail(path, ": the checkpoint's model topology differs from the requested model; resume with the same --model");
  TrainConfig saved = train_config_from_json(ck.meta.at("train_config"));
  if (saved.seed != cfg_.seed || saved.batch != cfg_.batch)
    fail(path, ": checkpoint was trained with --seed ", saved.seed, " --batch ", saved.batch,
         "; resuming with different values would not continue the same run");
  load_model_tensors(model_, ck, path);
  load_optimizer_state(ck, *optimizer_, ck.meta.at("optimizer"), "optim:", "optimizer", path);
  if (bop_) {
    if (!ck.meta.contains("bop_state")) fail(path, ": checkpoint has no Bop state; resume with the same --binary-optimizer");
    load_optimizer_state(ck, *bop_, ck.meta.at("bop_state"), "bop:", "Bop", path);
  } else if (ck.meta.contains("bop_state")) {
    fail(path, ": checkpoint was trained with --binary-optimizer bop; resume with the same option");
  }
  best_acc_ = ck.meta.value("best_test_acc", -1.0);
  history.clear();
  for (const auto& m : ck.meta.value("history", json::array())) history.push_back(metrics_from_json(m));
  return ck.meta.at("epochs_done").get<int64_t>();
}

void Trainer::write_metrics(const std::vector<EpochMetrics>& history) {
  std::ostringstream os;
  for (const auto& m : history) os << metrics_to_json(m).dump() << "\n";
  write_file_atomic(cfg_.out_dir + "/metrics.jsonl", os.str());
}

std::vector<EpochMetrics> Trainer::fit(const data::Dataset& train, const data::Dataset& test) {
  set_num_threads(cfg_.threads);
  check_data_fits(model_, train);
  check_data_fits(model_, test);
  std::vector<EpochMetrics> history;
  int64_t start_epoch = 0;
  if (!cfg_.out_dir.empty()) make_dirs(cfg_.out_dir);
  if (cfg_.resume) {
    LOWBIT_CHECK(!cfg_.out_dir.empty(), "--resume needs --out DIR holding last.ckpt");
    start_epoch = restore(history);
    if (!cfg_.quiet)
      std::cout << "resumed from " << last_checkpoint_path() << " after epoch " << start_epoch << "\n";
  } else {
    model_.init(cfg_.seed);
  }
  for (int64_t epoch = start_epoch; epoch < cfg_.epochs; ++epoch) {
    model_.set_training_progress(cfg_.epochs > 1 ? static_cast<double>(epoch) / static_cast<double>(cfg_.epochs - 1)
                                                 : 1.0);
    EpochMetrics m = train_epoch(train, epoch);
    auto t_eval = Clock::now();
    EvalResult ev = evaluate(model_, test, cfg_.data, cfg_.eval_batch, *loss_, cfg_.test_limit);
    m.eval_seconds = seconds_since(t_eval);
    m.test_acc = ev.accuracy;
    m.test_loss = ev.loss;
    history.push_back(m);
    bool best = m.test_acc > best_acc_;
    if (best) best_acc_ = m.test_acc;
    if (!cfg_.out_dir.empty()) {
      // Checkpoint first, then metrics: a crash in between leaves metrics one epoch behind
      // the checkpoint, never ahead of it.
      save(epoch + 1, history, best);
      write_metrics(history);
    }
    if (!cfg_.quiet) progress_.end_epoch(m);
    if (on_epoch_end && !on_epoch_end(m)) break;
  }
  return history;
}

}  // namespace lowbit::train
