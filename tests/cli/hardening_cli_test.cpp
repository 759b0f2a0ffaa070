// The faults new users and public bug reports found (issue 10), end to end through the
// executables: each one a test, with its siblings.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli/cli_util.hpp"
#include "data/data_files.hpp"
#include "lowbit/core/file_io.hpp"
#include "lowbit/train/checkpoint.hpp"

namespace lowbit {
namespace {

namespace fs = std::filesystem;
using testing::run_lowbit;
using Result = testing::CommandResult;

std::string file_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

int lines_of(const std::string& s) { return static_cast<int>(std::count(s.begin(), s.end(), '\n')); }

// A small binary CNN on 3x32x32 CIFAR-format images (conv, pool, dense), trained 1 epoch.
std::string train_cifar_model(const testing::CliWorkspace& w) {
  fs::create_directories(w.path("cifar"));
  data::testing::write_bytes(w.path("cifar/data_batch_1.bin"), data::testing::cifar_records(100));
  data::testing::write_bytes(w.path("cifar/test_batch.bin"), data::testing::cifar_records(30, 3));
  nlohmann::json topo = {{"name", "tiny_cifar"},
                         {"input", {3, 32, 32}},
                         {"weights", "binary"},
                         {"layers",
                          {{{"type", "quant_act"}, {"quantizer", "dorefa:8"}},
                           {{"type", "conv2d"}, {"filters", 8}, {"kernel", 3}, {"stride", 2}, {"bias", false}},
                           {{"type", "batchnorm"}},
                           {{"type", "quant_act"}, {"quantizer", "binary"}},
                           {{"type", "maxpool2d"}, {"kernel", 3}},
                           {{"type", "flatten"}},
                           {{"type", "dense"}, {"units", 10}, {"bias", false}},
                           {{"type", "batchnorm"}}}}};
  std::ofstream(w.path("cifar.json")) << topo.dump();
  const Result t = run_lowbit("train --model " + w.path("cifar.json") + " --data " + w.path("cifar") +
                              " --epochs 1 --batch 25 --threads 2 --progress lines --out " + w.path("cifar_run"));
  EXPECT_EQ(t.code, 0) << t.out;
  const Result x = run_lowbit("export " + w.path("cifar_run/best.ckpt") + " -o " + w.path("cifar.lbm"));
  EXPECT_EQ(x.code, 0) << x.out;
  return w.path("cifar.lbm");
}

// Kind 1: data that does not fit the model is one line and exit code 1 from `lowbit run`,
// for every mismatch (channels, height, width), never a crash or an accuracy.
TEST(Hardening, RunRefusesDataOfAnotherGeometry) {
  testing::CliWorkspace w("geom");
  const std::string cifar_model = train_cifar_model(w);
  // A 3-channel 32x32 model on 1-channel 28x28 data (it crashed with SIGSEGV).
  Result r = run_lowbit("run " + cifar_model + " --data " + w.path("data"));
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_EQ(lines_of(r.out), 1) << r.out;
  EXPECT_NE(r.out.find("1 channels, the model takes 3"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("accuracy"), std::string::npos) << r.out;

  // A 1-channel 28x28 model on data too tall, too wide, and with 3 channels.
  const Result t = run_lowbit("train --model tfc --weights binary --acts binary --input-bits 8 --data " + w.path("data") +
                              " --epochs 1 --batch 100 --progress lines --out " + w.path("tfc"));
  ASSERT_EQ(t.code, 0) << t.out;
  ASSERT_EQ(run_lowbit("export " + w.path("tfc/best.ckpt") + " -o " + w.path("tfc.lbm")).code, 0);
  for (const char* d : {"tall", "wide", "small"}) fs::create_directories(w.path(d));
  data::testing::write_mnist_dir(w.path("tall"), 10, 10, 30, 28);
  data::testing::write_mnist_dir(w.path("wide"), 10, 10, 28, 29);
  data::testing::write_mnist_dir(w.path("small"), 10, 10, 20, 24);
  const std::vector<std::pair<std::string, std::string>> cases = {
      {w.path("tall"), "height 30 exceeds the model's 28"},
      {w.path("wide"), "width 29 exceeds the model's 28"},
      {w.path("cifar"), "3 channels, the model takes 1"}};
  for (const auto& [data, needle] : cases) {
    r = run_lowbit("run " + w.path("tfc.lbm") + " --data " + data);
    EXPECT_EQ(r.code, 1) << data << ": " << r.out;
    EXPECT_EQ(lines_of(r.out), 1) << r.out;
    EXPECT_NE(r.out.find(needle), std::string::npos) << r.out;
    // `lowbit eval` refuses the same pairs, by the same rule.
    const Result e = run_lowbit("eval " + w.path("tfc/best.ckpt") + " --data " + data);
    EXPECT_EQ(e.code, 1) << e.out;
    EXPECT_NE(e.out.find(needle), std::string::npos) << e.out;
  }
  // Smaller images are centre-padded, as training pads them: accepted by both.
  r = run_lowbit("run " + w.path("tfc.lbm") + " --data " + w.path("small") + " --json");
  EXPECT_EQ(r.code, 0) << r.out;
}

// Kind 10 and kind 1: the embedding example validates its arguments and the geometry.
TEST(Hardening, ClassifyExampleValidatesItsArguments) {
  testing::CliWorkspace w("classify");
  const std::string model = train_cifar_model(w);
  const std::string classify = LOWBIT_CLASSIFY_PATH;
  std::vector<uint8_t> images(2 * 3 * 32 * 32);
  for (size_t i = 0; i < images.size(); ++i) images[i] = static_cast<uint8_t>(i * 7);
  data::testing::write_bytes(w.path("two.u8"), images);
  for (const std::string& args : {std::string("3 0 32"), std::string("3 32 x"), std::string("3 32"), std::string("3 32 32 1"),
                                  std::string("-3 32 32"), std::string("3 32 99999999999999999999")}) {
    const Result r = testing::run_command(classify + " " + model + " " + w.path("two.u8") + " " + args);
    EXPECT_EQ(r.code, 2) << args << ": " << r.out;  // it crashed with SIGFPE or an uncaught exception
    EXPECT_NE(r.out.find("usage:"), std::string::npos) << r.out;
  }
  Result r = testing::run_command(classify + " " + model + " " + w.path("two.u8") + " 1 32 32");  // 6 grey images
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find("1 channels, the model takes 3"), std::string::npos) << r.out;
  r = testing::run_command(classify + " " + model + " " + w.path("two.u8") + " 3 32 31");
  EXPECT_EQ(r.code, 1) << r.out;
  r = testing::run_command(classify + " " + model + " " + w.path("two.u8") + " 3 32 32");
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(lines_of(r.out), 2) << r.out;
}

// Kind 2: the floating-point environment is part of the contract. BatchNorm constants in
// the denormal range (a hidden layer's gammas of 2e-38, denormal betas and means, a score
// channel's denormal gamma) gave different predictions in `lowbit eval` (FTZ/DAZ) and
// `lowbit export` + `lowbit run` (neither set it).
TEST(Hardening, EvalEqualsRunWithDenormalBatchNormConstants) {
  testing::CliWorkspace w("denormal");
  const Result t = run_lowbit("train --model tfc --weights binary --acts binary --input-bits 8 --data " + w.path("data") +
                              " --epochs 1 --batch 50 --progress lines --out " + w.path("run"));
  ASSERT_EQ(t.code, 0) << t.out;
  train::Checkpoint ck = train::read_checkpoint(w.path("run/best.ckpt"));
  auto tensor = [&](const std::string& name) -> Tensor& {
    for (auto& [n, t] : ck.tensors)
      if (n == name) return t;
    throw Error("no tensor " + name);
  };
  Tensor& gamma = tensor("param:batchnorm_1.gamma");
  Tensor& beta = tensor("param:batchnorm_1.beta");
  for (int64_t c = 0; c < gamma.size(); ++c) {
    gamma[c] = c % 2 ? 2e-38f : -3e-38f;   // gamma / sqrt(var + eps) lands among the denormals
    beta[c] = c % 3 ? 0.f : 1e-40f;         // itself denormal
  }
  tensor("buffer:batchnorm_2.running_mean")[0] = 1e-39f;
  tensor("param:batchnorm_4.gamma")[1] = 1e-39f;  // a score channel
  tensor("param:batchnorm_4.beta")[2] = -1e-41f;
  train::write_checkpoint(w.path("tiny.ckpt"), ck);
  const Result e = run_lowbit("eval " + w.path("tiny.ckpt") + " --data " + w.path("data") + " --json --predictions " +
                              w.path("eval.txt"));
  ASSERT_EQ(e.code, 0) << e.out;
  const Result x = run_lowbit("export " + w.path("tiny.ckpt") + " -o " + w.path("tiny.lbm"));
  ASSERT_EQ(x.code, 0) << x.out;
  for (const char* threads : {"1", "2"}) {
    const Result r = run_lowbit("run " + w.path("tiny.lbm") + " --data " + w.path("data") + " --json --threads " +
                                threads + " --predictions " + w.path("run.txt"));
    ASSERT_EQ(r.code, 0) << r.out;
    EXPECT_EQ(file_text(w.path("run.txt")), file_text(w.path("eval.txt"))) << "threads " << threads;
    EXPECT_DOUBLE_EQ(nlohmann::json::parse(r.out).at("accuracy").get<double>(),
                     nlohmann::json::parse(e.out).at("accuracy").get<double>());
  }
}

// Kind 6: a failed export leaves the file it would have replaced as it was, and says which
// layer exceeds which limit (int:9 weights once wrote an unloadable .lbm over a good one).
TEST(Hardening, FailedExportKeepsTheExistingModelFile) {
  testing::CliWorkspace w("export");
  const std::string common = " --acts binary --input-bits 1 --data " + w.path("data") +
                             " --epochs 1 --batch 100 --progress lines --out ";
  ASSERT_EQ(run_lowbit("train --model tfc --weights binary" + common + w.path("good")).code, 0);
  ASSERT_EQ(run_lowbit("export " + w.path("good/best.ckpt") + " -o " + w.path("m.lbm")).code, 0);
  const std::string before = file_text(w.path("m.lbm"));
  for (const char* weights : {"int:9:signed", "int:12:signed", "int:16:signed"}) {
    const Result t = run_lowbit(std::string("train --model tfc --weights ") + weights + common + w.path(weights));
    ASSERT_EQ(t.code, 0) << t.out;
    EXPECT_NE(t.out.find("deployable: "), std::string::npos) << t.out;
    const Result x = run_lowbit("export " + w.path(weights) + "/best.ckpt -o " + w.path("m.lbm"));
    EXPECT_EQ(x.code, 1) << weights << ": " << x.out;
    EXPECT_NE(x.out.find("layer 2 (dense)"), std::string::npos) << x.out;
    const bool names_limit = x.out.find("at most 9 (int:8 or fewer weight bits)") != std::string::npos ||
                             x.out.find("beyond 2^24") != std::string::npos;
    EXPECT_TRUE(names_limit) << x.out;
    EXPECT_EQ(file_text(w.path("m.lbm")), before) << weights;
  }
  const Result r = run_lowbit("run " + w.path("m.lbm") + " --data " + w.path("data"));
  EXPECT_EQ(r.code, 0) << r.out;
}

// Kind 4: an output folder is checked before training (writable, not holding another run),
// and training without --out says it saves nothing.
TEST(Hardening, OutputFolderIsDecidedBeforeTraining) {
  testing::CliWorkspace w("outdir");
  const std::string train = "train --model tfc --data " + w.path("data") + " --epochs 1 --batch 100 --progress lines";
  Result r = run_lowbit(train);
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("warning: no --out given: nothing will be saved"), std::string::npos) << r.out;

