// A kill at any moment of training loses nothing: `lowbit train` is killed (SIGKILL, a real
// kill: no handler, no clean-up) at every step of every checkpoint and metrics write in turn
// (core/file_io.hpp's LOWBIT_FAULT_KILL_AT_WRITE), then resumed with --resume. Each time the
// folder must end as an uninterrupted run's: best.ckpt holds the best epoch's weights,
// last.ckpt loads and equals the uninterrupted one bit for bit, metrics.jsonl lists every
// epoch with the same accuracies, and no temporary file is left.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "cli/cli_util.hpp"
#include "lowbit/train/checkpoint.hpp"

namespace lowbit {
namespace {

namespace fs = std::filesystem;

// The model's parameters and buffers (optimizer state included), by name.
std::vector<std::pair<std::string, std::vector<float>>> tensors_of(const std::string& path) {
  std::vector<std::pair<std::string, std::vector<float>>> out;
  for (const auto& [name, t] : train::read_checkpoint(path).tensors) out.emplace_back(name, std::vector<float>(t.begin(), t.end()));
  return out;
}

std::vector<double> test_accuracies(const std::string& metrics) {
  std::vector<double> acc;
  std::ifstream in(metrics);
  std::string line;
  while (std::getline(in, line)) acc.push_back(nlohmann::json::parse(line).at("test_acc").get<double>());
  return acc;
}

std::vector<std::string> temp_files(const std::string& dir) {
  std::vector<std::string> found;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().filename().string().find(".tmp.") != std::string::npos) found.push_back(e.path().filename().string());
  return found;
}

TEST(KillResume, KilledAtEveryWriteStepThenResumedEqualsUninterrupted) {
  testing::CliWorkspace w("kill");
  const std::string train = "train --model tfc --weights binary --acts binary --input-bits 8 --data " + w.path("data") +
                            " --epochs 3 --batch 50 --seed 5 --threads 1 --progress lines --out ";
  const testing::CommandResult ref = testing::run_lowbit(train + w.path("ref"));
  ASSERT_EQ(ref.code, 0) << ref.out;
  const auto ref_last = tensors_of(w.path("ref/last.ckpt")), ref_best = tensors_of(w.path("ref/best.ckpt"));
  const std::vector<double> ref_acc = test_accuracies(w.path("ref/metrics.jsonl"));
  ASSERT_EQ(ref_acc.size(), 3u);

  int kills = 0;
  for (int step = 1; step < 100; ++step) {
    SCOPED_TRACE("killed at write step " + std::to_string(step));
    const std::string dir = w.path("k" + std::to_string(step));
    const testing::CommandResult killed =
        testing::run_command("LOWBIT_FAULT_KILL_AT_WRITE=" + std::to_string(step) + " " + LOWBIT_CLI_PATH + " " + train + dir);
    if (killed.code == 0) break;  // past the last write step of the run
    ASSERT_EQ(killed.code, 128 + 9) << killed.out;  // SIGKILL
    ++kills;
    const testing::CommandResult resumed = testing::run_lowbit(train + dir + " --resume");
    ASSERT_EQ(resumed.code, 0) << resumed.out;
    EXPECT_TRUE(temp_files(dir).empty()) << temp_files(dir).front();
    EXPECT_EQ(tensors_of(dir + "/last.ckpt"), ref_last);
    EXPECT_EQ(tensors_of(dir + "/best.ckpt"), ref_best);
    EXPECT_EQ(test_accuracies(dir + "/metrics.jsonl"), ref_acc);
    fs::remove_all(dir);
  }
  // Two steps per write; per epoch last.ckpt, metrics.jsonl and (when best) best.ckpt.
  std::printf("killed and resumed at %d write steps\n", kills);
  EXPECT_GE(kills, 3 * 4 + 2);
}

// A kill that leaves the folder at its end (nothing left to train) still leaves complete
// metrics after --resume: resume rewrites them from the checkpoint's history.
TEST(KillResume, ResumeWithNothingLeftToTrainRebuildsMetrics) {
  testing::CliWorkspace w("killdone");
  const std::string train = "train --model tfc --data " + w.path("data") +
                            " --epochs 2 --batch 100 --threads 1 --progress lines --out " + w.path("run");
  ASSERT_EQ(testing::run_lowbit(train).code, 0);
  fs::remove(w.path("run/metrics.jsonl"));
  std::ofstream(w.path("run/.last.ckpt.tmp.AbC123")) << "a torn write";
  const testing::CommandResult r = testing::run_lowbit(train + " --resume");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(test_accuracies(w.path("run/metrics.jsonl")).size(), 2u);
  EXPECT_FALSE(fs::exists(w.path("run/.last.ckpt.tmp.AbC123")));
  EXPECT_NE(r.out.find("removed 1 temporary file"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace lowbit
