// End-to-end tests of the `lowbit` executable: flags, help, errors, and a small
// train -> eval round trip on an MNIST-format dataset the test writes itself.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli/cli_util.hpp"
#include "data/data_files.hpp"
#include "train/synthetic.hpp"

namespace lowbit {
namespace {

namespace fs = std::filesystem;

using Result = testing::CommandResult;
using Workspace = testing::CliWorkspace;
Result run(const std::string& args) { return testing::run_lowbit(args); }

TEST(Cli, HelpForEverySubcommand) {
  for (const char* sub : {"train", "eval", "summary", "export", "run", "bench"}) {
    Result r = run(std::string(sub) + " --help");
    EXPECT_EQ(r.code, 0) << sub;
    EXPECT_NE(r.out.find("Usage"), std::string::npos) << r.out;
  }
  Result top = run("--help");
  EXPECT_EQ(top.code, 0);
  EXPECT_NE(top.out.find("train"), std::string::npos);
}

// Usage errors exit with 2 (README, `lowbit --help`), whoever finds them: CLI11 or a check
// of ours.
TEST(Cli, UnknownFlagsAndBadValuesFailClearly) {
  Result r = run("train --model lfc --data fashion-mnist --epochz 3");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.out.find("--epochz"), std::string::npos) << r.out;
  r = run("train --model lfc --data fashion-mnist --optimizer rmsprop");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.out.find("rmsprop"), std::string::npos) << r.out;
  r = run("train --model nosuchnet --data fashion-mnist");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.out.find("nosuchnet"), std::string::npos) << r.out;
  r = run("frobnicate");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.out.find("unknown subcommand 'frobnicate'"), std::string::npos) << r.out;  // not "a subcommand is required"
  r = run("train --data /nonexistent");  // a required flag (--model) missing
  EXPECT_EQ(r.code, 2);
}

// Every number a flag takes is range-checked before any work, with readable bounds (CLI11's
// PositiveNumber printed a 309-digit maximum; --threads 100000 crashed inside OpenMP;
// negative threads, seeds and limits were accepted).
TEST(Cli, NumericFlagsAreRangeChecked) {
  const std::string train = "train --model tfc --data /nonexistent ";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {train + "--threads 100000", "--threads: '100000' is not a whole number in 0..1024"},
      {train + "--threads -5", "--threads: '-5' is not a whole number in 0..1024"},
      {train + "--seed -1", "--seed: '-1' is not a whole number in 0.."},
      {train + "--train-limit -100", "--train-limit: '-100' is not a whole number"},
      {train + "--test-limit 2.5", "--test-limit: '2.5' is not a whole number"},
      {train + "--epochs 0", "--epochs: '0' is not a whole number in 1..1000000"},
      {train + "--batch 1e3", "--batch: '1e3' is not a whole number"},
      {train + "--eval-batch 0", "--eval-batch: '0' is not a whole number"},
      {train + "--lr -1", "--lr: '-1' is not a number in [1e-30, 3.40282e+38]"},
      {train + "--lr 1e39", "--lr: '1e39' is not a number in [1e-30, 3.40282e+38]"},
      {train + "--lr nan", "--lr: 'nan' is not a number"},
      {train + "--momentum 2", "--momentum: '2' is not a number in [0, 1]"},
      {train + "--dropout 1", "--dropout: '1' is not a number in [0, 0.999]"},
      {train + "--warmup -1", "--warmup: '-1' is not a number"},
      {train + "--bop-gamma 0", "--bop-gamma: '0' is not a number in (0, 1]"},
      {train + "--resume --overwrite --out x", "excludes"},
      {"eval x.ckpt --data d --threads 2000", "--threads: '2000' is not a whole number in 0..1024"},
      {"eval x.ckpt --data d --batch 0", "--batch: '0' is not a whole number"},
      {"run x.lbm --data d --threads -1", "--threads: '-1' is not a whole number in 0..1024"},
      {"bench x.lbm --batch 0", "--batch: '0' is not a whole number in 1..1048576"},
      {"bench x.lbm --seconds 0", "--seconds: '0' is not a number in [0.01, 3600]"},
      {"summary --model tfc --classes 0", "--classes: '0' is not a whole number"},
      {"summary --model cnv --input 3 0 32", "--input: '0' is not a whole number"},
  };
  for (const auto& [args, expect] : cases) {
    Result r = run(args);
    EXPECT_EQ(r.code, 2) << args << "\n" << r.out;
    EXPECT_NE(r.out.find(expect), std::string::npos) << args << "\n" << r.out;
    EXPECT_LT(r.out.size(), 300u) << args << "\n" << r.out;  // one readable line and the --help hint
  }
}