  std::ofstream(w.path("a_file")) << "x";
  r = run_lowbit(train + " --out " + w.path("a_file/run"));  // a folder that cannot be created
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_EQ(r.out.find("epoch 1/1"), std::string::npos) << r.out;  // found before any epoch

  ASSERT_EQ(run_lowbit(train + " --out " + w.path("run")).code, 0);
  const std::string best = file_text(w.path("run/best.ckpt"));
  r = run_lowbit(train + " --seed 9 --out " + w.path("run"));  // used folder, no --resume
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find("already holds a training run"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("--resume"), std::string::npos) << r.out;
  EXPECT_EQ(file_text(w.path("run/best.ckpt")), best);  // nothing overwritten
  r = run_lowbit(train + " --seed 9 --overwrite --out " + w.path("run"));
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("--overwrite: removed the earlier run's files"), std::string::npos) << r.out;
  EXPECT_NE(file_text(w.path("run/best.ckpt")), best);
}

// Kind 4: a last batch of one image (BatchNorm on dense layers cannot train on it) is
// merged into the batch before it, said before training; --batch 1 is refused up front.
TEST(Hardening, LastBatchOfOneIsMergedBeforeTraining) {
  testing::CliWorkspace w("batch");
  const std::string train = "train --model tfc --data " + w.path("data") + " --epochs 1 --progress lines";
  Result r = run_lowbit(train + " --train-limit 201 --batch 100 --out " + w.path("run"));
  EXPECT_EQ(r.code, 0) << r.out;  // it trained the epoch, then failed with nothing saved
  EXPECT_NE(r.out.find("last batch of 1"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("(101 images)"), std::string::npos) << r.out;
  EXPECT_TRUE(fs::exists(w.path("run/best.ckpt")));
  r = run_lowbit(train + " --batch 1");
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find("--batch 1 is too small"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("epoch 1/1"), std::string::npos) << r.out;
}

// Kind 7: errors that name the real fault and what to do.
TEST(Hardening, ErrorsNameTheRealFault) {
  testing::CliWorkspace w("errors");
  const std::string data = " --data " + w.path("data");
  // A folder given as a checkpoint was std::bad_alloc.
  Result r = run_lowbit("eval " + w.path("data") + data);
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find("is a folder, not a file"), std::string::npos) << r.out;
  // Divergence in the first epoch names no last.ckpt that was never written.
  std::ofstream(w.path("plain.json"))
      << R"({"input": [1, 28, 28], "layers": [{"type": "flatten"}, {"type": "dense", "units": 10}]})";
  r = run_lowbit("train --model " + w.path("plain.json") + data +
                 " --epochs 1 --lr 3e38 --optimizer sgd --progress lines --out " + w.path("div"));
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find("diverged"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("no checkpoint had been written yet"), std::string::npos) << r.out;
  // Resuming with other data blamed --model.
  ASSERT_EQ(run_lowbit("train --model tfc" + data + " --epochs 1 --batch 100 --progress lines --out " + w.path("r")).code, 0);
  fs::create_directories(w.path("other"));
  data::testing::write_mnist_dir(w.path("other"), 100, 20, 20, 20);
  r = run_lowbit("train --model tfc --data " + w.path("other") + " --epochs 2 --resume --progress lines --out " + w.path("r"));
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find("resume with the same --data"), std::string::npos) << r.out;
  // An .lbm given as a checkpoint.
  ASSERT_EQ(run_lowbit("train --model tfc --weights binary --acts binary --input-bits 8" + data +
                       " --epochs 1 --batch 100 --progress lines --out " + w.path("b")).code, 0);
  ASSERT_EQ(run_lowbit("export " + w.path("b/best.ckpt") + " -o " + w.path("b.lbm")).code, 0);
  r = run_lowbit("eval " + w.path("b.lbm") + data);
  EXPECT_NE(r.out.find("a deployment model (.lbm), not a training checkpoint"), std::string::npos) << r.out;
}

