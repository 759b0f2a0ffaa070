// Exact evaluation through average pooling (nn::AvgPool2d::map_grid, quant::averages_grid,
// docs/DEPLOYMENT.md): after `quant_act -> avgpool2d` (no padding) the next weighted layer
// computes with the integer window sums of the quantizer's codes, which evaluation recovers
// from the kernel's float averages as rnd(average / (step / n)). Checked against sums of
// the codes computed here in integers, on random codes and on the extreme ones (every code
// the largest, every code the smallest) for every code width the deployment format takes;
// and the cases that must fall back to float, each with its reason.
#include <gtest/gtest.h>

#include <cmath>

#include "lowbit/core/rng.hpp"
#include "lowbit/nn/builder.hpp"
#include "lowbit/nn/model.hpp"
#include "lowbit/nn/weighted_layer.hpp"
#include "lowbit/quant/quantizer.hpp"
#include "test_util.hpp"

namespace lowbit {
namespace {

using nn::json;

// quant_act(q) -> `pools` -> flatten -> dense(3) on 2-channel images of `size` x `size`.
std::unique_ptr<nn::Model> pooled_net(const std::string& q, const json& pools, int64_t size) {
  json layers = json::array({{{"type", "quant_act"}, {"quantizer", q}}});
  for (const json& p : pools) layers.push_back(p);
  layers.push_back({{"type", "flatten"}});
  layers.push_back({{"type", "dense"}, {"units", 3}, {"bias", false}});
  auto m = nn::build_model({{"name", "avg"}, {"input", {2, size, size}}, {"weights", "binary"}, {"layers", layers}});
  m->init(5);
  return m;
}

json avgpool(int k, int stride = 0, int padding = 0) {
  return {{"type", "avgpool2d"}, {"kernel", k}, {"stride", stride ? stride : k}, {"padding", padding}};
}

enum class Fill { kRandom, kLargest, kSmallest };

// Inputs that the quantizer maps to random codes (clipping included), or all to its largest
// or smallest code.
Tensor inputs(const Shape& shape, Fill fill, uint64_t seed) {
  Tensor x(shape);
  Rng rng(seed);
  for (float& v : x) v = fill == Fill::kLargest ? 50.f : fill == Fill::kSmallest ? -50.f : rng.uniform(-0.3f, 1.3f);
  return x;
}

// Evaluates the model on x and checks that the dense layer computed with the exact window
// sums of the quantizer's codes (k x k windows, stride s) and scales by w_step * step / n.
void expect_exact_sums(nn::Model& m, const Tensor& x, int64_t k, int64_t s) {
  m.forward(x, Context{false, nullptr});
  nn::Sequential& net = m.net();
  auto* dense = dynamic_cast<nn::WeightedLayer*>(&net.at(net.size() - 1));
  ASSERT_NE(dense, nullptr);
  nn::LayerQuantizers& lq = dense->quant();
  ASSERT_TRUE(lq.last_exact()) << lq.inexact_reason();
  quant::Grid g;
  ASSERT_TRUE(lq.input_grid_source()->grid(g));
  const float step = g.step[0];
  const Tensor& q = net.activation(0);  // the quantizer's values (N, C, H, W)
  const int64_t N = q.dim(0), C = q.dim(1), H = q.dim(2), W = q.dim(3);
  const int64_t OH = (H - k) / s + 1, OW = (W - k) / s + 1;
  const Tensor& codes = lq.input_codes();  // (N, C * OH * OW), flatten's (c, y, x) order
  ASSERT_EQ(codes.size(), N * C * OH * OW);
  for (int64_t i = 0; i < N; ++i)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t y = 0; y < OH; ++y)
        for (int64_t xx = 0; xx < OW; ++xx) {
          int64_t sum = 0;
          for (int64_t dy = 0; dy < k; ++dy)
            for (int64_t dx = 0; dx < k; ++dx) {
              const float v = q[((i * C + c) * H + y * s + dy) * W + xx * s + dx];
              const float code = std::nearbyint(v / step);
              ASSERT_LE(std::fabs(v / step - code), 1e-3f);  // the quantizer's values are on its grid
              sum += static_cast<int64_t>(code);
            }
          ASSERT_EQ(codes[((i * C + c) * OH + y) * OW + xx], static_cast<float>(sum))
              << "image " << i << " channel " << c << " window (" << y << ", " << xx << ")";
        }
  // One scale per output channel: the weight step (binary: 1) times the averages' step.
  for (float scale : lq.output_scales()) EXPECT_EQ(scale, 1.f * (step / static_cast<float>(k * k)));
}

TEST(AvgPoolGrid, LayerAfterAveragePoolingComputesWithTheExactWindowSums) {
  struct Case {
    std::string q;
    int k, stride;
  };
  // Every code width of the format: +-1, 2-bit, 8-bit (DoReFa: codes fl(c / 255) off the
  // float grid, so the averages really round), int:8 (steps from a calibrated range),
  // fixed point; windows 2x2 to 8x8, overlapping and not, and windows that leave a
  // partial edge unused (9 = 2 * 4 + 1 columns for 2x2 stride 2).
  for (const Case& c : {Case{"binary", 2, 2}, Case{"binary", 3, 1}, Case{"dorefa:2", 2, 2}, Case{"dorefa:2", 3, 2},
                        Case{"dorefa:8", 2, 2}, Case{"dorefa:8", 3, 1}, Case{"dorefa:8", 8, 8},
                        Case{"int:8:unsigned", 2, 2}, Case{"int:8:unsigned", 4, 4}, Case{"fixed:6,2", 3, 2}}) {
    SCOPED_TRACE(c.q + " " + std::to_string(c.k) + "x" + std::to_string(c.k) + " stride " + std::to_string(c.stride));
    const int64_t size = c.k == 8 ? 8 : 9;
    auto m = pooled_net(c.q, json::array({avgpool(c.k, c.stride)}), size);
    Rng rng(3);
    m->forward(inputs({16, 2, size, size}, Fill::kRandom, 7), Context{true, &rng});  // calibrates int:8's range
    for (Fill f : {Fill::kRandom, Fill::kLargest, Fill::kSmallest})
      for (uint64_t seed : {11, 12, 13}) expect_exact_sums(*m, inputs({4, 2, size, size}, f, seed), c.k, c.stride);
  }
}

// Max pooling, dropout and flatten keep the grid: the sums are of the max-pooled codes.
TEST(AvgPoolGrid, MaxPoolingBeforeAveragePoolingKeepsTheGrid) {
  auto m = pooled_net("dorefa:2", json::array({json{{"type", "maxpool2d"}, {"kernel", 2}}, json{{"type", "dropout"}, {"rate", 0.5}}, avgpool(2)}), 8);
  m->forward(inputs({3, 2, 8, 8}, Fill::kRandom, 1), Context{false, nullptr});
  auto* dense = dynamic_cast<nn::WeightedLayer*>(&m->net().at(m->net().size() - 1));
  ASSERT_TRUE(dense->quant().last_exact()) << dense->quant().inexact_reason();
  quant::Grid g;
  ASSERT_EQ(dense->quant().input_grid(g), "");
  EXPECT_EQ(g.count, 4);
  EXPECT_EQ(g.code_max, 12);
  EXPECT_EQ(g.step[0], (1.f / 3.f) / 4.f);
}

// Where the averages are on no grid, the layer computes in float and says why.
TEST(AvgPoolGrid, AveragesOffEveryGridFallBackToFloatWithTheReason) {
  struct Case {
    std::string q;
    json pools;
    int64_t size;
    std::string reason;
  };
  for (const Case& c : {Case{"binary", json::array({avgpool(2, 2, 1)}), 8, "(avgpool2d): padded average pooling (padding 1)"},
                        Case{"dorefa:8", json::array({avgpool(16)}), 16, "the averages of 256 codes up to 255 may not round back"},
                        Case{"binary", json::array({avgpool(2), avgpool(2)}), 8, "average pooling of averages"},
                        Case{"binary", json::array({json{{"type", "batchnorm"}}, avgpool(2)}), 8,
                             "(batchnorm): it computes new float values"}}) {
    SCOPED_TRACE(c.reason);
    auto m = pooled_net(c.q, c.pools, c.size);
    m->forward(inputs({2, 2, c.size, c.size}, Fill::kRandom, 3), Context{false, nullptr});
    auto* dense = dynamic_cast<nn::WeightedLayer*>(&m->net().at(m->net().size() - 1));
    EXPECT_FALSE(dense->quant().last_exact());
    const std::string why = dense->quant().inexact_reason();
    EXPECT_NE(why.find("its input is float: layer "), std::string::npos) << why;
    EXPECT_NE(why.find(c.reason), std::string::npos) << why;
    // And the layer's exact form (what export folds) refuses with the same words.
    Tensor codes;
    std::vector<float> scales;
    EXPECT_NE(dense->exact_form(codes, scales, nullptr).find(c.reason), std::string::npos);
  }
}

}  // namespace
}  // namespace lowbit
