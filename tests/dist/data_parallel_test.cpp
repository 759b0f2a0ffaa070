// Data parallelism without MPI (docs/DISTRIBUTED.md): N ranks as threads of this process
// (dist/thread_group.hpp) must compute what one process computes for the whole batch --
// sync BN, int:k ranges, the random draws of dropout, stochastic binarization and
// augmentation, the loss's share of the mean, bucketed gradient sums, agreement on errors,
// and the whole trainer.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>

#include "dist/thread_group.hpp"
#include "lowbit/core/communicator.hpp"
#include "lowbit/data/batch.hpp"
#include "lowbit/nn/batchnorm.hpp"
#include "lowbit/nn/builder.hpp"
#include "lowbit/nn/dropout.hpp"
#include "lowbit/nn/loss.hpp"
#include "lowbit/quant/quantizer.hpp"
#include "lowbit/train/gradient_sync.hpp"
#include "lowbit/train/trainer.hpp"
#include "nn/gradcheck.hpp"
#include "train/synthetic.hpp"
#include "train/train_test_util.hpp"

namespace lowbit {
namespace {

using testing::random_tensor;
using testing::ThreadGroup;

// Rows [lo, hi) of a batch tensor (dim 0).
Tensor rows(const Tensor& x, int64_t lo, int64_t hi) {
  Shape s = x.shape();
  const int64_t per = x.size() / s[0];
  s[0] = hi - lo;
  Tensor out(s);
  for (int64_t i = 0; i < out.size(); ++i) out[i] = x[lo * per + i];
  return out;
}

// The slice of `count` rows that rank r of n holds (the trainer's split).
std::pair<int64_t, int64_t> slice(int64_t count, int r, int n) { return {count * r / n, count * (r + 1) / n}; }

TEST(DataParallel, SingleProcessGroupLeavesEverythingAndPassesErrorsUnchanged) {
  Communicator& one = single_process();
  EXPECT_EQ(one.size(), 1);
  EXPECT_TRUE(one.root());
  float v[2] = {1.5f, -2.f};
  one.sum(v, 2);
  one.max(v, 2);
  EXPECT_EQ(v[0], 1.5f);
  EXPECT_EQ(v[1], -2.f);
  EXPECT_THROW(collectively(one, [] { usage_fail("bad flag"); }), UsageError);
  int ran = 0;
  on_root(one, [&] { ++ran; });
  EXPECT_EQ(ran, 1);
}

TEST(DataParallel, AFailureOnOneRankStopsEveryRankWithOneMessage) {
  ThreadGroup group(3);
  std::vector<int> printed(3, -1), usage(3, -1);
  std::vector<std::string> what(3);
  group.run([&](Communicator& comm) {
    try {
      collectively(comm, [&] {
        if (comm.rank() == 1) usage_fail("rank 1's flag is wrong");
      });
    } catch (const RelayedError& e) {
      printed[static_cast<size_t>(comm.rank())] = e.print();
      usage[static_cast<size_t>(comm.rank())] = e.usage();
      what[static_cast<size_t>(comm.rank())] = e.what();
    }
    // Work on rank 0 alone that fails: every rank throws, rank 0 prints.
    try {
      on_root(comm, [] { fail("disk full"); });
      ADD_FAILURE() << "on_root did not throw on rank " << comm.rank();
    } catch (const RelayedError& e) {
      EXPECT_EQ(e.print(), comm.rank() == 0);
      EXPECT_FALSE(e.usage());
      EXPECT_STREQ(e.what(), "disk full");
    }
  });
  EXPECT_EQ(printed, (std::vector<int>{0, 1, 0}));
  EXPECT_EQ(usage, (std::vector<int>{1, 1, 1}));
  for (const std::string& w : what) {  // the failed rank names itself and its host
    EXPECT_EQ(w.rfind("rank 1 of 3 (host ", 0), 0u) << w;
    EXPECT_NE(w.find("): rank 1's flag is wrong"), std::string::npos) << w;
  }
}

TEST(DataParallel, TheTestGroupRefusesRanksMakingDifferentCalls) {
  ThreadGroup group(2);
  std::vector<int> threw(2, 0);
  group.run([&](Communicator& comm) {
    float v[3] = {1, 2, 3};
    try {
      comm.sum(v, comm.rank() == 0 ? 3 : 2);
    } catch (const std::logic_error&) {
      threw[static_cast<size_t>(comm.rank())] = 1;
    }
    comm.sum(v, 3);  // and the group still works
    EXPECT_EQ(v[0], 2.f);
  });
  EXPECT_EQ(threw, (std::vector<int>{1, 1}));
}

TEST(DataParallel, GradientSumsPackBucketsInOrderAndSumEveryParameter) {
  const std::vector<int64_t> sizes = {5, 3, 10, 2, 4};
  for (int64_t bucket : {int64_t{1}, int64_t{4}, int64_t{6}, int64_t{100}}) {
    SCOPED_TRACE("bucket " + std::to_string(bucket));
    ThreadGroup group(3);
    group.run([&](Communicator& comm) {
      std::vector<Param> params(sizes.size());
      std::vector<Param*> ptrs;
      for (size_t k = 0; k < sizes.size(); ++k) {
        params[k].grad.resize({sizes[k]});
        for (int64_t i = 0; i < sizes[k]; ++i) params[k].grad[i] = static_cast<float>(comm.rank() * 1000 + k * 10 + i);
        ptrs.push_back(&params[k]);
      }
      std::vector<float> scratch;
      train::sum_gradients(comm, ptrs, scratch, bucket);
      for (size_t k = 0; k < sizes.size(); ++k)
        for (int64_t i = 0; i < sizes[k]; ++i)
          ASSERT_EQ(params[k].grad[i], static_cast<float>(3000 + 3 * (k * 10 + i))) << k << "," << i;
    });
  }
}

TEST(DataParallel, SyncBatchNormComputesTheWholeBatchStatisticsAndGradients) {
  for (const Shape& shape : {Shape{10, 3, 2, 3}, Shape{7, 5}}) {
    SCOPED_TRACE(shape_str(shape));
    const Tensor x = random_tensor(shape, 1, -2.f, 3.f), dy = random_tensor(shape, 2);
    nn::BatchNorm whole(shape[1]);
    Rng init(0);
    whole.init(init);
    whole.gamma()->value[1] = 1.7f;
    Tensor y, dx;
    whole.forward(x, y, {true, nullptr});
    whole.backward(x, y, dy, &dx);
    for (int n : {2, 3}) {
      SCOPED_TRACE(cat(n, " ranks"));
      ThreadGroup group(n);
      group.run([&](Communicator& comm) {
        nn::BatchNorm part(shape[1]);
        Rng r0(0);
        part.init(r0);
        part.gamma()->value[1] = 1.7f;
        const auto [lo, hi] = slice(shape[0], comm.rank(), n);
        const Tensor xs = rows(x, lo, hi), dys = rows(dy, lo, hi), ys_want = rows(y, lo, hi), dxs_want = rows(dx, lo, hi);
        nn::Context ctx{true, nullptr};
        ctx.comm = &comm;
        ctx.row_offset = lo;
        Tensor ys, dxs;
        part.forward(xs, ys, ctx);
        part.backward(xs, ys, dys, &dxs);
        for (int64_t i = 0; i < ys.size(); ++i) ASSERT_NEAR(ys[i], ys_want[i], 2e-6f) << i;
        for (int64_t i = 0; i < dxs.size(); ++i) ASSERT_NEAR(dxs[i], dxs_want[i], 2e-6f) << i;
        for (int64_t c = 0; c < shape[1]; ++c) {
          EXPECT_NEAR(part.running_mean()[c], whole.running_mean()[c], 1e-6f);
          EXPECT_NEAR(part.running_var()[c], whole.running_var()[c], 1e-6f);
        }
        // The parameter gradients are this rank's part: summed, the whole batch's.
        std::vector<float> scratch;
        train::sum_gradients(comm, part.params(), scratch);
        for (int64_t c = 0; c < shape[1]; ++c) {
          EXPECT_NEAR(part.gamma()->grad[c], whole.gamma()->grad[c], 2e-5f);
          EXPECT_NEAR(part.beta()->grad[c], whole.beta()->grad[c], 2e-5f);
        }
      });
    }
  }
}

TEST(DataParallel, IntActivationRangesAreTheWholeBatchRangeOnEveryRank) {
  const Tensor x = random_tensor({8, 6}, 3, -1.f, 1.f);
  auto whole = quant::make_quantizer("int:4", quant::Role::kActivation);
  Tensor y_whole;
  whole->forward(x, y_whole, {true, nullptr});
  ThreadGroup group(2);
  group.run([&](Communicator& comm) {
    auto part = quant::make_quantizer("int:4", quant::Role::kActivation);
    const auto [lo, hi] = slice(8, comm.rank(), 2);
    nn::Context ctx{true, nullptr};
    ctx.comm = &comm;
    Tensor y;
    part->forward(rows(x, lo, hi), y, ctx);
    const Tensor want = rows(y_whole, lo, hi);
    for (int64_t i = 0; i < y.size(); ++i) ASSERT_EQ(y[i], want[i]) << i;
    for (const auto& [name, t] : part->buffers()) {
      const auto other = whole->buffers();
      for (const auto& [n2, t2] : other)
        if (n2 == name) {
          EXPECT_EQ((*t)[0], (*t2)[0]) << name;
        }
    }
  });
}

TEST(DataParallel, DropoutAndStochasticSlicesDrawWhatTheWholeBatchDraws) {
  // 6 rows of 3000: the 4096-element random streams straddle the slices.
  const Tensor x = random_tensor({6, 3000}, 4);
  nn::Dropout whole_dropout(0.3f);
  auto whole_stochastic = quant::make_quantizer("stochastic", quant::Role::kActivation);
  Tensor yd, ys;
  Rng a(7), b(7);
  whole_dropout.forward(x, yd, {true, &a});
  whole_stochastic->forward(x, ys, {true, &b});
  for (const auto& [lo, hi] : std::vector<std::pair<int64_t, int64_t>>{{0, 2}, {2, 3}, {3, 6}, {1, 5}}) {
    SCOPED_TRACE(cat("rows ", lo, "..", hi));
    nn::Dropout d(0.3f);
    auto q = quant::make_quantizer("stochastic", quant::Role::kActivation);
    Rng ra(7), rb(7);
    nn::Context ca{true, &ra}, cb{true, &rb};
    ca.row_offset = cb.row_offset = lo;
    Tensor pd, ps;
    d.forward(rows(x, lo, hi), pd, ca);
    q->forward(rows(x, lo, hi), ps, cb);
    const Tensor wd = rows(yd, lo, hi), ws = rows(ys, lo, hi);
    for (int64_t i = 0; i < pd.size(); ++i) ASSERT_EQ(pd[i], wd[i]) << i;
    for (int64_t i = 0; i < ps.size(); ++i) ASSERT_EQ(ps[i], ws[i]) << i;
  }
}

TEST(DataParallel, AugmentedSlicesAndTheStreamAfterThemMatchTheWholeBatch) {
  const data::Dataset ds = testing::synthetic_dataset(20, 5, 4, 8);
  data::BatchOptions opt;
  opt.augment.random_crop = true;
  opt.augment.crop_pad = 2;
  opt.augment.hflip = true;
  std::vector<int64_t> idx(10);
  for (int64_t i = 0; i < 10; ++i) idx[static_cast<size_t>(i)] = (i * 7) % 20;
  Rng whole_rng(11);
  Tensor whole;
  std::vector<int32_t> labels;
  data::make_batch(ds, idx.data(), 10, opt, whole_rng, whole, labels);
  for (const auto& [lo, hi] : std::vector<std::pair<int64_t, int64_t>>{{0, 3}, {3, 7}, {7, 10}}) {
    Rng rng(11);
    data::skip_batch_draws(rng, lo, opt.augment);
    Tensor part;
    std::vector<int32_t> part_labels;
    data::make_batch(ds, idx.data() + lo, hi - lo, opt, rng, part, part_labels);
    data::skip_batch_draws(rng, 10 - hi, opt.augment);
    const Tensor want = rows(whole, lo, hi);
    for (int64_t i = 0; i < part.size(); ++i) ASSERT_EQ(part[i], want[i]) << lo << ": " << i;
    EXPECT_EQ(rng.next_u64(), Rng(whole_rng).next_u64());
  }
}

TEST(DataParallel, LossPartsAddUpToTheBatchMean) {
  const Tensor logits = random_tensor({9, 4}, 6, -3.f, 3.f);
  const int32_t labels[9] = {0, 1, 2, 3, 0, 1, 2, 3, 1};
  for (const char* name : {"cross_entropy", "squared_hinge"}) {
    auto loss = nn::make_loss(name);
    Tensor d_whole;
    const double whole = loss->compute(logits, labels, &d_whole);
    double parts = 0;
    for (const auto& [lo, hi] : std::vector<std::pair<int64_t, int64_t>>{{0, 4}, {4, 9}}) {
      Tensor d;
      parts += loss->compute(rows(logits, lo, hi), labels + lo, &d, 9);
      const Tensor want = rows(d_whole, lo, hi);
      for (int64_t i = 0; i < d.size(); ++i) ASSERT_EQ(d[i], want[i]) << name << " " << i;
    }
    EXPECT_NEAR(parts, whole, 1e-12) << name;
    Tensor d;
    EXPECT_THROW(loss->compute(logits, labels, &d, 8), Error) << name;  // fewer than the rows
  }
}

// The whole trainer on 1 and on 2 or 3 thread ranks: the same metrics up to rounding, the
// same predictions, and bitwise the same result twice for a given number of ranks.
nn::json dp_topology() {
  return {{"name", "dp"},
          {"input", {1, 8, 8}},
          {"layers",
           {{{"type", "conv2d"}, {"filters", 4}, {"kernel", 3}, {"padding", 1}, {"bias", false}, {"weight_quantizer", "binary"}},
            {{"type", "batchnorm"}},
            {{"type", "quant_act"}, {"quantizer", "int:4"}},
            {{"type", "maxpool2d"}, {"kernel", 2}},
            {{"type", "flatten"}},
            {{"type", "dropout"}, {"rate", 0.1}},
            {{"type", "dense"}, {"units", 4}}}}};
}

struct DpRun {
  std::vector<float> state;
  std::vector<train::EpochMetrics> history;
  std::vector<int32_t> predictions;
};

DpRun train_on(int ranks) {
  const data::Dataset train_set = testing::synthetic_dataset(240, 1), test_set = testing::synthetic_dataset(96, 2);
  train::TrainConfig c;
  c.epochs = 3;
  c.batch = 30;
  c.lr = 0.01f;
  c.progress = 0;
  c.quiet = true;
  c.threads = 1;
  c.data.augment.hflip = true;
  std::vector<DpRun> out(static_cast<size_t>(ranks));
  ThreadGroup group(ranks);
  group.run([&](Communicator& comm) {
    auto model = nn::build_model(dp_topology());
    train::Trainer t(*model, c, &comm);
    DpRun& r = out[static_cast<size_t>(comm.rank())];
    r.history = t.fit(train_set, test_set);
    r.state = testing::model_state(*model);
    nn::Model& m = *model;
    r.predictions = train::evaluate(m, test_set, c.data, 1000, *nn::make_loss("cross_entropy")).predictions;
  });
  for (int k = 1; k < ranks; ++k) EXPECT_EQ(out[static_cast<size_t>(k)].state, out[0].state) << "rank " << k;
  return out[0];
}

TEST(DataParallel, TrainerOnRanksComputesWhatOneProcessComputes) {
  const DpRun one = train_on(1);
  for (int n : {2, 3}) {
    SCOPED_TRACE(cat(n, " ranks"));
    const DpRun a = train_on(n), b = train_on(n);
    EXPECT_EQ(a.state, b.state);  // reproducible for a given number of ranks
    ASSERT_EQ(a.history.size(), one.history.size());
    for (size_t e = 0; e < a.history.size(); ++e) {
      EXPECT_NEAR(a.history[e].loss, one.history[e].loss, 1e-3) << e;
      EXPECT_NEAR(a.history[e].test_acc, one.history[e].test_acc, 0.021) << e;  // 2 of 96 images
    }
    ASSERT_EQ(a.state.size(), one.state.size());
    double worst = 0;
    for (size_t i = 0; i < a.state.size(); ++i) worst = std::max(worst, static_cast<double>(std::fabs(a.state[i] - one.state[i])));
    EXPECT_LT(worst, 1e-2) << "largest difference of a parameter or buffer";
    int64_t same = 0;
    for (size_t i = 0; i < a.predictions.size(); ++i) same += a.predictions[i] == one.predictions[i];
    EXPECT_GE(same, static_cast<int64_t>(a.predictions.size()) - 2);
  }
}

// Global state beyond the weights -- int:k EMA ranges, SYQ and AddNet scales, Adam moments,
// Bop's state, progressive v -- is the same on every rank after training.
TEST(DataParallel, QuantizerAndOptimizerStateIsTheSameOnEveryRank) {
  const data::Dataset train_set = testing::synthetic_dataset(120, 1), test_set = testing::synthetic_dataset(40, 2);
  nn::json topo = {{"name", "dpstate"},
                   {"input", {1, 8, 8}},
                   {"layers",
                    {{{"type", "conv2d"}, {"filters", 4}, {"kernel", 3}, {"padding", 1}, {"bias", false},
                      {"weight_quantizer", "syq:binary"}},
                     {{"type", "batchnorm"}},
                     {{"type", "quant_act"}, {"quantizer", "int:4"}},
                     {{"type", "conv2d"}, {"filters", 4}, {"kernel", 3}, {"padding", 1}, {"bias", false},
                      {"weight_quantizer", "addnet:2"}},
                     {{"type", "batchnorm"}},
                     {{"type", "quant_act"}, {"quantizer", "progressive"}},
                     {{"type", "flatten"}},
                     {{"type", "dense"}, {"units", 4}, {"weight_quantizer", "binary"}}}}};
  for (const char* binary_optimizer : {"none", "bop"}) {
    SCOPED_TRACE(binary_optimizer);
    train::TrainConfig c;
    c.epochs = 2;
    c.batch = 20;
    c.lr = 0.01f;
    c.quiet = true;
    c.threads = 1;
    c.optimizer.name = "adam";
    c.binary_optimizer = binary_optimizer;
    std::vector<train::Checkpoint> states(3);
    ThreadGroup group(3);
    group.run([&](Communicator& comm) {
      auto model = nn::build_model(topo);
      train::Trainer t(*model, c, &comm);
      const auto history = t.fit(train_set, test_set);
      states[static_cast<size_t>(comm.rank())] = t.state(static_cast<int64_t>(history.size()), history);
    });
    size_t optimizer_tensors = 0, quantizer_tensors = 0;
    for (const auto& [name, tensor] : states[0].tensors) {
      optimizer_tensors += name.rfind("optim:", 0) == 0 || name.rfind("bop:", 0) == 0;
      quantizer_tensors += name.find("quantizer") != std::string::npos;
    }
    EXPECT_GT(optimizer_tensors, 0u);
    EXPECT_GT(quantizer_tensors, 0u);
    for (int r = 1; r < 3; ++r) {
      ASSERT_EQ(states[static_cast<size_t>(r)].tensors.size(), states[0].tensors.size());
      for (size_t k = 0; k < states[0].tensors.size(); ++k) {
        const auto& [name, want] = states[0].tensors[k];
        const auto& [got_name, got] = states[static_cast<size_t>(r)].tensors[k];
        ASSERT_EQ(got_name, name);
        ASSERT_EQ(std::vector<float>(got.begin(), got.end()), std::vector<float>(want.begin(), want.end()))
            << name << " differs on rank " << r;
      }
    }
  }
}

// Trains `topo` on `ranks` thread ranks, rank r with config_of(r): every rank must stop with
// one agreed usage error that rank 0 alone prints. Returns each rank's message.
std::vector<std::string> agreed_usage_errors(int ranks, const nn::json& topo,
                                             const std::function<train::TrainConfig(int)>& config_of) {
  const data::Dataset train_set = testing::synthetic_dataset(60, 1), test_set = testing::synthetic_dataset(20, 2);
  std::vector<std::string> messages(static_cast<size_t>(ranks));
  ThreadGroup group(ranks);
  group.run([&](Communicator& comm) {
    auto model = nn::build_model(topo);
    train::Trainer t(*model, config_of(comm.rank()), &comm);
    try {
      t.fit(train_set, test_set);
      ADD_FAILURE() << "rank " << comm.rank() << " trained";
    } catch (const RelayedError& e) {
      EXPECT_TRUE(e.usage());
      EXPECT_EQ(e.print(), comm.rank() == 0);
      messages[static_cast<size_t>(comm.rank())] = e.what();
    }
  });
  return messages;
}

TEST(DataParallel, FewerImagesThanRanksIsOneUsageErrorNamingTheRanks) {
  const nn::json topo = {{"name", "nobn"}, {"input", {1, 8, 8}}, {"layers", {{{"type", "flatten"}}, {{"type", "dense"}, {"units", 4}}}}};
  const std::vector<std::string> messages = agreed_usage_errors(3, topo, [](int) {
    train::TrainConfig c;
    c.batch = 10;
    c.quiet = true;
    c.threads = 1;
    c.train_limit = 2;
    return c;
  });
  EXPECT_NE(messages[0].find("fewer than the 3 data-parallel ranks"), std::string::npos) << messages[0];
  EXPECT_EQ(messages[1], messages[0]);
}

TEST(DataParallel, TrainerRefusesABatchSmallerThanTheRanks) {
  ThreadGroup group(3);
  group.run([&](Communicator& comm) {
    auto model = nn::build_model(dp_topology());
    train::TrainConfig c;
    c.batch = 2;
    c.quiet = true;
    EXPECT_THROW(train::Trainer(*model, c, &comm), UsageError);
  });
}

TEST(DataParallel, RanksWithDifferentSettingsAreRefusedNamingTheFlag) {
  const std::vector<std::string> messages = agreed_usage_errors(2, dp_topology(), [](int rank) {
    train::TrainConfig c;
    c.epochs = 1;
    c.batch = 20;
    c.quiet = true;
    c.threads = 1;
    c.lr = rank == 0 ? 0.01f : 0.02f;
    return c;
  });
  EXPECT_NE(messages[0].find("ranks differ in their settings"), std::string::npos) << messages[0];
  EXPECT_NE(messages[0].find("--lr 0.01 -> 0.02"), std::string::npos) << messages[0];  // as typed, not 0.00999...
  EXPECT_EQ(messages[0], messages[1]);
}

}  // namespace
}  // namespace lowbit
