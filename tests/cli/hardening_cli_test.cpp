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
// layer exceeds which limit (int:9 weights once wrote an unloadable .lbm over a good one;
// the IR now takes codes up to +-255, so int:12 and int:16 are the failing exports).
TEST(Hardening, FailedExportKeepsTheExistingModelFile) {
  testing::CliWorkspace w("export");
  const std::string common = " --acts binary --input-bits 1 --data " + w.path("data") +
                             " --epochs 1 --batch 100 --progress lines --out ";
  ASSERT_EQ(run_lowbit("train --model tfc --weights binary" + common + w.path("good")).code, 0);
  ASSERT_EQ(run_lowbit("export " + w.path("good/best.ckpt") + " -o " + w.path("m.lbm")).code, 0);
  const std::string before = file_text(w.path("m.lbm"));
  for (const char* weights : {"int:12:signed", "int:16:signed"}) {
    const Result t = run_lowbit(std::string("train --model tfc --weights ") + weights + common + w.path(weights));
    ASSERT_EQ(t.code, 0) << t.out;
    EXPECT_NE(t.out.find("deployable: "), std::string::npos) << t.out;
    const Result x = run_lowbit("export " + w.path(weights) + "/best.ckpt -o " + w.path("m.lbm"));
    EXPECT_EQ(x.code, 1) << weights << ": " << x.out;
    EXPECT_NE(x.out.find("layer 2 (dense)"), std::string::npos) << x.out;
    const bool names_limit = x.out.find("takes codes up to +-255 (int:8 or fewer weight bits)") != std::string::npos ||
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
  EXPECT_EQ(r.code, 2) << r.out;  // a flag's value this model cannot train with: a usage error
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
  EXPECT_EQ(r.code, 2) << r.out;  // flags that contradict the run they continue
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
      {"--model tfc --weights int:4 --acts binary --input-bits 8", "Deployable: yes"},  // zero points (issue 11)
      {"--model tfc --weights int:4 --acts int:4 --input-bits 8", "Deployable: yes"},
      // Products past 2^24 evaluate exactly in double (issue 11), so they deploy.
      {"--model lfc --weights int:8:signed --acts binary --input-bits 8", "Deployable: yes"},
      {"--model lfc --weights addnet:2 --acts binary --input-bits 8", "Deployable: yes"},  // 784 x 92 x 255
      {"--model lfc --weights addnet:2 --acts binary --input-bits 4", "Deployable: yes"},
      {"--model tfc --weights int:12:signed --acts binary --input-bits 8", "+-255"},  // the IR's code bound
      // SYQ row / pixel scales deploy on convolutions as tap groups (issue 11).
      {"--model cnv --weights syq:binary:row --acts binary --input-bits 8", "Deployable: yes"},
      {"--model cnv --weights syq:ternary:pixel --acts dorefa:2 --input-bits 8", "Deployable: yes"},
      // Residual blocks of the Bi-Real shape deploy (issue 11).
      {"--model " + std::string(LOWBIT_SOURCE_DIR) + "/examples/topologies/bireal_cnn.json", "Deployable: yes"},
  };
  for (const auto& [flags, needle] : cases) {
    const Result r = run_lowbit("summary " + flags);
    EXPECT_EQ(r.code, 0) << flags << ": " << r.out;
    EXPECT_NE(r.out.find(needle), std::string::npos) << flags << ": " << r.out;
    if (needle.rfind("Deployable", 0) != 0) {
      EXPECT_NE(r.out.find("Deployable: no: "), std::string::npos) << r.out;
    }
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

// Faults a new user found in a trial of this issue's work (same kinds, new places).
namespace lowbit {
namespace {

std::string trained_tfc(const testing::CliWorkspace& w, const std::string& out) {
  const Result t = run_lowbit("train --model tfc --weights binary --acts binary --input-bits 8 --data " + w.path("data") +
                              " --epochs 1 --batch 100 --progress lines --out " + w.path(out));
  EXPECT_EQ(t.code, 0) << t.out;
  return w.path(out + "/best.ckpt");
}

// Kind 6: an output that is one of the command's inputs would destroy it: refused before
// any work, exit 2, the input unchanged (`export C.ckpt -o C.ckpt` replaced the checkpoint).
TEST(Hardening, OutputThatIsAnInputIsRefused) {
  testing::CliWorkspace w("outin");
  const std::string ckpt = trained_tfc(w, "run");
  ASSERT_EQ(run_lowbit("export " + ckpt + " -o " + w.path("m.lbm")).code, 0);
  const std::string ckpt_bytes = file_text(ckpt), lbm_bytes = file_text(w.path("m.lbm"));
  fs::create_symlink(ckpt, w.path("alias.ckpt"));
  const std::string labels = w.path("data/t10k-labels-idx1-ubyte");
  const std::string labels_bytes = file_text(labels);
  for (const std::string& cmd :
       {"export " + ckpt + " -o " + ckpt, "export " + ckpt + " -o " + w.path("alias.ckpt"),
        "eval " + ckpt + " --data " + w.path("data") + " --predictions " + ckpt,
        "eval " + ckpt + " --data " + w.path("data") + " --predictions " + labels,
        "run " + w.path("m.lbm") + " --data " + w.path("data") + " --predictions " + w.path("m.lbm"),
        "run " + w.path("m.lbm") + " --data " + w.path("data") + " --predictions " + w.path("data"),
        "export " + ckpt + " -o ''"}) {
    const Result r = run_lowbit(cmd);
    EXPECT_EQ(r.code, 2) << cmd << "\n" << r.out;
  }
  EXPECT_EQ(file_text(ckpt), ckpt_bytes);
  EXPECT_EQ(file_text(w.path("m.lbm")), lbm_bytes);
  EXPECT_EQ(file_text(labels), labels_bytes);
  // Through a link to another file, the link's target is written and the link stays.
  std::ofstream(w.path("target.txt")) << "old";
  fs::create_symlink(w.path("target.txt"), w.path("link.txt"));
  const Result r = run_lowbit("run " + w.path("m.lbm") + " --data " + w.path("data") + " --predictions " + w.path("link.txt"));
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_TRUE(fs::is_symlink(w.path("link.txt")));
  EXPECT_EQ(lines_of(file_text(w.path("target.txt"))), 200);
}

// Kind 1, a sibling: a flat model ([F]) takes images of F values; training one failed at its
// first batch ("expected input of shape [-1, 784], got [100, 1, 28, 28]").
TEST(Hardening, FlatInputTopologyTrainsEvaluatesAndDeploys) {
  testing::CliWorkspace w("flat");
  std::ofstream(w.path("flat.json")) << R"({"name": "flat", "input": [784], "weights": "binary", "layers": [
      {"type": "quant_act", "quantizer": "dorefa:8"}, {"type": "dense", "units": 32, "bias": false},
      {"type": "batchnorm"}, {"type": "quant_act", "quantizer": "binary"},
      {"type": "dense", "units": 10, "bias": false}, {"type": "batchnorm"}]})";
  Result r = run_lowbit("train --model " + w.path("flat.json") + " --data " + w.path("data") +
                        " --epochs 1 --batch 50 --progress lines --out " + w.path("run"));
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("deployable: yes"), std::string::npos) << r.out;
  ASSERT_EQ(run_lowbit("eval " + w.path("run/best.ckpt") + " --data " + w.path("data") + " --predictions " +
                       w.path("eval.txt")).code, 0);
  ASSERT_EQ(run_lowbit("export " + w.path("run/best.ckpt") + " -o " + w.path("flat.lbm")).code, 0);
  r = run_lowbit("run " + w.path("flat.lbm") + " --data " + w.path("data") + " --predictions " + w.path("run.txt"));
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(file_text(w.path("run.txt")), file_text(w.path("eval.txt")));
}

