// Per-class results of a classifier on a labelled set: the confusion matrix, each class's
// accuracy (recall) and precision, as scikit-learn's confusion_matrix and
// classification_report define them, from the true labels and the predicted classes.
// `lowbit eval` and `lowbit run` print it (docs/DEPLOYMENT.md, "Per-class results").
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace lowbit::data {

struct ClassReport {
  int classes = 0;
  int64_t images = 0, correct = 0;
  // classes x classes, row-major: confusion[t * classes + p] counts the images of true
  // class t predicted as p (scikit-learn's layout: rows true, columns predicted).
  std::vector<int64_t> confusion;

  int64_t count(int truth, int predicted) const {
    return confusion[static_cast<size_t>(truth) * static_cast<size_t>(classes) + static_cast<size_t>(predicted)];
  }
  int64_t support(int c) const;       // images whose true class is c (row sum)
  int64_t predicted_as(int c) const;  // images predicted as c (column sum)
  double accuracy() const;            // correct / images; 0 for no images
  // count(c, c) / support(c): the class's accuracy (recall); NaN when no image is of class c.
  double class_accuracy(int c) const;
  // count(c, c) / predicted_as(c); NaN when nothing was predicted as c.
  double precision(int c) const;
};

// labels and predictions: n values each, in [0, classes). Throws lowbit::Error naming the
// first image whose label or prediction is outside that range, or for classes < 1.
ClassReport class_report(const int32_t* labels, const int32_t* predictions, int64_t n, int classes);

// The names printed for the classes: `names` when it has one per class, else "0", "1", ...
std::vector<std::string> class_labels(const std::vector<std::string>& names, int classes);

// Text: a per-class table (name, images, correct, accuracy, precision) and, for at most
// `max_matrix` classes, the confusion matrix with true classes as rows. Undefined ratios
// print as "-".
std::string format_class_report(const ClassReport& r, const std::vector<std::string>& names, int max_matrix = 30);

// {"classes": [{"class": 0, "name": ..., "images", "correct", "accuracy", "precision"}...],
//  "confusion": [[...], ...]} (rows true classes); undefined ratios are null.
nlohmann::json class_report_json(const ClassReport& r, const std::vector<std::string>& names);

}  // namespace lowbit::data
