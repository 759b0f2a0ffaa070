// `lowbit predict` (cli/cmd_predict.cpp): on PNG files written from a dataset's test images
// it gives the classes `lowbit run` gives on that dataset (files, folders, .lbm and .ckpt,
// text and JSON), converts and pads images as the runtime does, refuses images that do not
// fit before classifying any; with real Fashion-MNIST test images too. And training on a
// folder-per-class dataset: the class names reach eval's per-class report.
#include <gtest/gtest.h>

#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/cli_util.hpp"
#include "data/image_files.hpp"
#include "lowbit/data/loader.hpp"

namespace lowbit {
namespace {

using data::testing::write_png;
using data::testing::write_pngs;

std::vector<int32_t> read_predictions(const std::string& path) {
  std::vector<int32_t> v;
  std::ifstream in(path);
  for (int32_t p; in >> p;) v.push_back(p);
  return v;
}

// `predict`'s text output: one row of tab-separated fields per line.
std::vector<std::vector<std::string>> rows_of(const std::string& out) {
  std::vector<std::vector<std::string>> rows;
  std::istringstream in(out);
  for (std::string line; std::getline(in, line);) {
    std::vector<std::string> fields;
    std::istringstream f(line);
    for (std::string field; std::getline(f, field, '\t');) fields.push_back(field);
    rows.push_back(fields);
  }
  return rows;
}

std::vector<int32_t> classes_of(const std::vector<std::vector<std::string>>& rows) {
  std::vector<int32_t> c;
  for (const auto& r : rows) c.push_back(r.size() >= 2 ? std::stoi(r[1]) : -1);
  return c;
}

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const std::string& x : v) s += " " + x;
  return s;
}

// One tfc W1A1 model trained on the workspace's synthetic data (10 classes, 28x28 grey),
// exported, and its test images as PNG files, shared by the tests of this suite.
class PredictCli : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    w_ = std::make_unique<testing::CliWorkspace>("predict");
    const testing::CommandResult t = testing::run_lowbit(
        "train --model tfc --weights binary --acts binary --input-bits 8 --epochs 2 --seed 1 --data " + w_->path("data") +
        " --out " + w_->path("run"));
    ASSERT_EQ(t.code, 0) << t.out;
    const testing::CommandResult e = testing::run_lowbit("export " + ckpt() + " -o " + lbm());
    ASSERT_EQ(e.code, 0) << e.out;
    test_ = testing::synthetic_dataset(200, 2, 10, 28);  // the workspace's test split
    files_ = write_pngs(test_, w_->path("imgs"), 0, test_.size());
  }
  static void TearDownTestSuite() { w_.reset(); }
  static std::string ckpt() { return w_->path("run/best.ckpt"); }
  static std::string lbm() { return w_->path("m.lbm"); }

  static std::unique_ptr<testing::CliWorkspace> w_;
  static data::Dataset test_;
  static std::vector<std::string> files_;
};
std::unique_ptr<testing::CliWorkspace> PredictCli::w_;
data::Dataset PredictCli::test_;
std::vector<std::string> PredictCli::files_;

TEST_F(PredictCli, GivesTheClassesOfRunOnTheSameImages) {
  const std::string pred_file = w_->path("run.txt");
  const testing::CommandResult run = testing::run_lowbit("run " + lbm() + " --data " + w_->path("data") +
                                                         " --no-per-class --predictions " + pred_file);
  ASSERT_EQ(run.code, 0) << run.out;
  const std::vector<int32_t> want = read_predictions(pred_file);
  ASSERT_EQ(want.size(), 200u);

  // A folder: its files in name order, which is dataset order here.
  const testing::CommandResult folder = testing::run_lowbit("predict " + lbm() + " " + w_->path("imgs"));
  ASSERT_EQ(folder.code, 0) << folder.out;
  const auto rows = rows_of(folder.out);
  ASSERT_EQ(rows.size(), 200u) << folder.out;
  for (size_t i = 0; i < rows.size(); ++i) {
    EXPECT_EQ(rows[i].size(), 2u);
    EXPECT_EQ(rows[i][0], files_[i]);
  }
  EXPECT_EQ(classes_of(rows), want);

  // Files, in the order given.
  const testing::CommandResult some = testing::run_lowbit("predict " + lbm() + " " + files_[7] + " " + files_[3] + " " + files_[150]);
  ASSERT_EQ(some.code, 0) << some.out;
  EXPECT_EQ(classes_of(rows_of(some.out)), (std::vector<int32_t>{want[7], want[3], want[150]}));
  EXPECT_EQ(rows_of(some.out)[0][0], files_[7]);
}