// Kind 4: --resume continues the same run: other training settings or other data (of the
// same shapes) are refused, naming what changed (--lr 0.1 and another dataset were taken
// silently); --epochs may grow.
TEST(Hardening, ResumeRefusesChangedSettingsAndData) {
  testing::CliWorkspace w("resumecfg");
  const std::string train = "train --model tfc --batch 100 --progress lines --out " + w.path("run") + " --data ";
  ASSERT_EQ(run_lowbit(train + w.path("data") + " --epochs 1").code, 0);
  for (const auto& [flags, needle] :
       {std::pair<std::string, std::string>{" --epochs 2 --lr 0.1", "--lr 0.001 -> 0.1"},
        {" --epochs 2 --augment flip", "--augment false -> true"},
        {" --epochs 2 --train-limit 300", "--train-limit 0 -> 300"},
        {" --epochs 2 --optimizer sgd", "--optimizer \"adam\" -> \"sgd\""},
        // another GEMM library changes the last bits of every product (issue 15's review)
        {" --epochs 2 --gemm openblas", "--gemm \"onednn\" -> \"openblas\""},
        {" --epochs 2 --compute bf16", "--compute \"f32\" -> \"bf16\""},
        // low-precision formats (issue 16)
        {" --epochs 2 --lp-acts bfp:8", "--lp-acts \"float32\" -> \"bfp:8@nearest-even\""},
        {" --epochs 2 --lp-acc float32", "--lp-acc \"none\" -> \"float32\""},
        {" --epochs 2 --lp-state fixed:8,4@stochastic", "--lp-state \"float32\" -> \"fixed:8,4@stochastic\""},
        // a setting the checkpoint does not have at all is a change too
        {" --epochs 2 --lp-layer dense_1/weights=bf16", "--lp-layer null -> \"dense_1\""}}) {
    const Result r = run_lowbit(train + w.path("data") + flags + " --resume");
    EXPECT_EQ(r.code, 2) << flags << "\n" << r.out;
    EXPECT_NE(r.out.find(needle), std::string::npos) << flags << "\n" << r.out;
  }
  fs::create_directories(w.path("other"));
  testing::write_idx(w.path("other"), "train", testing::synthetic_dataset(600, 7, 10, 28));  // same shapes, other images
  testing::write_idx(w.path("other"), "t10k", testing::synthetic_dataset(200, 2, 10, 28));
  Result r = run_lowbit(train + w.path("other") + " --epochs 2 --resume");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("trained on other data"), std::string::npos) << r.out;
  r = run_lowbit(train + w.path("data") + " --epochs 2 --resume --threads 1 --eval-batch 50");
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("epoch 2/2"), std::string::npos) << r.out;
  // A rounding no format uses changes nothing: it is not a changed setting.
  r = run_lowbit(train + w.path("data") + " --epochs 3 --resume --lp-rounding stochastic");
  EXPECT_EQ(r.code, 0) << r.out;
  // Nor is spelling the same rounding another way ('@' or --lp-rounding).
  ASSERT_EQ(run_lowbit(train + w.path("data") + " --epochs 1 --overwrite --lp-state fixed:8,4@stochastic").code, 0);
  r = run_lowbit(train + w.path("data") + " --epochs 2 --resume --lp-state fixed:8,4 --lp-rounding stochastic");
  EXPECT_EQ(r.code, 0) << r.out;
}