// Kind 8: whether a model can be deployed is said before training, by `summary` and
// `train`, and the README's first training examples produce deployable models.
TEST(Hardening, DeployabilityIsSaidUpFront) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"--model lfc --weights binary --acts binary --input-bits 8", "Deployable: yes"},
      {"--model cnv --weights binary --acts dorefa:2 --input-bits 8", "Deployable: yes"},
      {"--model tfc --weights binary --acts int:8:unsigned --input-bits 8", "Deployable: yes"},  // a ReLU before int:8
      {"--model tfc --weights binary --acts int:8 --input-bits 8", "Deployable: yes"},
      {"--model lfc --weights binary --acts binary", "--input-bits 8"},  // a float first layer
      {"--model lfc --input-bits 8", "no weight quantizer"},
      {"--model tfc --weights int:4 --acts binary --input-bits 8", "zero point"},
      {"--model lfc --weights int:8:signed --acts binary --input-bits 8", "2^24"},
      {"--model lfc --weights addnet:2 --acts binary --input-bits 8", "AddNet"},
      {"--model cnv --weights syq:binary:row --acts binary --input-bits 8", "syq:binary:layer"},
  };
  for (const auto& [flags, needle] : cases) {
    const Result r = run_lowbit("summary " + flags);
    EXPECT_EQ(r.code, 0) << flags << ": " << r.out;
    EXPECT_NE(r.out.find(needle), std::string::npos) << flags << ": " << r.out;
    if (needle.rfind("Deployable", 0) != 0) EXPECT_NE(r.out.find("Deployable: no: "), std::string::npos) << r.out;
  }
  // The README's quantized training examples (every `lowbit train` line with --weights)
  // produce deployable models.
  std::ifstream readme(std::string(LOWBIT_SOURCE_DIR) + "/README.md");
  std::string line;
  int checked = 0;
  while (std::getline(readme, line)) {
    const size_t at = line.find("build/bin/lowbit train ");
    if (at == std::string::npos || line.find("--weights") == std::string::npos) continue;
    std::istringstream words(line.substr(at + 23));
    std::string word, flags;
    while (words >> word) {
      if (word == "--data" || word == "--out" || word == "--epochs") {
        words >> word;  // its value
        continue;
      }
      if (word == "#" || word == "\\") break;
      flags += " " + word;
    }
    const Result r = run_lowbit("summary" + flags);
    EXPECT_NE(r.out.find("Deployable: yes"), std::string::npos) << line << "\n" << r.out;
    ++checked;
  }
  EXPECT_GE(checked, 2);
}

}  // namespace
}  // namespace lowbit

