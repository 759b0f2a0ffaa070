// `lowbit export --format bnn-pynq` and `lowbit run --semantics bnn-pynq` end to end: the
// LFC W1A1 recipe trained briefly on a small MNIST-format set, exported as a parameter
// folder with the test images, and run with the overlay's class rules; flag misuse is a
// usage error (exit 2) naming the flag.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "cli/cli_util.hpp"

namespace lowbit {
namespace {

namespace fs = std::filesystem;
using testing::run_lowbit;

TEST(CliBnnPynq, ExportAndRunTheLfcRecipe) {
  testing::CliWorkspace w("pynq");
  const std::string data = w.path("data");
  auto t = run_lowbit("train --model lfc --weights binary --acts binary --input-bits 1 --loss squared_hinge --epochs 1 "
                      "--batch 100 --threads 2 --data " + data + " --out " + w.path("run"));
  ASSERT_EQ(t.code, 0) << t.out;
  const std::string ckpt = w.path("run/best.ckpt");
  auto e = run_lowbit("export " + ckpt + " --format bnn-pynq --network lfcW1A1 -o " + w.path("out") +
                      " --dataset digits --test-images " + data);
  ASSERT_EQ(e.code, 0) << e.out;
  EXPECT_NE(e.out.find("289 files"), std::string::npos) << e.out;
  EXPECT_EQ(fs::file_size(w.path("out/digits/lfcW1A1/0-31-weights.bin")), 3328u);
  EXPECT_EQ(fs::file_size(w.path("out/digits/lfcW1A1/3-15-thres.bin")), 32u);
  // The test images go beside the parameter set (OUT/), not into what is copied to bnn/params/.
  EXPECT_EQ(fs::file_size(w.path("out/test-images-idx3-ubyte")), 16u + 200 * 784);
  EXPECT_EQ(fs::file_size(w.path("out/test-labels-idx1-ubyte")), 8u + 200);
  EXPECT_NE(e.out.find("test-labels-idx1-ubyte: 200 test labels"), std::string::npos) << e.out;
  EXPECT_FALSE(fs::exists(w.path("out/digits/test-images-idx3-ubyte")));
  // The parameter folder may be written again (replaced whole); a set named as one BNN-PYNQ
  // ships gets a note; the parent of -o must exist; --test-images errors name that flag.
  e = run_lowbit("export " + ckpt + " --format bnn-pynq --network lfcW1A1 -o " + w.path("out") + " --dataset mnist");
  ASSERT_EQ(e.code, 0) << e.out;
  EXPECT_NE(e.out.find("note: BNN-PYNQ ships a parameter set named 'mnist'"), std::string::npos) << e.out;
  e = run_lowbit("export " + ckpt + " --format bnn-pynq --network lfcW1A1 -o " + w.path("no/such/out"));
  EXPECT_EQ(e.code, 1) << e.out;
  EXPECT_FALSE(fs::exists(w.path("no")));
  e = run_lowbit("export " + ckpt + " --format bnn-pynq --network lfcW1A1 -o " + w.path("out") +
                 " --test-images " + w.path("nodata"));
  EXPECT_EQ(e.code, 1) << e.out;
  EXPECT_NE(e.out.find("--test-images"), std::string::npos) << e.out;
  EXPECT_EQ(e.out.find("--data "), std::string::npos) << e.out;

  ASSERT_EQ(run_lowbit("export " + ckpt + " -o " + w.path("m.lbm")).code, 0);
  // summary names the overlay a model fits: of the .lbm, the checkpoint, and a --model
  // dry run (with the pixel scaling training would default to); train says it too.
  for (const std::string& what :
       {w.path("m.lbm"), ckpt, std::string("--model lfc --weights binary --acts ternary:0.5 --input-bits 1")}) {
    auto s = run_lowbit("summary " + what);
    const std::string net = what.find("ternary") != std::string::npos ? "lfcW1A2" : "lfcW1A1";
    EXPECT_NE(s.out.find("BNN-PYNQ overlay: " + net + " (lowbit export --format bnn-pynq --network " + net + ")"),
              std::string::npos)
        << what << "\n" << s.out;
  }
  EXPECT_NE(run_lowbit("summary --model lfc --weights binary --acts binary --input-bits 8").out.find(
                "BNN-PYNQ overlay: none fits"),
            std::string::npos);
  EXPECT_NE(t.out.find("it fits the BNN-PYNQ overlay lfcW1A1"), std::string::npos) << t.out;
  auto r = run_lowbit("run " + w.path("m.lbm") + " --data " + data + " --semantics bnn-pynq --json --predictions " +
                      w.path("pred.txt"));
  ASSERT_EQ(r.code, 0) << r.out;
  const nlohmann::json j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["bnn_pynq"]["network"], "lfcW1A1");
  EXPECT_GE(j["bnn_pynq"]["accuracy"].get<double>(), 0.0);
  EXPECT_LE(j["bnn_pynq"]["accuracy"].get<double>(), 1.0);
  EXPECT_TRUE(fs::exists(w.path("pred.txt")));
  // Naming the network explicitly, and a network the model does not fit.
  r = run_lowbit("run " + w.path("m.lbm") + " --data " + data + " --semantics bnn-pynq --network lfcW1A1");
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("bnn-pynq lfcW1A1: test accuracy"), std::string::npos) << r.out;
  r = run_lowbit("run " + w.path("m.lbm") + " --data " + data + " --semantics bnn-pynq --network cnvW1A1");
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find("cnvW1A1 has 9 weighted layers"), std::string::npos) << r.out;
  e = run_lowbit("export " + ckpt + " --format bnn-pynq --network lfcW1A2 -o " + w.path("out"));
  EXPECT_EQ(e.code, 1) << e.out;
  EXPECT_NE(e.out.find("layer 0 (dense@"), std::string::npos) << e.out;
  EXPECT_FALSE(fs::exists(w.path("out/lowbit/lfcW1A2")));
}

TEST(CliBnnPynq, FlagMisuseIsAUsageError) {
  testing::CliWorkspace w("pynqflags");
  const struct {
    std::string args, says;
  } cases[] = {
      {"export x.ckpt --format bnn-pynq -o out", "--network"},
      {"export x.ckpt --format bnn-pynq --network lfcW9A9 -o out", "lfcW1A1, lfcW1A2, cnvW1A1, cnvW1A2, cnvW2A2"},
      {"export x.ckpt -o m.lbm --network lfcW1A1", "--network applies to --format bnn-pynq"},
      {"export x.ckpt -o m.lbm --dataset d", "--dataset applies to --format bnn-pynq"},
      {"export x.ckpt --format onnx -o m.lbm", "--format"},
      {"export x.ckpt --format bnn-pynq --network lfcW1A1 --dataset ../up -o out", "--dataset: bnn-pynq: dataset name"},
      {"export x.ckpt --format bnn-pynq --network lfcW1A1 --dataset .. -o out", "not '.' or '..'"},
      {"export x.ckpt --format bnn-pynq --network lfcW1A1 --dataset '' -o out", "--dataset"},
      {"run m.lbm --data d --network lfcW1A1", "--network applies to --semantics bnn-pynq"},
      {"run m.lbm --data d --semantics finn", "--semantics"},
  };
  for (const auto& c : cases) {
    const auto r = run_lowbit(c.args);
    EXPECT_EQ(r.code, 2) << c.args << "\n" << r.out;
    EXPECT_NE(r.out.find(c.says), std::string::npos) << c.args << "\n" << r.out;
  }
}

}  // namespace
}  // namespace lowbit