TEST_F(PredictCli, CheckpointAndLbmAgreeAndJsonIsWellFormed) {
  const testing::CommandResult a = testing::run_lowbit("predict " + lbm() + " " + w_->path("imgs") + " --json --threads 1");
  const testing::CommandResult b = testing::run_lowbit("predict " + ckpt() + " " + w_->path("imgs") + " --json");
  ASSERT_EQ(a.code, 0) << a.out;
  ASSERT_EQ(b.code, 0) << b.out;
  const nlohmann::json ja = nlohmann::json::parse(a.out), jb = nlohmann::json::parse(b.out);
  EXPECT_EQ(ja["model"], lbm());
  EXPECT_EQ(ja["classes"], 10);
  ASSERT_EQ(ja["predictions"].size(), 200u);
  // The checkpoint, folded as export folds it, gives the same classes and scores.
  EXPECT_EQ(ja["predictions"], jb["predictions"]);
  for (size_t i = 0; i < 200; ++i) {
    const nlohmann::json& p = ja["predictions"][i];
    EXPECT_EQ(p["path"], files_[i]);
    EXPECT_TRUE(p["name"].is_null());
    ASSERT_EQ(p["scores"].size(), 10u);
    size_t best = 0;  // the class is the first highest score
    for (size_t c = 1; c < 10; ++c)
      if (p["scores"][c].get<double>() > p["scores"][best].get<double>()) best = c;
    EXPECT_EQ(p["class"].get<int>(), static_cast<int>(best)) << i;
  }

  // --scores (text): the same scores after the class; --classes: the names.
  std::ofstream(w_->path("names.txt")) << "zero\none\ntwo\nthree\nfour\nfive\nsix\nseven\neight\r\nnine\n";
  const testing::CommandResult t = testing::run_lowbit("predict " + lbm() + " " + files_[0] + " " + files_[1] +
                                                       " --scores --classes " + w_->path("names.txt"));
  ASSERT_EQ(t.code, 0) << t.out;
  const auto rows = rows_of(t.out);
  ASSERT_EQ(rows.size(), 2u);
  const std::vector<std::string> names = {"zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"};
  for (size_t i = 0; i < 2; ++i) {
    ASSERT_EQ(rows[i].size(), 13u) << t.out;  // path, class, name, 10 scores
    const int k = std::stoi(rows[i][1]);
    EXPECT_EQ(k, ja["predictions"][i]["class"].get<int>());
    EXPECT_EQ(rows[i][2], names[static_cast<size_t>(k)]);
    for (size_t c = 0; c < 10; ++c) EXPECT_EQ(std::stod(rows[i][3 + c]), ja["predictions"][i]["scores"][c].get<double>());
  }
  // A names file of the wrong length is refused, naming it.
  std::ofstream(w_->path("nine.txt")) << "a\nb\nc\nd\ne\nf\ng\nh\ni\n";
  const testing::CommandResult bad = testing::run_lowbit("predict " + lbm() + " " + files_[0] + " --classes " + w_->path("nine.txt"));
  EXPECT_EQ(bad.code, 1) << bad.out;
  EXPECT_NE(bad.out.find(w_->path("nine.txt") + ": 9 class names but model"), std::string::npos) << bad.out;
}

TEST_F(PredictCli, ConvertsAndCentrePadsAsTheRuntime) {
  // Image 5 with its border cleared to 0, as a 28x28 file, and its inside alone (19x21: an
  // odd pad, top (28-19)/2 = 4, left (28-21)/2 = 3), and as RGB with R = G = B.
  const uint8_t* img = test_.image(5);
  const int top = 4, left = 3, h = 19, w = 21;
  std::vector<uint8_t> full(28 * 28, 0), inner;
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      full[static_cast<size_t>((top + y) * 28 + left + x)] = img[(top + y) * 28 + left + x];
      inner.push_back(img[(top + y) * 28 + left + x]);
    }
  std::vector<uint8_t> rgb;
  for (int c = 0; c < 3; ++c) rgb.insert(rgb.end(), full.begin(), full.end());
  const std::string dir = w_->path("pad");
  std::filesystem::create_directories(dir);
  write_png(dir + "/full.png", full, 1, 28, 28);
  write_png(dir + "/inner.png", inner, 1, h, w);
  write_png(dir + "/rgb.png", rgb, 3, 28, 28);
  const testing::CommandResult r = testing::run_lowbit("predict " + lbm() + " " + dir + " --json");
  ASSERT_EQ(r.code, 0) << r.out;
  const nlohmann::json j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j["predictions"].size(), 3u);  // full, inner, rgb
  EXPECT_EQ(j["predictions"][1]["scores"], j["predictions"][0]["scores"]);
  EXPECT_EQ(j["predictions"][2]["scores"], j["predictions"][0]["scores"]);
  // Not a blank check: the scores differ from an all-zero image's.
  write_png(dir + "/zero.png", std::vector<uint8_t>(28 * 28, 0), 1, 28, 28);
  const nlohmann::json z = nlohmann::json::parse(testing::run_lowbit("predict " + lbm() + " " + dir + "/zero.png --json").out);
  EXPECT_NE(z["predictions"][0]["scores"], j["predictions"][0]["scores"]);
}