namespace lowbit {
namespace {

// Kind 9: OpenMP's waiting policy. Unless the user chose one (OMP_WAIT_POLICY or
// GOMP_SPINCOUNT), the CLI runs with GOMP_SPINCOUNT=1000, which keeps 2-thread training
// from collapsing beside another busy process (docs/BENCHMARKS.md); `bench --json` records
// the policy it ran under.
TEST(Hardening, OpenMpWaitingPolicyDefaultsAndOverrides) {
  testing::CliWorkspace w("omp");
  ASSERT_EQ(run_lowbit("train --model tfc --weights binary --acts binary --input-bits 8 --data " + w.path("data") +
                       " --epochs 1 --batch 100 --progress lines --out " + w.path("run")).code, 0);
  ASSERT_EQ(run_lowbit("export " + w.path("run/best.ckpt") + " -o " + w.path("m.lbm")).code, 0);
  auto waiting = [&](const std::string& env) {
    const Result r = testing::run_command("env -u OMP_WAIT_POLICY -u GOMP_SPINCOUNT " + env + " " + LOWBIT_CLI_PATH +
                                          " bench " + w.path("m.lbm") + " --batch 4 --seconds 0.05 --json");
    EXPECT_EQ(r.code, 0) << r.out;
    return nlohmann::json::parse(r.out).at("openmp_waiting").get<std::string>();
  };
  EXPECT_EQ(waiting(""), "GOMP_SPINCOUNT=1000");
  EXPECT_EQ(waiting("OMP_WAIT_POLICY=active"), "OMP_WAIT_POLICY=active");
  EXPECT_EQ(waiting("GOMP_SPINCOUNT=50000"), "GOMP_SPINCOUNT=50000");
}

}  // namespace
}  // namespace lowbit