// Low-precision formats on the command line (issue 16): malformed specs are usage errors that
// name the flag and list the valid forms; a run with formats says so, and `summary` of its
// checkpoint shows them (text and JSON).
TEST(Hardening, LowPrecisionFlagsAndSummary) {
  testing::CliWorkspace w("lpflags");
  const std::string train = "train --model tfc --batch 100 --epochs 1 --progress lines --data " + w.path("data");
  for (const auto& [flags, needle] :
       {std::pair<std::string, std::string>{" --lp-acts fixed:0,0", "--lp-acts: number format 'fixed:0,0': WL 0"},
        {" --lp-weights float:9,30", "--lp-weights: number format 'float:9,30': E 9"},
        {" --lp-grads bfp:1", "--lp-grads: number format 'bfp:1': WL 1"},
        {" --lp-acc fixed:8", "--lp-acc: number format 'fixed:8': fixed needs WL,FL"},
        {" --lp-rounding up", "--lp-rounding: unknown rounding 'up'; valid: nearest, nearest-even"}}) {
    const Result r = run_lowbit(train + flags);
    EXPECT_EQ(r.code, 2) << flags << "\n" << r.out;
    EXPECT_NE(r.out.find(needle), std::string::npos) << flags << "\n" << r.out;
    if (flags.find("rounding") == std::string::npos) {
      EXPECT_NE(r.out.find("valid forms: fixed:WL,FL"), std::string::npos) << r.out;
    }
  }
  Result r = run_lowbit(train + " --out " + w.path("run") + " --lp-acts bfp:8 --lp-weights fixed:16,12 --lp-acc float32"
                        " --lp-rounding stochastic");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("low precision: acts=bfp:8 weights=fixed:16,12 acc=float32 rounding=stochastic"),
            std::string::npos) << r.out;
  r = run_lowbit("summary " + w.path("run/last.ckpt"));
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("Trained in low precision: acts=bfp:8@stochastic weights=fixed:16,12@stochastic acc=float32\n"),
            std::string::npos) << r.out;
  r = run_lowbit("summary " + w.path("run/last.ckpt") + " --json");
  ASSERT_EQ(r.code, 0) << r.out;
  const auto j = nlohmann::json::parse(r.out).at("low_precision");
  EXPECT_EQ(j.at("acts"), "bfp:8@stochastic");
  EXPECT_EQ(j.at("acc"), "float32");
  EXPECT_EQ(j.at("errors"), "float32");
  // Per-layer overrides: bad ones name the flag; a pattern matching no layer lists the layers.
  for (const auto& [flags, needle] :
       {std::pair<std::string, std::string>{" --lp-layer dense_1", "--lp-layer: 'dense_1' is not a layer override"},
        {" --lp-layer dense_1/wieghts=bf16", "--lp-layer: 'dense_1/wieghts=bf16': unknown site 'wieghts'"},
        {" --lp-layer dense_1/acts=bfp:1", "--lp-layer: number format 'bfp:1': WL 1"},
        {" --lp-layer dens_1/acts=bf16", "--lp-layer: pattern 'dens_1' matches no layer of tfc (its layers: "},
        // a layer without parameters: its weights override would change nothing
        {" --lp-layer relu_1/weights=bf16",
         "--lp-layer: pattern 'relu_1' matches no layer of tfc with parameters to round (those layers: dense_1, "},
        // PBNN's BatchNorm switch needs a reachable progressive scale and BatchNorm layers
        {" --bn-threshold-at 0.5", "--bn-threshold-at must be 0 (never) or a progressive scale v >= 1, got 0.5"},
        {" --bn-threshold-at 500", "tfc has none: train with --weights/--acts progressive"},
        {" --bn-threshold-at 500 --weights progressive:100", "--bn-threshold-at 500 is never reached"}}) {
    r = run_lowbit(train + flags);
    EXPECT_EQ(r.code, 2) << flags << "\n" << r.out;
    EXPECT_NE(r.out.find(needle), std::string::npos) << flags << "\n" << r.out;
  }
  r = run_lowbit(train + " --out " + w.path("run2") + " --lp-weights fixed:8,6 --lp-layer dense_1/weights=fixed:16,14"
                 " --lp-layer 'dense_*/acts=bf16'");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("low precision: weights=fixed:8,6 rounding=nearest-even; layer dense_1: weights=fixed:16,14; "
                       "layer dense_*: acts=float:8,7\n"),
            std::string::npos) << r.out;
  r = run_lowbit("summary " + w.path("run2/last.ckpt") + " --json");
  ASSERT_EQ(r.code, 0) << r.out;
  const auto layers = nlohmann::json::parse(r.out).at("low_precision").at("layers");
  EXPECT_EQ(layers.dump(), R"([{"match":"dense_1","weights":"fixed:16,14@nearest-even"},)"
                           R"({"acts":"float:8,7@nearest-even","match":"dense_*"}])");
}