TEST_F(PredictCli, RefusesWhatDoesNotFitBeforeClassifyingAny) {
  const std::string big = w_->path("big.png");
  write_png(big, std::vector<uint8_t>(30 * 29, 7), 1, 30, 29);
  const testing::CommandResult r = testing::run_lowbit("predict " + lbm() + " " + files_[0] + " " + big);
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find(big), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("1x30x29"), std::string::npos) << r.out;   // the image, as the model would take it
  EXPECT_NE(r.out.find("input 1x28x28"), std::string::npos) << r.out;  // the model's input
  EXPECT_EQ(r.out.find(files_[0] + "\t"), std::string::npos) << r.out;  // nothing classified

  const std::string junk = w_->path("junk.png");
  std::ofstream(junk) << "not an image";
  const testing::CommandResult c = testing::run_lowbit("predict " + lbm() + " " + junk);
  EXPECT_EQ(c.code, 1) << c.out;
  EXPECT_NE(c.out.find(junk + ": not a PNG"), std::string::npos) << c.out;
  const testing::CommandResult m = testing::run_lowbit("predict " + lbm() + " " + w_->path("missing.png"));
  EXPECT_EQ(m.code, 1) << m.out;
  EXPECT_NE(m.out.find(w_->path("missing.png") + ": no such file or folder"), std::string::npos) << m.out;
  std::ofstream(w_->path("topology.json")) << "{\"layers\": []}";
  const testing::CommandResult topo = testing::run_lowbit("predict " + w_->path("topology.json") + " " + files_[0]);
  EXPECT_EQ(topo.code, 2) << topo.out;
  EXPECT_NE(topo.out.find("JSON topology"), std::string::npos) << topo.out;
  EXPECT_EQ(testing::run_lowbit("predict " + lbm()).code, 2);  // no images: usage error
}

// The acceptance: real Fashion-MNIST test images written as PNG files get the
// classes `lowbit run` gives them (a tfc trained briefly on 2000 real training images).
TEST(PredictCliFashionMnist, PngsOfTestImagesGetRunsClasses) {
  data::DataSplit fm;
  try {
    fm = data::load_data("fashion-mnist");
  } catch (const Error& e) {
    GTEST_SKIP() << "Fashion-MNIST not installed (Debian package dataset-fashion-mnist): " << e.what();
  }
  testing::CliWorkspace w("predict_fm");
  std::filesystem::create_directories(w.path("fm"));
  data::Dataset train = fm.train, test = fm.test;
  train.images.resize(2000 * 28 * 28);
  train.labels.resize(2000);
  test.images.resize(300 * 28 * 28);
  test.labels.resize(300);
  testing::write_idx(w.path("fm"), "train", train);
  testing::write_idx(w.path("fm"), "t10k", test);
  const testing::CommandResult t = testing::run_lowbit(
      "train --model tfc --weights binary --acts binary --input-bits 8 --epochs 2 --seed 1 --data " + w.path("fm") +
      " --out " + w.path("run"));
  ASSERT_EQ(t.code, 0) << t.out;
  ASSERT_EQ(testing::run_lowbit("export " + w.path("run/best.ckpt") + " -o " + w.path("fm.lbm")).code, 0);
  const testing::CommandResult run = testing::run_lowbit("run " + w.path("fm.lbm") + " --data " + w.path("fm") +
                                                         " --no-per-class --predictions " + w.path("run.txt"));
  ASSERT_EQ(run.code, 0) << run.out;
  const std::vector<int32_t> want = read_predictions(w.path("run.txt"));
  ASSERT_EQ(want.size(), 300u);

  const std::vector<std::string> files = write_pngs(test, w.path("pngs"), 0, 300);
  std::ofstream names(w.path("classes.txt"));
  for (const std::string& n : fm.test.class_names) names << n << "\n";
  names.close();
  const testing::CommandResult p = testing::run_lowbit("predict " + w.path("fm.lbm") + " " + w.path("pngs") +
                                                       " --json --classes " + w.path("classes.txt"));
  ASSERT_EQ(p.code, 0) << p.out;
  const nlohmann::json j = nlohmann::json::parse(p.out);
  ASSERT_EQ(j["predictions"].size(), 300u);
  int correct = 0;
  for (size_t i = 0; i < 300; ++i) {
    const int k = j["predictions"][i]["class"].get<int>();
    EXPECT_EQ(k, want[i]) << files[i];
    EXPECT_EQ(j["predictions"][i]["name"], fm.test.class_names[static_cast<size_t>(k)]);
    correct += k == test.labels[i];
  }
  // A model that learned something (158 of 300 right on this machine; chance is 30): the
  // agreement above is not that of two constant outputs.
  EXPECT_GT(correct, 90) << correct << " of 300 right";
}