TEST(Cli, MissingDataFolderIsOneClearLine) {
  Result r = run("train --model tfc --data /nonexistent/lowbit-data --epochs 1");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.out.find("/nonexistent/lowbit-data"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("lowbit: error:"), std::string::npos) << r.out;
}

// lowbit eval computes with the checkpoint's --compute: a bf16 run's last test loss comes
// back bit for bit (float32 products would change it).
TEST(Cli, EvalUsesTheCheckpointsComputePrecision) {
  Workspace w;
  const std::string out = w.path("bf16");
  Result t = run("train --model tfc --data " + w.path("data") + " --epochs 1 --batch 50 --seed 3 --threads 2 --compute bf16"
                 " --out " + out + " --progress lines");
  ASSERT_EQ(t.code, 0) << t.out;
  std::ifstream metrics(out + "/metrics.jsonl");
  std::string line;
  ASSERT_TRUE(std::getline(metrics, line));
  const double test_loss = nlohmann::json::parse(line).at("test_loss");
  Result e = run("eval " + out + "/last.ckpt --data " + w.path("data") + " --json");
  ASSERT_EQ(e.code, 0) << e.out;
  EXPECT_EQ(nlohmann::json::parse(e.out).at("loss").get<double>(), test_loss);
}

TEST(Cli, TrainEvalRoundTripAndPredictions) {
  Workspace w;
  std::string out = w.path("run");
  Result t = run("train --model tfc --data " + w.path("data") + " --epochs 2 --batch 50 --seed 3 --threads 2 --out " +
                 out + " --progress lines");
  ASSERT_EQ(t.code, 0) << t.out;
  EXPECT_NE(t.out.find("epoch 2/2"), std::string::npos) << t.out;

  std::ifstream metrics(out + "/metrics.jsonl");
  std::string line, last;
  while (std::getline(metrics, line)) last = line;
  double test_acc = nlohmann::json::parse(last).at("test_acc");
  EXPECT_GT(test_acc, 0.5);

  Result e = run("eval " + out + "/last.ckpt --data " + w.path("data") + " --json --predictions " + w.path("pred.txt"));
  ASSERT_EQ(e.code, 0) << e.out;
  auto j = nlohmann::json::parse(e.out);
  EXPECT_DOUBLE_EQ(j.at("accuracy").get<double>(), test_acc);
  std::ifstream pred(w.path("pred.txt"));
  int lines = 0, value;
  while (pred >> value) {
    EXPECT_GE(value, 0);
    EXPECT_LT(value, 10);
    ++lines;
  }
  EXPECT_EQ(lines, 200);

  Result s = run("summary " + out + "/last.ckpt");
  EXPECT_EQ(s.code, 0) << s.out;
  EXPECT_NE(s.out.find("Total params"), std::string::npos);

  // Resume for one more epoch continues from the checkpoint.
  Result r = run("train --model tfc --data " + w.path("data") + " --epochs 3 --batch 50 --seed 3 --threads 2 --out " +
                 out + " --resume --progress lines");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("resumed"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("epoch 3/3"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("epoch 1/3"), std::string::npos) << r.out;
}

TEST(Cli, BinaryTrainingEvalAndSummary) {
  Workspace w;
  std::string out = w.path("bnn");
  Result t = run("train --model tfc --weights binary --acts binary --input-bits 8 --binary-optimizer bop "
                 "--bop-gamma 0.001 --data " + w.path("data") + " --epochs 2 --batch 50 --seed 3 --threads 2 --out " +
                 out + " --progress lines");
  ASSERT_EQ(t.code, 0) << t.out;
  EXPECT_NE(t.out.find("flips"), std::string::npos) << t.out;
  std::ifstream metrics(out + "/metrics.jsonl");
  std::string line, last;
  while (std::getline(metrics, line)) last = line;
  auto m = nlohmann::json::parse(last);
  EXPECT_GE(m.at("flip_ratio").get<double>(), 0.0);
  // eval rebuilds the quantized model from the checkpoint and reproduces its accuracy.
  Result e = run("eval " + out + "/last.ckpt --data " + w.path("data") + " --json");
  ASSERT_EQ(e.code, 0) << e.out;
  EXPECT_DOUBLE_EQ(nlohmann::json::parse(e.out).at("accuracy").get<double>(), m.at("test_acc").get<double>());
  Result s = run("summary " + out + "/last.ckpt");
  ASSERT_EQ(s.code, 0) << s.out;
  EXPECT_NE(s.out.find("W1A1"), std::string::npos) << s.out;
  EXPECT_NE(s.out.find("W1A8"), std::string::npos) << s.out;
  EXPECT_NE(s.out.find("binary share"), std::string::npos) << s.out;
}

TEST(Cli, BadQuantizerSpecsListTheChoices) {
  for (const char* bad : {"--weights dorefa:0", "--acts int:33", "--weights binry", "--acts xnor"}) {
    SCOPED_TRACE(bad);
    Result r = run(std::string("train --model lfc --data /nonexistent ") + bad);
    EXPECT_EQ(r.code, 2) << r.out;  // a flag's value: a usage error
    EXPECT_NE(r.out.find("lowbit: error:"), std::string::npos) << r.out;
    const bool lists_forms = r.out.find("valid forms: none, binary") != std::string::npos;
    const bool role_error = r.out.find("weights only") != std::string::npos;
    EXPECT_TRUE(lists_forms || role_error) << r.out;
  }
  Result r = run("summary --model lfc --weights binary --input-bits 9");
  EXPECT_EQ(r.code, 2);
  r = run("train --model lfc --data /nonexistent --input-bits 1 --normalize zero_one");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.out.find("minus_one_one"), std::string::npos) << r.out;
}