// Kind 5 and 7: what a person writes in a topology file is checked, and misleading messages
// name the real cause.
TEST(Hardening, TopologyFilesAreCheckedStrictly) {
  testing::CliWorkspace w("topo");
  const std::vector<std::pair<std::string, std::string>> cases = {
      {R"({"input": [1, 28, 28], "layers": []})", "non-empty array of layers"},  // was an internal error
      {R"({"input": [1, 28, 28], "layers": [{"type": "flatten"}, {"type": "dense", "units": 10, "units": 20}]})",
       "key 'units' appears twice"},
      {R"({"input": [1, 28, 28], "layers": [{"type": "flatten"}, {"type": "dense", "units": 10, "init": "uniform:nan"}]})",
       "expected a finite number"},
      {R"({"input": [1, 28, 28], "layers": [{"type": "flatten"}, {"type": "dense", "units": 10, "init": "normal:-1"}]})",
       "must be > 0"},
      {R"({"input": [1, 1, 28, 28], "layers": [{"type": "flatten"}, {"type": "dense", "units": 10}]})",
       "must be an array of at most 3 integers"},
      {R"({"input": [28, 28], "layers": [{"type": "flatten"}, {"type": "dense", "units": 10}]})", "[C, H, W]"},
      {R"({"input": [1, 28, 28], "weights": "binary", "layers": [{"type": "quant_act", "quantizer": "dorefa:8"},
          {"type": "flatten"}, {"type": "dense", "units": 16}, {"type": "batchnorm"},
          {"type": "quant_act", "quantizer": "int:8"}, {"type": "dense", "units": 10}]})",
       "Deployable: yes"},  // asymmetric int:8 codes deploy with their zero point since issue 11
  };
  for (const auto& [text, needle] : cases) {
    std::ofstream(w.path("t.json")) << text;
    const Result r = run_lowbit("summary --model " + w.path("t.json"));
    EXPECT_NE(r.code, 3) << text << "\n" << r.out;
    EXPECT_NE(r.out.find(needle), std::string::npos) << text << "\n" << r.out;
  }
}