// Training on DIR/train/<class>/*.png, DIR/test/<class>/*.png: the class names (folder
// names) reach eval's per-class report, and predict on the test folders equals run.
TEST(PredictCliImageFolder, TrainsEvalsAndPredictsWithFolderNames) {
  testing::CliWorkspace w("predict_folder");
  const std::vector<std::string> names = {"bag", "coat", "dress", "shirt"};  // sorted: label k is names[k]
  const data::Dataset train = testing::synthetic_dataset(400, 1, 4, 28), test = testing::synthetic_dataset(100, 2, 4, 28);
  const std::string root = w.path("clothes");
  for (const auto& [split, ds] : {std::pair<std::string, const data::Dataset*>{"train", &train}, {"test", &test}})
    for (int64_t i = 0; i < ds->size(); ++i)
      write_pngs(*ds, root + "/" + split + "/" + names[static_cast<size_t>(ds->labels[static_cast<size_t>(i)])], i, 1);
  const testing::CommandResult t = testing::run_lowbit(
      "train --model tfc --weights binary --acts binary --input-bits 8 --epochs 2 --seed 1 --data " + root + " --out " +
      w.path("run"));
  ASSERT_EQ(t.code, 0) << t.out;
  const testing::CommandResult e = testing::run_lowbit("eval " + w.path("run/best.ckpt") + " --data " + root + " --json");
  ASSERT_EQ(e.code, 0) << e.out;
  const nlohmann::json report = nlohmann::json::parse(e.out)["per_class"];
  ASSERT_EQ(report["classes"].size(), 4u);
  for (size_t k = 0; k < 4; ++k) EXPECT_EQ(report["classes"][k]["name"], names[k]);
  // The test folder's images per class, as the report counts them.
  std::vector<int64_t> support(4, 0);
  for (int32_t l : test.labels) ++support[static_cast<size_t>(l)];
  for (size_t k = 0; k < 4; ++k) EXPECT_EQ(report["classes"][k]["images"].get<int64_t>(), support[k]);
  const testing::CommandResult text = testing::run_lowbit("eval " + w.path("run/best.ckpt") + " --data " + root);
  EXPECT_NE(text.out.find("dress"), std::string::npos) << text.out;

  // run on the folder dataset and predict on its test folders, class by class: the same classes.
  ASSERT_EQ(testing::run_lowbit("export " + w.path("run/best.ckpt") + " -o " + w.path("c.lbm")).code, 0);
  const testing::CommandResult run = testing::run_lowbit("run " + w.path("c.lbm") + " --data " + root +
                                                         " --no-per-class --predictions " + w.path("run.txt"));
  ASSERT_EQ(run.code, 0) << run.out;
  std::vector<std::string> folders;
  for (const std::string& n : names) folders.push_back(root + "/test/" + n);
  const testing::CommandResult p = testing::run_lowbit("predict " + w.path("c.lbm") + join(folders));
  ASSERT_EQ(p.code, 0) << p.out;
  EXPECT_EQ(classes_of(rows_of(p.out)), read_predictions(w.path("run.txt")));
}

}  // namespace
}  // namespace lowbit
