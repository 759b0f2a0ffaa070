// lowbit train: build a model (preset or JSON), load data, train, checkpoint.
#include <iostream>
#include <limits>

#include "lowbit/cli/commands.hpp"
#include "lowbit/core/communicator.hpp"
#include "lowbit/core/error.hpp"
#include "lowbit/core/file_io.hpp"
#include "lowbit/core/threading.hpp"
#include "lowbit/data/loader.hpp"
#include "lowbit/dist/launch.hpp"
#include "lowbit/export/fold.hpp"
#include "lowbit/nn/summary.hpp"
#include "lowbit/train/checkpoint.hpp"
#include "lowbit/train/trainer.hpp"

namespace lowbit::cli {

namespace {
struct TrainArgs {
  ModelChoice model;
  std::string data;
  std::string normalize = "zero_one";
  std::string augment = "none";
  std::string progress = "auto";
  // --lp-* values, parsed when the command runs (quant/number_format.hpp).
  std::string lp_acts = "float32", lp_errors = "float32", lp_grads = "float32", lp_weights = "float32",
              lp_state = "float32", lp_acc = "none", lp_rounding = "nearest";
  std::vector<std::string> lp_layers;  // --lp-layer PATTERN/SITE=FORMAT, in order
  // Sparse ternary training (quant/pruning.hpp): GLOB=VALUE lists, and the epochs to prune after.
  std::vector<std::string> quant_l2_layers, prune_sigma_layers;
  std::vector<int64_t> prune_after;
  std::string init_from;  // --init-from CKPT: fine-tune that checkpoint's model
  train::TrainConfig cfg;
  double mpi_timeout = 120;  // seconds a collective may wait for the other ranks
};

quant::SparsityConfig parse_sparsity(const TrainArgs& a, float quant_l2, float prune_sigma) {
  quant::SparsityConfig s;
  s.quant_l2 = quant_l2;
  s.prune_sigma = prune_sigma;
  s.prune_after = a.prune_after;
  for (const std::string& t : a.quant_l2_layers) s.quant_l2_layers.push_back(quant::parse_layer_value(t, "--quant-l2-layer"));
  for (const std::string& t : a.prune_sigma_layers)
    s.prune_sigma_layers.push_back(quant::parse_layer_value(t, "--prune-sigma-layer"));
  if ((!s.prune_sigma_layers.empty() || prune_sigma >= 0.f) && s.prune_after.empty())
    usage_fail("--prune-sigma / --prune-sigma-layer set the threshold of --prune-after's pruning; give --prune-after too");
  return s;
}

// The --lp-* flags into the training configuration; usage errors name the flag.
quant::LowPrecisionConfig parse_low_precision(const TrainArgs& a) {
  quant::LowPrecisionConfig lp;
  auto format = [](const char* flag, const std::string& spec) {
    try {
      return quant::parse_number_format(spec);
    } catch (const Error& e) {
      usage_fail(flag, ": ", e.what());
    }
  };
  lp.acts = format("--lp-acts", a.lp_acts);
  lp.errors = format("--lp-errors", a.lp_errors);
  lp.grads = format("--lp-grads", a.lp_grads);
  lp.weights = format("--lp-weights", a.lp_weights);
  lp.state = format("--lp-state", a.lp_state);
  if (a.lp_acc != "none") {
    lp.accumulator = true;
    lp.acc = format("--lp-acc", a.lp_acc);
  }
  try {
    lp.rounding = quant::parse_rounding(a.lp_rounding);
  } catch (const Error& e) {
    usage_fail("--lp-rounding: ", e.what());
  }
  for (const std::string& spec : a.lp_layers) {
    try {
      quant::add_layer_override(lp, spec);
    } catch (const Error& e) {
      usage_fail("--lp-layer: ", e.what());
    }
  }
  return lp;
}

data::Augment parse_augment(const std::string& s) {
  data::Augment a;
  if (s == "none") return a;
  std::string rest = s;
  while (!rest.empty()) {
    const size_t comma = rest.find(',');
    const std::string item = rest.substr(0, comma);
    bool& on = item == "crop" ? a.random_crop : a.hflip;
    if (item != "crop" && item != "flip")
      usage_fail("--augment '", s, "': unknown item '", item, "'; valid: none, crop, flip, crop,flip");
    if (on) usage_fail("--augment '", s, "': '", item, "' given twice");
    on = true;
    rest = comma == std::string::npos ? "" : rest.substr(comma + 1);
  }
  return a;
}
}  // namespace

namespace {

// The train command on one rank (all of them under mpirun; comm: the group, or this process
// alone). Everything before training runs collectively: a rank that fails there (a missing
// data file, a bad flag) stops every rank with one message.
int train_command(TrainArgs& a, bool normalize_given, float quant_l2, float prune_sigma, bool init_from_given,
                  CLI::App& cmd, Communicator& comm) {
  auto& cfg = a.cfg;
  data::DataSplit split;
  std::unique_ptr<nn::Model> model;
  std::unique_ptr<train::Trainer> trainer;
  collectively(comm, [&] {
    if (init_from_given) {
      for (const char* flag : {"--model", "--weights", "--acts", "--input-bits", "--input-quantizer", "--activation",
                               "--dropout", "--last-bn", "--init", "--layer-weights"})
        if (cmd.get_option(flag)->count())
          usage_fail(flag, " and --init-from: the model comes from the checkpoint ", a.init_from);
    } else if (a.model.model.empty()) {
      usage_fail("--model is required (a preset or a JSON topology), or --init-from CKPT to fine-tune a checkpoint");
    }
    cfg.sparsity = parse_sparsity(a, quant_l2, prune_sigma);
    if (!init_from_given) check_model_choice(a.model);  // before loading data, so typos fail fast
    train::LoadedModel start;  // --init-from
    if (init_from_given) {
      start = train::load_model(a.init_from);
      // The pixel scaling the checkpoint was trained with, unless --normalize is given.
      if (!normalize_given)
        a.normalize = data::normalize_name(train::checkpoint_train_config(start.checkpoint, a.init_from).data.normalize);
      cfg.keep_weights = true;
    }
    // sign(x) of [0, 1] pixels would be all +1; a signed fixed-point input would use half
    // its codes. Both default to [-1, 1] pixels.
    if (!init_from_given && default_normalize(a.model) == data::Normalize::MinusOneOne) {
      if (!normalize_given) a.normalize = "minus_one_one";
      else if (a.normalize != "minus_one_one" && a.model.input_bits == 1)
        usage_fail("--input-bits 1 binarizes the input with sign(x), which needs --normalize minus_one_one");
    }
    cfg.data.normalize = data::parse_normalize(a.normalize);
    cfg.data.augment = parse_augment(a.augment);
    cfg.progress = a.progress == "auto" ? -1 : a.progress == "bar" ? 1 : 0;
    // mpirun hands its ranks a pseudo-terminal even when the job's output goes to a file.
    if (comm.distributed() && cfg.progress == -1) cfg.progress = 0;
    cfg.low_precision = parse_low_precision(a);
    split = data::load_data(a.data);
    Shape input = {split.train.channels, split.train.height, split.train.width};
    if (start.model) {
      model = std::move(start.model);  // the trainer checks that the data fits it
      std::cout << "fine-tuning " << a.init_from << "\n";
    } else {
      model = make_model(a.model, input, split.train.num_classes);
    }
    auto used = [](int64_t limit, int64_t size) {  // "2000 of 60000" under a limit
      return limit > 0 && limit < size ? cat(limit, " of ", size) : cat(size);
    };
    std::cout << "model " << model->name() << ": " << model->num_params() << " parameters, " << model->macs()
              << " MACs per sample; data " << a.data << ": " << used(cfg.train_limit, split.train.size())
              << " train / " << used(cfg.test_limit, split.test.size()) << " test images\n";
    trainer = std::make_unique<train::Trainer>(*model, cfg, &comm);  // checks the configuration
    if (cfg.low_precision.active()) std::cout << "low precision: " << cfg.low_precision.str() << "\n";
    // Said before training, not found after it: can `lowbit export` deploy what this trains?
    exporter::ExportOptions eo;
    eo.normalize = cfg.data.normalize;
    format::ModelDesc desc;
    const std::string problem = exporter::export_problem(model->topology(), eo, &desc);
    const std::string pynq = problem.empty() ? bnn_pynq_fit(desc) : "";
    if (problem.empty())
      std::cout << "deployable: yes (lowbit export writes a .lbm the runtime runs"
                << (pynq.empty() ? "" : "; it fits the BNN-PYNQ overlay " + pynq) << ")\n";
    else
      std::cout << "deployable: no: " << problem << "\n  (it trains; `lowbit export` will refuse it)\n";
    if (cfg.out_dir.empty() && comm.root()) std::cerr << "lowbit: warning: no --out given: nothing will be saved (no checkpoints, no metrics)\n";
  });
  auto history = trainer->fit(split.train, split.test);
  const auto& last = history.back();
  double best = 0;
  for (const auto& m : history) best = std::max(best, m.test_acc);
  std::cout << "final test accuracy " << last.test_acc << " (best " << best << ")";
  if (!cfg.out_dir.empty()) std::cout << "; checkpoints in " << cfg.out_dir;
  std::cout << "\n";
  return 0;
}

}  // namespace

Action add_train_command(CLI::App& app) {
  auto args = std::make_shared<TrainArgs>();
  auto& c = args->cfg;
  CLI::App* cmd = app.add_subcommand("train", "Train a model and write checkpoints + metrics");
  add_model_options(*cmd, args->model, /*required=*/false);
  auto quant_l2 = std::make_shared<float>(0.f);
  auto prune_sigma = std::make_shared<float>(-1.f);
  cmd->add_option("--data", args->data, "fashion-mnist, mnist, or a folder of MNIST-format or CIFAR-10 .bin files")
      ->required();
  cmd->add_option("--epochs", c.epochs, "Number of epochs")->capture_default_str()->check(whole_in(1, train::kMaxEpochs));
  cmd->add_option("--batch", c.batch, "Mini-batch size (a last batch too small for BatchNorm joins the one before it)")
      ->capture_default_str()
      ->check(whole_in(1, train::kMaxBatch));
  cmd->add_option("--lr", c.lr, "Base learning rate")->capture_default_str()->check(real_in(1e-30, std::numeric_limits<float>::max()));
  cmd->add_option("--optimizer", c.optimizer.name, "sgd, adam or adamw")
      ->capture_default_str()
      ->check(CLI::IsMember({"sgd", "adam", "adamw"}));
  cmd->add_option("--momentum", c.optimizer.momentum, "SGD momentum")->capture_default_str()->check(real_in(0, 1));
  cmd->add_flag("--nesterov", c.optimizer.nesterov, "SGD with Nesterov momentum");
  cmd->add_option("--weight-decay", c.optimizer.weight_decay, "Weight decay (L2 for sgd/adam, decoupled for adamw)")
      ->capture_default_str()
      ->check(real_in(0, 1e6));
  cmd->add_option("--schedule", c.schedule, "LR schedule: constant, step:N:GAMMA, exp:GAMMA, cosine")
      ->capture_default_str();
  cmd->add_option("--warmup", c.warmup_epochs, "Linear LR warm-up, in epochs (fractions allowed)")
      ->capture_default_str()
      ->check(real_in(0, static_cast<double>(train::kMaxEpochs)));
  cmd->add_option("--loss", c.loss, "cross_entropy or squared_hinge")
      ->capture_default_str()
      ->check(CLI::IsMember({"cross_entropy", "squared_hinge"}));
  cmd->add_option("--seed", c.seed, "Random seed (init, shuffling, dropout, augmentation)")
      ->capture_default_str()
      ->check(whole_in(0, INT64_MAX));
  cmd->add_option("--threads", c.threads,
                  "Threads for our loops and BLAS (0 = all cores; under mpirun: the cores divided among the ranks "
                  "on the machine)")
      ->capture_default_str()
      ->check(whole_in(0, kMaxThreads));
  cmd->add_option("--gemm", c.gemm,
                  "Library for the float matrix products: onednn or openblas (results differ in the last bits; "
                  "saved in the checkpoint: --resume needs the same one)")
      ->capture_default_str()
      ->check(CLI::IsMember({"onednn", "openblas"}));
  cmd->add_option("--compute", c.compute,
                  "Precision of the matrix products' operands: f32, or bf16 (operands rounded to bfloat16, float32 "
                  "accumulation and master weights; emulated on this build, so slower than f32: docs/TRAINING.md); "
                  "saved in the checkpoint: --resume needs the same one")
      ->capture_default_str()
      ->check(CLI::IsMember({"f32", "bf16"}));
  const char* lp_formats =
      " (fixed:WL,FL[:symmetric][:noclamp], float:E,M[:ieee|:ext], bf16, fp16, bfp:WL[,AXIS], float32; "
      "optionally @ROUNDING; docs/NUMERICS.md)";
  cmd->add_option("--lp-acts", args->lp_acts, cat("Low-precision training: format of every layer's output in forward",
                                                  lp_formats))
      ->capture_default_str();
  cmd->add_option("--lp-errors", args->lp_errors, "Format of the error (gradient) at every layer's output in backward")
      ->capture_default_str();
  cmd->add_option("--lp-grads", args->lp_grads, "Format of the parameter gradients, before the optimizer step")
      ->capture_default_str();
  cmd->add_option("--lp-weights", args->lp_weights, "Format of the parameters, after each optimizer step")
      ->capture_default_str();
  cmd->add_option("--lp-state", args->lp_state, "Format of the optimizer state (momentum, Adam moments), after each step")
      ->capture_default_str();
  cmd->add_option("--lp-acc", args->lp_acc,
                  "Accumulator: the optimizer updates a copy of the parameters in this format (float32: unrounded) "
                  "and the parameters are that copy rounded onto --lp-weights; none: it updates the rounded parameters")
      ->capture_default_str();
  cmd->add_option("--bn-threshold-at", c.bn_threshold_at,
                  "PBNN's BatchNorm switch: from the epoch in which the progressive quantizers' scale v reaches this "
                  "value, BatchNorm trains with its running statistics (the threshold form sign(BN(x)) = "
                  "XNOR(x > T, gamma > 0), PBNN eq. 4-5; PBNN uses 500); 0: never")
      ->capture_default_str();
  cmd->add_option("--lp-layer", args->lp_layers,
                  "Per-layer format, repeatable: PATTERN/SITE=FORMAT, e.g. dense_1/weights=fixed:16,14 or "
                  "'conv2d_*/acts=float32' (PATTERN a glob over the layer names of `lowbit summary`; SITE acts, errors, "
                  "grads, weights or state; later ones win over earlier ones and over the model-wide --lp-* formats)")
      ->expected(1)
      ->take_all();
  cmd->add_option("--quant-l2", *quant_l2,
                  "Sparse ternary training: L2 penalty lambda on the QUANTIZED weights of every quantized layer "
                  "(gradient lambda * Q(w), so zero weights are not decayed; thesis eq. 3.5). 0 = off")
      ->check(real_in(0, 1e6));
  cmd->add_option("--quant-l2-layer", args->quant_l2_layers,
                  "Per-layer lambda, repeatable: GLOB=LAMBDA (later ones win over earlier ones and over --quant-l2)")
      ->expected(1)
      ->take_all();
  cmd->add_option("--prune-after", args->prune_after,
                  "Quantization pruning after these epochs (e.g. 10, or 10,20 to iterate): weights with |w| <= sigma "
                  "are set to 0 and held there (masks kept in checkpoints); training continues with the same settings")
      ->delimiter(',')
      ->check(whole_in(1, train::kMaxEpochs));
  cmd->add_option("--prune-sigma", *prune_sigma,
                  "Pruning threshold sigma in latent units (default: each layer's quantization threshold eta; the "
                  "thesis prunes at sigma = eta, eq. 3.7)")
      ->check(real_in(0, 1e30));
  cmd->add_option("--prune-sigma-layer", args->prune_sigma_layers, "Per-layer sigma, repeatable: GLOB=SIGMA")
      ->expected(1)
      ->take_all();
  CLI::Option* init_from = cmd->add_option(
      "--init-from", args->init_from,
      "Fine-tune: start from this checkpoint's model and weights (pruning masks included: `lowbit prune` writes "
      "such checkpoints) with a fresh optimizer and schedule; the model flags (--model, --weights...) come from it");
  cmd->add_option("--lp-rounding", args->lp_rounding,
                  "Rounding of the --lp-* formats without their own @ROUNDING: nearest (even), nearest-up, "
                  "nearest-away, toward-zero or stochastic (reproducible: keyed by seed, step, tensor, element)")
      ->capture_default_str();
  CLI::Option* out = cmd->add_option("--out", c.out_dir,
                  "Folder for last.ckpt, best.ckpt and metrics.jsonl (without it nothing is saved); a folder that "
                  "already holds a run needs --resume or --overwrite")
      ->check(non_empty());
  CLI::Option* resume = cmd->add_flag(
      "--resume", c.resume, "Continue the run in OUT from last.ckpt (same --seed, --batch and model); starts at epoch 1 "
                            "when OUT holds no checkpoint yet");
  cmd->add_flag("--overwrite", c.overwrite, "Discard the run OUT already holds and start over")->excludes(resume);
  resume->needs(out);
  CLI::Option* normalize =
      cmd->add_option("--normalize", args->normalize,
                      "Pixel scaling: zero_one ([0,1]) or minus_one_one ([-1,1]; the default with --input-bits 1 and signed input quantizers)")
          ->capture_default_str()
          ->check(CLI::IsMember({"zero_one", "minus_one_one"}));
  cmd->add_option("--binary-optimizer", c.binary_optimizer,
                  "Optimizer for 1-bit weights: none (the --optimizer updates latent weights) or bop")
      ->capture_default_str()
      ->check(CLI::IsMember({"none", "bop"}));
  cmd->add_option("--bop-gamma", c.bop.gamma, "Bop adaptivity rate gamma, in (0, 1]")
      ->capture_default_str()
      ->check(real_in(0, 1, /*lo_open=*/true));
  cmd->add_option("--bop-threshold", c.bop.threshold, "Bop flip threshold tau, >= 0")
      ->capture_default_str()
      ->check(real_in(0, 1e6));
  cmd->add_option("--lr-scale", c.lr_scale,
                  "Per-layer LR scale for sign-family weights: none or glorot (BinaryNet, 1/sqrt(1.5/(fan_in+fan_out)))")
      ->capture_default_str()
      ->check(CLI::IsMember({"none", "glorot"}));
  cmd->add_option("--augment", args->augment, "none, crop (4-pixel pad + random crop), flip, or crop,flip")
      ->capture_default_str();
  cmd->add_option("--eval-batch", c.eval_batch, "Batch size for evaluation")
      ->capture_default_str()
      ->check(whole_in(1, train::kMaxBatch));
  cmd->add_option("--train-limit", c.train_limit, "Use only the first N training images (0 = all)")
      ->check(whole_in(0, INT64_MAX));
  cmd->add_option("--test-limit", c.test_limit, "Evaluate only the first N test images (0 = all)")
      ->check(whole_in(0, INT64_MAX));
  cmd->add_option("--progress", args->progress, "auto (bar on a terminal; lines under mpirun), bar, or lines")
      ->capture_default_str()
      ->check(CLI::IsMember({"auto", "bar", "lines"}));
  cmd->add_option("--mpi-timeout", args->mpi_timeout,
                  "Under mpirun: seconds one rank waits for the others in a collective before it stops the job (a "
                  "rank died or hangs; docs/DISTRIBUTED.md)")
      ->capture_default_str()
      ->check(CLI::Range(1.0, 1e6));

  return [args, normalize, quant_l2, prune_sigma, init_from, cmd]() {
    // Under `mpirun -np N` (N > 1) this process is one data-parallel rank of N
    // (docs/DISTRIBUTED.md): all ranks run this same command; rank 0 alone prints.
    std::unique_ptr<Communicator> group = dist::join_launched_group(args->mpi_timeout);
    Communicator& comm = group ? *group : single_process();
    if (!comm.root()) std::cout.setstate(std::ios::badbit);
    try {
      return train_command(*args, normalize->count() > 0, *quant_l2, *prune_sigma, init_from->count() > 0, *cmd, comm);
    } catch (const RelayedError& e) {
      // An agreed stop. The rank that says why says it before any rank exits: mpirun ends the
      // job at the first non-zero exit, and a message still being written would be lost.
      if (!group) throw;
      if (e.print()) std::cerr << "lowbit: error: " << e.what() << (e.usage() ? "\nRun with --help for more information." : "") << std::endl;
      double said = 0;
      group->sum(&said, 1);
      group.reset();  // every rank leaves MPI cleanly
      throw RelayedError(e.what(), e.usage(), /*print=*/false);
    }
  };
}

}  // namespace lowbit::cli
