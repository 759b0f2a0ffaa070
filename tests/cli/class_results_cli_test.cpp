// Per-class results of `lowbit eval` and `lowbit run`: the confusion matrix and per-class
// accuracy agree with the --predictions file and the labels, the --scores CSV's rows with
// both, and the text form shows them (docs/DEPLOYMENT.md, "Per-class results").
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/cli_util.hpp"

namespace lowbit {
namespace {

std::vector<int32_t> read_predictions(const std::string& path) {
  std::vector<int32_t> v;
  std::ifstream in(path);
  for (int32_t p; in >> p;) v.push_back(p);
  return v;
}

struct ScoreRow {
  int64_t image;
  int32_t label, predicted;
  std::vector<double> scores;
};

std::vector<ScoreRow> read_scores(const std::string& path, int classes) {
  std::ifstream in(path);
  std::string header;
  std::getline(in, header);
  std::string want = "image,label,predicted";
  for (int c = 0; c < classes; ++c) want += ",score_" + std::to_string(c);
  EXPECT_EQ(header, want);
  std::vector<ScoreRow> rows;
  for (std::string line; std::getline(in, line);) {
    std::istringstream f(line);
    std::string cell;
    std::vector<std::string> cells;
    while (std::getline(f, cell, ',')) cells.push_back(cell);
    EXPECT_EQ(cells.size(), static_cast<size_t>(3 + classes)) << line;
    if (cells.size() != static_cast<size_t>(3 + classes)) break;
    ScoreRow r{std::stoll(cells[0]), std::stoi(cells[1]), std::stoi(cells[2]), {}};
    for (int c = 0; c < classes; ++c) r.scores.push_back(std::stod(cells[static_cast<size_t>(3 + c)]));
    rows.push_back(std::move(r));
  }
  return rows;
}

// The JSON report against counts made here from the labels and the predictions file.
void expect_report_matches(const nlohmann::json& report, const std::vector<int32_t>& labels,
                           const std::vector<int32_t>& pred, int classes) {
  ASSERT_EQ(report["confusion"].size(), static_cast<size_t>(classes));
  std::vector<std::vector<int64_t>> m(static_cast<size_t>(classes), std::vector<int64_t>(static_cast<size_t>(classes)));
  for (size_t i = 0; i < labels.size(); ++i) ++m[static_cast<size_t>(labels[i])][static_cast<size_t>(pred[i])];
  for (int t = 0; t < classes; ++t) {
    int64_t support = 0;
    for (int p = 0; p < classes; ++p) {
      EXPECT_EQ(report["confusion"][t][p].get<int64_t>(), m[static_cast<size_t>(t)][static_cast<size_t>(p)]) << t << "," << p;
      support += m[static_cast<size_t>(t)][static_cast<size_t>(p)];
    }
    const nlohmann::json& c = report["classes"][t];
    EXPECT_EQ(c["images"].get<int64_t>(), support);
    EXPECT_EQ(c["correct"].get<int64_t>(), m[static_cast<size_t>(t)][static_cast<size_t>(t)]);
    if (support) EXPECT_DOUBLE_EQ(c["accuracy"].get<double>(), double(m[static_cast<size_t>(t)][static_cast<size_t>(t)]) / double(support));
  }
}

void expect_scores_match(const std::vector<ScoreRow>& rows, const std::vector<int32_t>& labels,
                         const std::vector<int32_t>& pred) {
  ASSERT_EQ(rows.size(), labels.size());
  for (size_t i = 0; i < rows.size(); ++i) {
    EXPECT_EQ(rows[i].image, static_cast<int64_t>(i));
    EXPECT_EQ(rows[i].label, labels[i]);
    EXPECT_EQ(rows[i].predicted, pred[i]);
    // The predicted class is the first highest score.
    size_t best = 0;
    for (size_t c = 1; c < rows[i].scores.size(); ++c)
      if (rows[i].scores[c] > rows[i].scores[best]) best = c;
    EXPECT_EQ(static_cast<int32_t>(best), pred[i]) << "image " << i;
  }
}

TEST(ClassResultsCli, EvalAndRunReportsAgreeWithPredictionsAndScores) {
  testing::CliWorkspace w("classes");
  const std::vector<int32_t> labels = testing::synthetic_dataset(200, 2, 10, 28).labels;  // the workspace's test set
  const std::string data = " --data " + w.path("data");
  ASSERT_EQ(testing::run_lowbit("train --model tfc --weights binary --acts binary --input-bits 8 --epochs 2 --seed 1" +
                                data + " --out " + w.path("run")).code, 0);
  const std::string ckpt = w.path("run/best.ckpt"), lbm = w.path("m.lbm");
  ASSERT_EQ(testing::run_lowbit("export " + ckpt + " -o " + lbm).code, 0);

  struct Case {
    std::string command, tag;
  };
  for (const Case& c : {Case{"eval " + ckpt, "eval"}, Case{"run " + lbm, "run"}}) {
    SCOPED_TRACE(c.tag);
    const std::string pred_file = w.path(c.tag + ".txt"), scores_file = w.path(c.tag + ".csv");
    const testing::CommandResult r = testing::run_lowbit(c.command + data + " --json --predictions " + pred_file +
                                                         " --scores " + scores_file);
    ASSERT_EQ(r.code, 0) << r.out;
    const nlohmann::json j = nlohmann::json::parse(r.out);
    const std::vector<int32_t> pred = read_predictions(pred_file);
    ASSERT_EQ(pred.size(), labels.size());
    expect_report_matches(j["per_class"], labels, pred, 10);
    expect_scores_match(read_scores(scores_file, 10), labels, pred);

    // The text form: the table and the matrix; --no-per-class leaves them out.
    const testing::CommandResult text = testing::run_lowbit(c.command + data);
    ASSERT_EQ(text.code, 0) << text.out;
    EXPECT_NE(text.out.find("per-class results (200 images"), std::string::npos) << text.out;
    EXPECT_NE(text.out.find("confusion matrix (rows: true class, columns: predicted class)"), std::string::npos) << text.out;
    const testing::CommandResult plain = testing::run_lowbit(c.command + data + " --no-per-class");
    ASSERT_EQ(plain.code, 0) << plain.out;
    EXPECT_EQ(plain.out.find("per-class"), std::string::npos) << plain.out;
  }
  // The runtime classifies as training evaluates (bit-exact export): the same predictions.
  EXPECT_EQ(read_predictions(w.path("eval.txt")), read_predictions(w.path("run.txt")));

  // --scores must not overwrite an input.
  const testing::CommandResult clash = testing::run_lowbit("run " + lbm + data + " --scores " + lbm);
  EXPECT_EQ(clash.code, 2) << clash.out;
  EXPECT_NE(clash.out.find("--scores"), std::string::npos) << clash.out;
}

}  // namespace
}  // namespace lowbit
