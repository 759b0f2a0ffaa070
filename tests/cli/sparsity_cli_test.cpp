// The sparse ternary / pruning command line (issue 17): flags that are wrong are usage
// errors naming the flag; train -> prune -> fine-tune -> export works end to end and the
// pruned weights are zero codes in the .lbm.
#include <gtest/gtest.h>

#include <sstream>

#include "cli/cli_util.hpp"
#include "lowbit/format/lbm.hpp"
#include "lowbit/format/model_desc.hpp"
#include "lowbit/train/checkpoint.hpp"

namespace lowbit {
namespace {

using Result = testing::CommandResult;
using testing::run_lowbit;

TEST(SparsityCli, BadFlagsAreUsageErrorsNamingTheFlag) {
  testing::CliWorkspace w("sparseflags");
  const std::string train = "train --model tfc --acts binary --batch 100 --epochs 2 --progress lines --data " + w.path("data");
  for (const auto& [flags, needle] : {
           std::pair<std::string, std::string>{" --weights ternary:0.9 --quant-l2 -1", "--quant-l2"},
           {" --weights ternary:0.9 --quant-l2-layer dense_1", "--quant-l2-layer: 'dense_1' is not GLOB=VALUE"},
           {" --weights ternary:0.9 --quant-l2-layer conv2d_*=0.1", "--quant-l2-layer 'conv2d_*' matches no dense or conv2d layer"},
           {" --quant-l2 0.001", "--quant-l2: layer dense_1 has float weights"},
           {" --weights ternary:0.9 --prune-after 2", "--prune-after 2 leaves no epoch to retrain in"},
           {" --weights binary --prune-after 1", "no layer of tfc can be pruned"},
           {" --weights ternary:0.9 --prune-sigma 0.5", "give --prune-after too"},
           {" --weights ternary:0.9 --layer-weights dense_9=ternary:0.8", "--layer-weights: topology: \"layer_weights\" 'dense_9' matches no"},
           {" --weights ternary:0.9 --layer-weights dense_1=ternary:-1", "--layer-weights: bad quantizer spec 'ternary:-1'"},
           {" --weights ternary:0.9 --init uniform", "--init: "}}) {
    const Result r = run_lowbit(train + flags);
    EXPECT_EQ(r.code, 2) << flags << "\n" << r.out;
    EXPECT_NE(r.out.find(needle), std::string::npos) << flags << "\n" << r.out;
  }
  const Result r = run_lowbit("train --init-from nowhere.ckpt --weights binary --data " + w.path("data"));
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("--weights and --init-from: the model comes from the checkpoint"), std::string::npos) << r.out;
}

TEST(SparsityCli, TrainPruneFineTuneExport) {
  testing::CliWorkspace w("sparserun");
  const std::string data = " --data " + w.path("data");
  Result r = run_lowbit("train --model tfc --weights ternary:0.8 --layer-weights dense_1=ternary:0.9 --init uniform:1 "
                        "--acts binary --input-bits 8 --quant-l2 1e-5 --prune-after 1 --batch 100 --epochs 2 "
                        "--progress lines --out " + w.path("run") + data);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("quantization pruning after epoch 1"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("zeros "), std::string::npos) << r.out;
  train::LoadedModel m = train::load_model(w.path("run/last.ckpt"));
  EXPECT_EQ(m.model->weighted_layers()[0]->quant().weight_spec(), "ternary:0.9");
  EXPECT_EQ(m.model->weighted_layers()[1]->quant().weight_spec(), "ternary:0.8");
  for (nn::WeightedLayer* l : m.model->weighted_layers()) EXPECT_TRUE(l->weight().masked()) << l->name();

  // Another round of quantization pruning at a higher sigma, then fine-tuning it.
  r = run_lowbit("prune " + w.path("run/last.ckpt") + " -o " + w.path("p.ckpt") + " --sigma 0.95");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("total"), std::string::npos) << r.out;
  r = run_lowbit("train --init-from " + w.path("p.ckpt") + " --epochs 1 --batch 100 --progress lines --out " +
                 w.path("ft") + data);
  ASSERT_EQ(r.code, 0) << r.out;
  ASSERT_EQ(run_lowbit("export " + w.path("ft/last.ckpt") + " -o " + w.path("m.lbm")).code, 0);
  train::LoadedModel ft = train::load_model(w.path("ft/last.ckpt"));
  const format::ModelDesc d = format::read_model_desc(format::LbmFile::read(w.path("m.lbm")));
  int64_t masked = 0;
  for (size_t li = 0; li < d.layers.size(); ++li) {
    const nn::Param& p = ft.model->weighted_layers()[li]->weight();
    ASSERT_TRUE(p.masked());
    // tfc is dense-only on a 1-channel image: the IR's (y, x, c) order is training's order.
    for (int64_t i = 0; i < p.value.size(); ++i)
      if (p.mask[i] == 0.f) {
        ASSERT_EQ(d.layers[li].weights[static_cast<size_t>(i)], 0) << li << " " << i;
        ++masked;
      }
  }
  EXPECT_GT(masked, 0);

  // Filter pruning: the listed layers shrink to a multiple of --multiple-of, and fine-tune.
  r = run_lowbit("prune " + w.path("run/last.ckpt") + " -o " + w.path("f.ckpt") +
                 " --filters 0.3 --layers dense_1,dense_2 --multiple-of 16 --rank magnitude");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("dense_1: 64 -> 32 filters"), std::string::npos) << r.out;
  r = run_lowbit("train --init-from " + w.path("f.ckpt") + " --epochs 1 --batch 100 --progress lines" + data);
  EXPECT_EQ(r.code, 0) << r.out;
  // Chosen by the planner on a board, each count a multiple of the layer's PE in its fit.
  ASSERT_EQ(run_lowbit("train --model tfc --weights binary --acts binary --input-bits 8 --batch 100 --epochs 1 "
                       "--progress lines --out " + w.path("bin") + data).code, 0);
  r = run_lowbit("prune " + w.path("bin/last.ckpt") + " -o " + w.path("h.ckpt") +
                 " --filters 0.3 --layers auto --top 2 --board xc7z020 --multiple-of auto");
  ASSERT_EQ(r.code, 0) << r.out;
  int chosen = 0;
  std::istringstream lines(r.out);
  for (std::string line; std::getline(lines, line);) {
    const size_t at = line.find(" -> "), m = line.find("a multiple of ");
    if (at == std::string::npos || line.find(" filters (") == std::string::npos) continue;  // not a cut
    ASSERT_NE(m, std::string::npos) << line;
    EXPECT_EQ(std::stol(line.substr(at + 4)) % std::stol(line.substr(m + 14)), 0) << line;
    ++chosen;
  }
  EXPECT_EQ(chosen, 2) << r.out;
  EXPECT_NE(r.out.find("chosen by the planner on xc7z020"), std::string::npos) << r.out;
  r = run_lowbit("prune " + w.path("run/last.ckpt") + " -o " + w.path("g.ckpt") + " --filters 0.3 --layers dense_4");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("the last weighted layer"), std::string::npos) << r.out;
  r = run_lowbit("prune " + w.path("run/last.ckpt") + " -o " + w.path("run/last.ckpt"));
  EXPECT_EQ(r.code, 2) << r.out;
}

}  // namespace
}  // namespace lowbit
