// lowbit eval CKPT --data D: evaluate a checkpoint on the test split.
#include <iostream>
#include <sstream>

#include "lowbit/cli/commands.hpp"
#include "lowbit/core/error.hpp"
#include "lowbit/core/file_io.hpp"
#include "lowbit/core/threading.hpp"
#include "lowbit/kernels/gemm.hpp"
#include "lowbit/data/class_report.hpp"
#include "lowbit/data/loader.hpp"
#include "lowbit/train/checkpoint.hpp"
#include "lowbit/train/trainer.hpp"

namespace lowbit::cli {

namespace {
struct EvalArgs {
  std::string checkpoint, data, predictions;
  int64_t batch = 1000;
  int threads = 0;
  bool json_out = false;
  ClassResultArgs results;
};
}  // namespace

Action add_eval_command(CLI::App& app) {
  auto args = std::make_shared<EvalArgs>();
  CLI::App* cmd = app.add_subcommand("eval", "Evaluate a checkpoint on a dataset's test split");
  cmd->add_option("checkpoint", args->checkpoint, "A .ckpt file written by lowbit train")->required();
  cmd->add_option("--data", args->data, "fashion-mnist, mnist, or a data folder")->required();
  cmd->add_option("--predictions", args->predictions, "Write one predicted class per line, in dataset order")
      ->check(non_empty());
  cmd->add_option("--batch", args->batch, "Evaluation batch size")
      ->capture_default_str()
      ->check(whole_in(1, train::kMaxBatch));
  cmd->add_option("--threads", args->threads, "Threads (0 = all cores)")
      ->capture_default_str()
      ->check(whole_in(0, kMaxThreads));
  cmd->add_flag("--json", args->json_out, "Print the result as one JSON object");
  add_class_result_options(cmd, args->results);

  return [args]() {
    if (!args->predictions.empty())
      check_output("--predictions", args->predictions, {args->checkpoint, data_folder(args->data)});
    if (!args->results.scores.empty())
      check_output("--scores", args->results.scores, {args->checkpoint, data_folder(args->data), args->predictions});
    set_num_threads(args->threads);
    auto [model, ck] = train::load_model(args->checkpoint);
    const train::TrainConfig cfg = train::checkpoint_train_config(ck, args->checkpoint);
    kernels::set_gemm_backend(kernels::parse_gemm_backend(cfg.gemm));  // the products of training, bit for bit
    kernels::set_gemm_compute(kernels::parse_gemm_compute(cfg.compute));
    data::DataSplit split = data::load_data(args->data);
    auto loss = nn::make_loss(cfg.loss);
    std::vector<float> scores;
    train::EvalResult r = train::evaluate(*model, split.test, cfg.data, args->batch, *loss, 0, nullptr,
                                          args->results.scores.empty() ? nullptr : &scores);
    const auto n = static_cast<int64_t>(r.predictions.size());
    // The model's scores per image: evaluate() checked its output is [classes].
    const auto classes = static_cast<int>(model->output_shape()[0]);
    const data::ClassReport report = data::class_report(split.test.labels.data(), r.predictions.data(), n, classes);
    if (!args->results.scores.empty())
      write_output(args->results.scores, scores_csv(split.test, r.predictions.data(), scores.data(), classes));
    if (!args->predictions.empty()) {
      std::ostringstream os;
      for (int32_t p : r.predictions) os << p << "\n";
      write_output(args->predictions, os.str());
    }
    if (args->json_out) {
      nlohmann::json j = {{"accuracy", r.accuracy}, {"loss", r.loss}, {"images", r.predictions.size()},
                          {"checkpoint", args->checkpoint}};
      if (!args->results.no_per_class) j["per_class"] = data::class_report_json(report, split.test.class_names);
      std::cout << j.dump() << "\n";
    } else {
      std::cout << "test accuracy " << r.accuracy << " (" << r.predictions.size() << " images), loss " << r.loss
                << "\n";
      if (!args->results.no_per_class) std::cout << data::format_class_report(report, split.test.class_names);
    }
    return 0;
  };
}

}  // namespace lowbit::cli
