// ckpt_diff A.ckpt B.ckpt [LABEL]: how two checkpoints' tensors (weights, buffers, optimizer
// state) differ: "bitwise equal", or how many values differ and the largest difference.
// For comparing runs (scripts/distributed_results.sh: N ranks against one process).
// Exit code 0 when both load (equal or not), 1 when one does not or their tensors differ in
// names or shapes.
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>

#include "lowbit/core/error.hpp"
#include "lowbit/train/checkpoint.hpp"

int main(int argc, char** argv) {
  if (argc < 3 || argc > 4) {
    std::fprintf(stderr, "usage: ckpt_diff A.ckpt B.ckpt [LABEL]\n");
    return 2;
  }
  const std::string label = argc == 4 ? std::string(argv[3]) + ": " : "";
  try {
    const lowbit::train::Checkpoint a = lowbit::train::read_checkpoint(argv[1]), b = lowbit::train::read_checkpoint(argv[2]);
    LOWBIT_CHECK(a.tensors.size() == b.tensors.size(), "they hold ", a.tensors.size(), " and ", b.tensors.size(), " tensors");
    int64_t values = 0, differ = 0;
    double worst = 0;
    std::string where;
    for (size_t k = 0; k < a.tensors.size(); ++k) {
      const auto& [na, ta] = a.tensors[k];
      const auto& [nb, tb] = b.tensors[k];
      LOWBIT_CHECK(na == nb && ta.shape() == tb.shape(), "tensor ", k, " is ", na, " ", lowbit::shape_str(ta.shape()),
                   " and ", nb, " ", lowbit::shape_str(tb.shape()));
      for (int64_t i = 0; i < ta.size(); ++i) {
        ++values;
        if (std::memcmp(&ta[i], &tb[i], sizeof(float)) == 0) continue;
        ++differ;
        const double d = std::fabs(static_cast<double>(ta[i]) - tb[i]);
        if (!(d <= worst)) worst = d, where = na;
      }
    }
    if (differ == 0)
      std::printf("%sbitwise equal (%lld values in %zu tensors)\n", label.c_str(), static_cast<long long>(values), a.tensors.size());
    else
      std::printf("%s%lld of %lld values differ; largest |difference| %.3g (in %s)\n", label.c_str(),
                  static_cast<long long>(differ), static_cast<long long>(values), worst, where.c_str());
    return 0;
  } catch (const lowbit::Error& e) {
    std::fprintf(stderr, "ckpt_diff: %s\n", e.what());
    return 1;
  }
}
