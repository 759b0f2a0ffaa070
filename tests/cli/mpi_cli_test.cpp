// `mpirun -np N lowbit train` (docs/DISTRIBUTED.md), on a tiny model and dataset: N ranks
// train what one process trains (the same predictions; weights equal up to float summation
// order), bitwise the same twice for a given N; a killed rank stops the job, last.ckpt
// loads and --resume under mpirun ends where an uninterrupted run ends; a hung rank is
// stopped by the --mpi-timeout watchdog; ranks with different flags are refused at start.
// Skipped when this build has no MPI or mpirun is missing. Open MPI refuses to run as root
// unless told otherwise: the variables are set on these commands only.
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <thread>

#include "cli/cli_util.hpp"
#include "lowbit/dist/launch.hpp"
#include "lowbit/train/checkpoint.hpp"
#include "test_util.hpp"

namespace lowbit {
namespace {

namespace fs = std::filesystem;

// --oversubscribe: more ranks than cores (this machine has 2); leak checks off: a sanitizer
// build would report Open MPI's own allocations at exit.
const std::string kMpirun =
    "OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 ASAN_OPTIONS=detect_leaks=0 mpirun --oversubscribe ";

bool mpi_usable() { return dist::mpi_built() && testing::have_tool("mpirun"); }

#define SKIP_WITHOUT_MPI() \
  if (!mpi_usable()) GTEST_SKIP() << "this build has no MPI (LOWBIT_MPI) or mpirun is missing"

std::string mpirun(int ranks, const std::string& args) {
  return kMpirun + "-np " + std::to_string(ranks) + " " + LOWBIT_CLI_PATH + " " + args;
}

// The model's tensors (optimizer state included) of a checkpoint, by name.
std::vector<std::pair<std::string, std::vector<float>>> tensors_of(const std::string& path) {
  std::vector<std::pair<std::string, std::vector<float>>> out;
  for (const auto& [name, t] : train::read_checkpoint(path).tensors) out.emplace_back(name, std::vector<float>(t.begin(), t.end()));
  return out;
}

std::vector<std::string> lines_of(const std::string& path) {
  std::vector<std::string> v;
  std::ifstream in(path);
  for (std::string l; std::getline(in, l);) v.push_back(l);
  return v;
}

int count_of(const std::string& text, const std::string& what) {
  int n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

// Dropout 0.5: its scale 1/(1 - rate) = 2 keeps the binary layers' sums exact, so no
// activation sits on BatchNorm's mean up to a rounding that the GEMM's summation order
// decides. With 0.25 (scale 4/3) one such tie on a 13-row slice flipped a sign in the first
// step and the 4-rank run drifted from one process (AVX-512 oneDNN, Zen 4; docs/DISTRIBUTED.md).
std::string train_args(const testing::CliWorkspace& w, const std::string& out, int epochs, int batch = 50) {
  return "train --model tfc --weights binary --acts binary --input-bits 8 --dropout 0.5 --data " + w.path("data") +
         " --epochs " + std::to_string(epochs) + " --batch " + std::to_string(batch) +
         " --seed 3 --threads 1 --progress lines --out " + w.path(out);
}

TEST(MpiTrain, RanksTrainWhatOneProcessTrainsAndRepeatBitwise) {
  SKIP_WITHOUT_MPI();
  testing::CliWorkspace w("mpi");
  const testing::CommandResult one = testing::run_lowbit(train_args(w, "one", 3));
  ASSERT_EQ(one.code, 0) << one.out;
  ASSERT_EQ(testing::run_lowbit("eval " + w.path("one/last.ckpt") + " --data " + w.path("data") + " --predictions " +
                                w.path("one.txt")).code, 0);
  const auto ref = tensors_of(w.path("one/last.ckpt"));
  const std::vector<std::string> ref_pred = lines_of(w.path("one.txt"));
  for (int n : {2, 4}) {
    SCOPED_TRACE(std::to_string(n) + " ranks");
    const std::string a = "np" + std::to_string(n) + "a", b = "np" + std::to_string(n) + "b";
    for (const std::string& out : {a, b}) {
      const testing::CommandResult r = testing::run_command(mpirun(n, train_args(w, out, 3)));
      ASSERT_EQ(r.code, 0) << r.out;
      EXPECT_EQ(count_of(r.out, "final test accuracy"), 1) << "rank 0 alone prints:\n" << r.out;
      EXPECT_NE(r.out.find("data parallel: " + std::to_string(n) + " ranks"), std::string::npos) << r.out;
    }
    const auto ta = tensors_of(w.path(a + "/last.ckpt")), tb = tensors_of(w.path(b + "/last.ckpt"));
    EXPECT_EQ(ta, tb) << "two runs on " << n << " ranks differ";
    // Against one process: the same tensors, equal up to the order of float sums.
    ASSERT_EQ(ta.size(), ref.size());
    double worst = 0;
    for (size_t k = 0; k < ta.size(); ++k) {
      ASSERT_EQ(ta[k].first, ref[k].first);
      ASSERT_EQ(ta[k].second.size(), ref[k].second.size()) << ta[k].first;
      for (size_t i = 0; i < ta[k].second.size(); ++i)
        worst = std::max(worst, static_cast<double>(std::fabs(ta[k].second[i] - ref[k].second[i])));
    }
    EXPECT_LT(worst, 1e-3) << "largest difference from the one-process run";
    const std::string pred = w.path(a + ".txt");
    ASSERT_EQ(testing::run_lowbit("eval " + w.path(a + "/last.ckpt") + " --data " + w.path("data") + " --predictions " + pred).code, 0);
    const std::vector<std::string> p = lines_of(pred);
    ASSERT_EQ(p.size(), ref_pred.size());
    size_t same = 0;
    for (size_t i = 0; i < p.size(); ++i) same += p[i] == ref_pred[i];
    EXPECT_GE(same + 2, p.size()) << same << " of " << p.size() << " predictions equal the one-process run's";
    std::cout << n << " ranks: largest weight difference from one process " << worst << ", " << same << " of "
              << p.size() << " predictions equal\n";
  }
}

TEST(MpiTrain, RanksWithDifferentFlagsAreRefusedOnceNamingTheFlag) {
  SKIP_WITHOUT_MPI();
  testing::CliWorkspace w("mpiflags");
  const std::string args = train_args(w, "run", 1);
  const testing::CommandResult r = testing::run_command(kMpirun + "-np 1 " + LOWBIT_CLI_PATH + " " + args + " --lr 0.01 : -np 1 " +
                                                        LOWBIT_CLI_PATH + " " + args + " --lr 0.02");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_EQ(count_of(r.out, "lowbit: error:"), 1) << r.out;
  EXPECT_NE(r.out.find("ranks differ in their settings: --lr 0.01 -> 0.02"), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(w.path("run/last.ckpt")));
}

TEST(MpiTrain, RanksRunningAnotherBuildAreRefused) {
  SKIP_WITHOUT_MPI();
  testing::CliWorkspace w("mpibinary");
  // Another build: the same program with one byte more (an ELF file runs with bytes appended).
  const std::string other = w.path("lowbit-other");
  fs::copy_file(LOWBIT_CLI_PATH, other);
  { std::ofstream(other, std::ios::app) << '\n'; }
  fs::permissions(other, fs::perms::owner_exec, fs::perm_options::add);
  const std::string args = train_args(w, "run", 1);
  const testing::CommandResult r =
      testing::run_command(kMpirun + "-np 1 " + LOWBIT_CLI_PATH + " " + args + " : -np 1 " + other + " " + args);
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_EQ(count_of(r.out, "lowbit: error:"), 1) << r.out;
  EXPECT_NE(r.out.find("ranks differ in their binary"), std::string::npos) << r.out;
}

TEST(MpiTrain, BatchSmallerThanTheRanksIsAUsageError) {
  SKIP_WITHOUT_MPI();
  testing::CliWorkspace w("mpibatch");
  const testing::CommandResult r = testing::run_command(mpirun(4, train_args(w, "run", 1, 3)));
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_EQ(count_of(r.out, "lowbit: error:"), 1) << r.out;
  EXPECT_NE(r.out.find("--batch 3 is split across 4 data-parallel ranks"), std::string::npos) << r.out;
}

TEST(MpiTrain, OtherCommandsAndParseErrorsUnderMpirunAreSaidOnce) {
  SKIP_WITHOUT_MPI();
  const testing::CommandResult summary = testing::run_command(mpirun(2, "summary --model tfc"));
  EXPECT_EQ(summary.code, 2) << summary.out;
  EXPECT_EQ(count_of(summary.out, "lowbit: error: `lowbit summary` runs in one process"), 1) << summary.out;
  const testing::CommandResult typo = testing::run_command(mpirun(2, "train --modle tfc"));
  EXPECT_EQ(typo.code, 2) << typo.out;
  EXPECT_EQ(count_of(typo.out, "Run with --help"), 1) << typo.out;
}

// The pid of the process whose environment says it is MPI rank `rank` and whose command line
// names `marker`; 0 while there is none.
pid_t rank_pid(int rank, const std::string& marker) {
  for (const auto& e : fs::directory_iterator("/proc")) {
    const std::string name = e.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream env(e.path() / "environ"), cmd(e.path() / "cmdline");
    const std::string environ((std::istreambuf_iterator<char>(env)), {}), cmdline((std::istreambuf_iterator<char>(cmd)), {});
    if (cmdline.find(marker) == std::string::npos || cmdline.rfind("mpirun", 0) == 0) continue;
    if (environ.find(std::string("OMPI_COMM_WORLD_RANK=") + std::to_string(rank) + '\0') != std::string::npos)
      return static_cast<pid_t>(std::stol(name));
  }
  return 0;
}

// Epochs last.ckpt records (0 when it is missing or being replaced).
int64_t epochs_done(const std::string& ckpt) {
  try {
    return train::read_checkpoint(ckpt).meta.at("epochs_done").get<int64_t>();
  } catch (...) {
    return 0;
  }
}

struct Background {
  std::string log, code;
  pid_t pid = 0;
  // Exit code once it ended, -1 while it runs.
  int exit_code() const {
    std::ifstream in(code);
    int c = -1;
    return in >> c ? c : -1;
  }
};

Background start(const std::string& command, const std::string& log) {
  Background b{log, log + ".code"};
  const testing::CommandResult r =
      testing::run_command("( " + command + " > " + log + " 2>&1; echo $? > " + b.code + " ) > /dev/null 2>&1 & echo $!");
  b.pid = static_cast<pid_t>(std::stol(r.out));
  return b;
}

// Waits until pred() or `seconds` pass; true when pred() held.
template <class P>
bool wait_for(P pred, double seconds) {
  const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (std::chrono::steady_clock::now() < end) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return pred();
}

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  return std::string((std::istreambuf_iterator<char>(in)), {});
}

TEST(MpiTrain, AKilledRankStopsTheJobAndResumeEndsAsAnUninterruptedRun) {
  SKIP_WITHOUT_MPI();
  testing::CliWorkspace w("mpikill");
  constexpr int kEpochs = 30;
  const testing::CommandResult whole = testing::run_command(mpirun(2, train_args(w, "whole", kEpochs)));
  ASSERT_EQ(whole.code, 0) << whole.out;

  const std::string out = w.path("cut");
  Background job = start(mpirun(2, train_args(w, "cut", kEpochs)), w.path("cut.log"));
  // Rank 1 found first, killed as soon as a checkpoint exists: inside a later epoch.
  pid_t victim = 0;
  ASSERT_TRUE(wait_for([&] { return (victim = rank_pid(1, out)) > 0 || job.exit_code() >= 0; }, 120)) << read_text(job.log);
  ASSERT_GT(victim, 0) << "rank 1 not found:\n" << read_text(job.log);
  ASSERT_TRUE(wait_for([&] { return epochs_done(out + "/last.ckpt") >= 1 || job.exit_code() >= 0; }, 120))
      << read_text(job.log);
  ASSERT_EQ(::kill(victim, SIGKILL), 0);
  ASSERT_EQ(job.exit_code(), -1) << "the run ended before it could be killed:\n" << read_text(job.log);
  ASSERT_TRUE(wait_for([&] { return job.exit_code() >= 0; }, 60)) << "the job did not stop within 60 s after a rank died";
  const std::string log = read_text(job.log);
  EXPECT_NE(job.exit_code(), 0) << log;
  EXPECT_NE(log.find("signal 9"), std::string::npos) << "mpirun names the dead rank:\n" << log;
  const int64_t done = epochs_done(out + "/last.ckpt");
  ASSERT_GE(done, 1) << "last.ckpt does not load after the kill";
  EXPECT_LT(done, kEpochs) << "the kill came after the run ended";

  const testing::CommandResult resumed = testing::run_command(mpirun(2, train_args(w, "cut", kEpochs) + " --resume"));
  ASSERT_EQ(resumed.code, 0) << resumed.out;
  EXPECT_NE(resumed.out.find("resumed from"), std::string::npos) << resumed.out;
  EXPECT_EQ(tensors_of(out + "/last.ckpt"), tensors_of(w.path("whole/last.ckpt")))
      << "resumed run differs from the uninterrupted one";
  EXPECT_EQ(lines_of(out + "/metrics.jsonl").size(), static_cast<size_t>(kEpochs));
}

TEST(MpiTrain, ResumeOnAnotherNumberOfRanksContinuesAndSaysSo) {
  SKIP_WITHOUT_MPI();
  testing::CliWorkspace w("mpiresume");
  const testing::CommandResult two = testing::run_command(mpirun(2, train_args(w, "run", 2)));
  ASSERT_EQ(two.code, 0) << two.out;
  const testing::CommandResult one = testing::run_lowbit(train_args(w, "run", 3) + " --resume");
  ASSERT_EQ(one.code, 0) << one.out;
  EXPECT_NE(one.out.find("was written by a run on 2 rank(s), continued on 1"), std::string::npos) << one.out;
  const testing::CommandResult four = testing::run_command(mpirun(4, train_args(w, "run", 4) + " --resume"));
  ASSERT_EQ(four.code, 0) << four.out;
  EXPECT_NE(four.out.find("was written by a run on 1 rank(s), continued on 4"), std::string::npos) << four.out;
  EXPECT_EQ(epochs_done(w.path("run/last.ckpt")), 4);
  EXPECT_EQ(lines_of(w.path("run/metrics.jsonl")).size(), 4u);
}

TEST(MpiTrain, AHungRankIsStoppedByTheTimeoutWithAMessage) {
  SKIP_WITHOUT_MPI();
  testing::CliWorkspace w("mpihang");
  const std::string out = w.path("hang");
  Background job = start(mpirun(2, train_args(w, "hang", 40) + " --mpi-timeout 10"), w.path("hang.log"));
  pid_t victim = 0;
  ASSERT_TRUE(wait_for([&] { return (victim = rank_pid(1, out)) > 0 || job.exit_code() >= 0; }, 120)) << read_text(job.log);
  ASSERT_GT(victim, 0) << "rank 1 not found:\n" << read_text(job.log);
  ASSERT_TRUE(wait_for([&] { return epochs_done(out + "/last.ckpt") >= 1 || job.exit_code() >= 0; }, 120))
      << read_text(job.log);
  ASSERT_EQ(::kill(victim, SIGSTOP), 0);  // alive, silent: no launcher notices
  ASSERT_EQ(job.exit_code(), -1) << "the run ended before it could be stopped:\n" << read_text(job.log);
  const bool stopped = wait_for([&] { return job.exit_code() >= 0; }, 90);
  ::kill(victim, SIGKILL);  // in case the job did not stop it
  ASSERT_TRUE(stopped) << "the job did not stop within 90 s after a rank hung (--mpi-timeout 10)";
  const std::string log = read_text(job.log);
  EXPECT_NE(job.exit_code(), 0) << log;
  EXPECT_NE(log.find("rank 0 of 2"), std::string::npos) << log;
  EXPECT_NE(log.find("has waited"), std::string::npos) << log;
  EXPECT_GE(epochs_done(out + "/last.ckpt"), 1) << "last.ckpt does not load after the stop";
}

}  // namespace
}  // namespace lowbit