// CIFAR-10 binary batches through the whole CLI: 3-channel 32x32 input, augmentation on.
TEST(Cli, TrainsOnCifarBatchesWithAugmentation) {
  Workspace w;
  fs::create_directories(w.path("cifar"));
  data::testing::write_bytes(w.path("cifar/data_batch_1.bin"), data::testing::cifar_records(60, 0));
  data::testing::write_bytes(w.path("cifar/data_batch_2.bin"), data::testing::cifar_records(40, 3));
  data::testing::write_bytes(w.path("cifar/test_batch.bin"), data::testing::cifar_records(30, 5));
  std::ofstream(w.path("net.json")) << R"({"name": "tiny", "input": [3, 32, 32], "layers": [
      {"type": "conv2d", "filters": 4, "kernel": 3, "stride": 2}, {"type": "batchnorm"}, {"type": "relu"},
      {"type": "maxpool2d", "kernel": 3}, {"type": "flatten"}, {"type": "dense", "units": 10}]})";
  Result t = run("train --model " + w.path("net.json") + " --data " + w.path("cifar") +
                 " --epochs 2 --batch 16 --augment crop,flip --normalize minus_one_one --threads 2 --out " +
                 w.path("run") + " --progress lines");
  ASSERT_EQ(t.code, 0) << t.out;
  EXPECT_NE(t.out.find("100 train / 30 test"), std::string::npos) << t.out;
  Result e = run("eval " + w.path("run/best.ckpt") + " --data " + w.path("cifar") + " --json");
  ASSERT_EQ(e.code, 0) << e.out;
  EXPECT_EQ(nlohmann::json::parse(e.out).at("images").get<int>(), 30);
}

