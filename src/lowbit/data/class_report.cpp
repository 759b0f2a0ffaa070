#include "lowbit/data/class_report.hpp"

#include <cmath>
#include <cstdio>
#include <iomanip>
#include <limits>
#include <sstream>

#include "lowbit/core/error.hpp"

namespace lowbit::data {

int64_t ClassReport::support(int c) const {
  int64_t s = 0;
  for (int p = 0; p < classes; ++p) s += count(c, p);
  return s;
}

int64_t ClassReport::predicted_as(int c) const {
  int64_t s = 0;
  for (int t = 0; t < classes; ++t) s += count(t, c);
  return s;
}

double ClassReport::accuracy() const { return images ? static_cast<double>(correct) / static_cast<double>(images) : 0.0; }

namespace {
double ratio(int64_t num, int64_t den) {
  return den ? static_cast<double>(num) / static_cast<double>(den) : std::numeric_limits<double>::quiet_NaN();
}
}  // namespace

double ClassReport::class_accuracy(int c) const { return ratio(count(c, c), support(c)); }
double ClassReport::precision(int c) const { return ratio(count(c, c), predicted_as(c)); }

ClassReport class_report(const int32_t* labels, const int32_t* predictions, int64_t n, int classes) {
  LOWBIT_CHECK(classes >= 1, "per-class results need at least one class (got ", classes, ")");
  LOWBIT_CHECK(n >= 0, "negative image count ", n);
  ClassReport r;
  r.classes = classes;
  r.images = n;
  r.confusion.assign(static_cast<size_t>(classes) * static_cast<size_t>(classes), 0);
  for (int64_t i = 0; i < n; ++i) {
    const int32_t t = labels[i], p = predictions[i];
    if (t < 0 || t >= classes) fail("image ", i, ": label ", t, " is not a class in 0..", classes - 1);
    if (p < 0 || p >= classes) fail("image ", i, ": prediction ", p, " is not a class in 0..", classes - 1);
    ++r.confusion[static_cast<size_t>(t) * static_cast<size_t>(classes) + static_cast<size_t>(p)];
    r.correct += t == p;
  }
  return r;
}

std::vector<std::string> class_labels(const std::vector<std::string>& names, int classes) {
  if (static_cast<int>(names.size()) == classes) return names;
  std::vector<std::string> v;
  for (int c = 0; c < classes; ++c) v.push_back(std::to_string(c));
  return v;
}

namespace {
std::string fixed(double v) {
  if (std::isnan(v)) return "-";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4f", v);
  return buf;
}
}  // namespace

std::string format_class_report(const ClassReport& r, const std::vector<std::string>& names, int max_matrix) {
  const std::vector<std::string> label = class_labels(names, r.classes);
  size_t name_w = 5;  // "class"
  for (const auto& s : label) name_w = std::max(name_w, s.size());
  std::ostringstream os;
  os << "per-class results (" << r.images << " images; accuracy = correct / images of the class, "
     << "precision = correct / images predicted as it):\n";
  const int nw = static_cast<int>(name_w);
  os << "  " << std::left << std::setw(nw) << "class" << std::right << "  " << std::setw(8) << "images" << "  "
     << std::setw(8) << "correct" << "  " << std::setw(8) << "accuracy" << "  " << std::setw(9) << "precision" << "\n";
  for (int c = 0; c < r.classes; ++c)
    os << "  " << std::left << std::setw(nw) << label[static_cast<size_t>(c)] << std::right << "  " << std::setw(8)
       << r.support(c) << "  " << std::setw(8) << r.count(c, c) << "  " << std::setw(8) << fixed(r.class_accuracy(c))
       << "  " << std::setw(9) << fixed(r.precision(c)) << "\n";
  if (r.classes > max_matrix) {
    os << "confusion matrix: " << r.classes << " classes, more than " << max_matrix
       << " to print (--json has it)\n";
    return os.str();
  }
  // Columns as wide as the largest count or the column's class number.
  size_t w = 1;
  for (int64_t v : r.confusion) w = std::max(w, std::to_string(v).size());
  w = std::max(w, std::to_string(r.classes - 1).size());
  os << "confusion matrix (rows: true class, columns: predicted class):\n";
  const int cw = static_cast<int>(w);
  os << "  " << std::string(name_w, ' ') << " " << std::right;
  for (int p = 0; p < r.classes; ++p) os << " " << std::setw(cw) << p;
  os << "\n";
  for (int t = 0; t < r.classes; ++t) {
    os << "  " << std::left << std::setw(nw) << label[static_cast<size_t>(t)] << " " << std::right;
    for (int p = 0; p < r.classes; ++p) os << " " << std::setw(cw) << r.count(t, p);
    os << "\n";
  }
  return os.str();
}

nlohmann::json class_report_json(const ClassReport& r, const std::vector<std::string>& names) {
  const std::vector<std::string> label = class_labels(names, r.classes);
  const auto num = [](double v) { return std::isnan(v) ? nlohmann::json(nullptr) : nlohmann::json(v); };
  nlohmann::json classes = nlohmann::json::array(), confusion = nlohmann::json::array();
  for (int c = 0; c < r.classes; ++c) {
    classes.push_back({{"class", c},
                       {"name", label[static_cast<size_t>(c)]},
                       {"images", r.support(c)},
                       {"correct", r.count(c, c)},
                       {"accuracy", num(r.class_accuracy(c))},
                       {"precision", num(r.precision(c))}});
    nlohmann::json row = nlohmann::json::array();
    for (int p = 0; p < r.classes; ++p) row.push_back(r.count(c, p));
    confusion.push_back(std::move(row));
  }
  return {{"classes", std::move(classes)}, {"confusion", std::move(confusion)}};
}

}  // namespace lowbit::data