// Usage errors exit with 2 wherever they are found: the flags' validators, the trainer's
// configuration checks, --resume's comparisons.
TEST(Hardening, ConfigurationMistakesAreUsageErrors) {
  testing::CliWorkspace w("usage");
  const std::string train = "train --data " + w.path("data") + " --epochs 1 --progress lines ";
  for (const auto& [flags, needle] : std::vector<std::pair<std::string, std::string>>{
           {"--model tfc --schedule foo", "foo"},
           {"--model tfc --schedule step:0:0.5", "step"},
           {"--model tfc --binary-optimizer bop", "needs 1-bit weights"},
           {"--model tfc --lr-scale glorot", "this model has none"},
           {"--model tfc --batch 1", "--batch 1 is too small"},
           {"--model tfc --train-limit 1", "--train-limit"},
           {"--model tfc --resume", "--resume requires --out"},
           {"--model tfc --lr 1e-50", "--lr: '1e-50' is not a number"},
           {"--model tfc --augment crop,crop", "given twice"},
           {"--model tfc --out ''", "--out"}}) {
    const Result r = run_lowbit(train + flags);
    EXPECT_EQ(r.code, 2) << flags << "\n" << r.out;
    EXPECT_NE(r.out.find(needle), std::string::npos) << flags << "\n" << r.out;
    EXPECT_EQ(r.out.find("epoch 1/1"), std::string::npos) << flags << "\n" << r.out;
  }
  Result r = run_lowbit("bench x.lbm --max-isa pentium");
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(r.out.find("--max-isa: --max-isa"), std::string::npos) << r.out;
  // The header says how much of the data the limits use.
  r = run_lowbit(train + "--model tfc --train-limit 300 --test-limit 100");
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("300 of 600 train / 100 of 200 test images"), std::string::npos) << r.out;
}

// `summary` tells a checkpoint from a model file by content, and refuses flags that would be
// ignored beside a file.
TEST(Hardening, SummaryReadsFilesByContent) {
  testing::CliWorkspace w("summary");
  const std::string ckpt = trained_tfc(w, "run");
  ASSERT_EQ(run_lowbit("export " + ckpt + " -o " + w.path("m.lbm")).code, 0);
  fs::copy_file(w.path("m.lbm"), w.path("renamed.ckpt"));
  fs::copy_file(ckpt, w.path("renamed.lbm"));
  Result r = run_lowbit("summary " + w.path("renamed.ckpt"));
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("MACs per image"), std::string::npos) << r.out;
  r = run_lowbit("summary " + w.path("renamed.lbm"));
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("Deployable: yes"), std::string::npos) << r.out;
  EXPECT_EQ(run_lowbit("summary --model lfc " + ckpt).code, 2);
  EXPECT_EQ(run_lowbit("summary " + ckpt + " --weights ternary").code, 2);
  std::ofstream(w.path("t.json")) << R"({"input": [1, 28, 28], "layers": [{"type": "flatten"}]})";
  r = run_lowbit("summary " + w.path("t.json"));
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("give it as --model"), std::string::npos) << r.out;
  // A folder where a model file is expected is named as such by every command.
  r = run_lowbit("run " + w.path("data") + " --data " + w.path("data"));
  EXPECT_NE(r.out.find("is a folder, not a file"), std::string::npos) << r.out;
  r = testing::run_command(std::string(LOWBIT_CLASSIFY_PATH) + " " + w.path("m.lbm") + " " + w.path("data") + " 1 28 28");
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find("is a folder, not a file"), std::string::npos) << r.out;
  // bench's --seconds is honoured with batches that take longer than it (it made 10 calls).
  r = run_lowbit("bench " + w.path("m.lbm") + " --batch 200000 --seconds 0.01 --json");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(nlohmann::json::parse(r.out).at("calls").get<int>(), 1) << r.out;
}

}  // namespace
}  // namespace lowbit