TEST(Cli, ResumeWithAnotherModelIsRefused) {
  Workspace w;
  std::string common = " --data " + w.path("data") + " --epochs 1 --batch 50 --threads 2 --out " + w.path("run");
  ASSERT_EQ(run("train --model tfc" + common).code, 0);
  Result r = run("train --model sfc --resume" + common);
  EXPECT_EQ(r.code, 2);  // flags that contradict the run they continue
  EXPECT_NE(r.out.find("cannot resume: layer 1 differs"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("resume with the same --model"), std::string::npos) << r.out;
}

TEST(Cli, CorruptCheckpointIsAClearError) {
  Workspace w;
  std::ofstream(w.path("bad.ckpt")) << "LOWBITCK garbage";
  Result e = run("eval " + w.path("bad.ckpt") + " --data " + w.path("data"));
  EXPECT_EQ(e.code, 1);
  EXPECT_NE(e.out.find("bad.ckpt"), std::string::npos) << e.out;
}

// train -> export -> run: the runtime's predictions file equals eval's and its accuracy is
// the trainer's; bench reports the JSON keys; summary reads the .lbm; bad inputs are clear.
TEST(Cli, ExportRunBenchAgreeWithTheTrainer) {
  Workspace w;
  std::string out = w.path("deploy");
  Result t = run("train --model tfc --weights binary --acts dorefa:2 --input-bits 8 --data " + w.path("data") +
                 " --epochs 1 --batch 50 --seed 4 --threads 2 --out " + out + " --progress lines");
  ASSERT_EQ(t.code, 0) << t.out;
  Result x = run("export " + out + "/last.ckpt -o " + out + "/m.lbm");
  ASSERT_EQ(x.code, 0) << x.out;
  Result e = run("eval " + out + "/last.ckpt --data " + w.path("data") + " --json --predictions " + out + "/ev.txt");
  ASSERT_EQ(e.code, 0) << e.out;
  Result r = run("run " + out + "/m.lbm --data " + w.path("data") + " --json --predictions " + out + "/rt.txt");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_DOUBLE_EQ(nlohmann::json::parse(r.out).at("accuracy").get<double>(),
                   nlohmann::json::parse(e.out).at("accuracy").get<double>());
  std::ifstream a(out + "/ev.txt"), b(out + "/rt.txt");
  std::string ea((std::istreambuf_iterator<char>(a)), {}), rb((std::istreambuf_iterator<char>(b)), {});
  EXPECT_EQ(std::count(ea.begin(), ea.end(), '\n'), 200);
  EXPECT_EQ(ea, rb);
  Result bench = run("bench " + out + "/m.lbm --batch 4 --threads 1 --seconds 0.05 --json");
  ASSERT_EQ(bench.code, 0) << bench.out;
  auto j = nlohmann::json::parse(bench.out);
  for (const char* key : {"fps", "latency_us_p50", "latency_us_p99", "batch", "threads", "isa"})
    EXPECT_TRUE(j.contains(key)) << key;
  EXPECT_GT(j.at("fps").get<double>(), 0.0);
  EXPECT_EQ(j.at("batch").get<int>(), 4);
  Result s = run("summary " + out + "/m.lbm");
  ASSERT_EQ(s.code, 0) << s.out;
  EXPECT_NE(s.out.find("2-bit"), std::string::npos) << s.out;

  // Bad inputs: an unknown ISA, a corrupt model, a float checkpoint.
  Result isa = run("bench " + out + "/m.lbm --max-isa pentium");
  EXPECT_EQ(isa.code, 2);
  EXPECT_NE(isa.out.find("pentium"), std::string::npos) << isa.out;
  std::ofstream(w.path("bad.lbm")) << "not a model";
  Result bad = run("run " + w.path("bad.lbm") + " --data " + w.path("data"));
  EXPECT_EQ(bad.code, 1);
  EXPECT_NE(bad.out.find("bad.lbm"), std::string::npos) << bad.out;
  Result f = run("train --model tfc --data " + w.path("data") + " --epochs 1 --batch 50 --out " + w.path("float") +
                 " --progress lines");
  ASSERT_EQ(f.code, 0) << f.out;
  Result fx = run("export " + w.path("float") + "/last.ckpt -o " + w.path("float.lbm"));
  EXPECT_EQ(fx.code, 1);
  EXPECT_NE(fx.out.find("--input-bits"), std::string::npos) << fx.out;
  EXPECT_FALSE(fs::exists(w.path("float.lbm")));
}

}  // namespace
}  // namespace lowbit
