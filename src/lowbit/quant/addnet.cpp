#include "lowbit/quant/addnet.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <initializer_list>

#include "lowbit/core/parallel.hpp"
#include "lowbit/core/error.hpp"
#include "lowbit/quant/parallel.hpp"

namespace lowbit::quant {
namespace {

// Coefficients plus the midpoints between neighbours: c*(a) = coef[#midpoints < a], which
// sends a tie (a on a midpoint) to the smaller coefficient.
struct Codebook {
  std::vector<float> coef, mid;
};

Codebook make_codebook(std::initializer_list<int> values) {
  Codebook cb;
  for (int v : values) cb.coef.push_back(static_cast<float>(v));
  for (size_t i = 0; i + 1 < cb.coef.size(); ++i) cb.mid.push_back(0.5f * (cb.coef[i] + cb.coef[i + 1]));  // exact
  return cb;
}

const Codebook& codebook(int adders) {
  LOWBIT_CHECK(adders >= 2 && adders <= 4, "addnet: the number of adders must be 2, 3 or 4, got ", adders);
  // Faraone thesis, Table 6.2 "Optimized RCCM coefficients" (the +- sign is implied).
  static const Codebook books[3] = {
      make_codebook({0, 1, 2, 8, 28, 36, 44, 92}),
      make_codebook({0,  1,  2,  3,  4,  5,  6,  7,  9,  10, 12,  13,  14,  16,  23,
                     29, 30, 32, 63, 69, 70, 72, 87, 93, 94, 96, 119, 125, 126, 128}),
      make_codebook({0,   1,   2,   4,   5,   7,   8,   9,   11,  13,  14,  15,  16,  18,  19,  20,  21,  22,
                     23,  24,  25,  26,  27,  28,  29,  30,  31,  32,  33,  34,  36,  37,  38,  39,  40,  46,
                     48,  54,  58,  64,  69,  70,  71,  74,  75,  76,  78,  80,  81,  82,  84,  85,  87,  94,
                     96,  102, 114, 118, 126, 134, 142, 150, 166, 174, 182, 190, 194, 198, 206, 214, 222, 230,
                     238, 246, 258, 262, 270, 278, 286, 302, 310, 318, 326, 334, 382, 398, 446, 450, 526, 566,
                     574, 582, 614, 622, 654, 662, 670, 686, 694, 710, 766, 782, 830, 1214}),
  };
  return books[adders - 2];
}

float nearest(const Codebook& cb, float a) {
  return cb.coef[static_cast<size_t>(std::lower_bound(cb.mid.begin(), cb.mid.end(), a) - cb.mid.begin())];
}

void check_lambda(float lambda, const char* who) {
  LOWBIT_CHECK(std::isfinite(lambda) && lambda > 0.f, who, ": scale lambda = ", lambda,
               " must be positive and finite (is its learning rate too high?)");
}

constexpr int kBins = 31;  // as the thesis' Fig. 6.5
constexpr int kGrid = 400;
constexpr double kSmooth = 1e-6;
using Histogram = std::array<double, kBins>;

int bin_of(double v, double m) {
  const int b = static_cast<int>(std::floor((v + m) / (2 * m) * kBins));
  return std::clamp(b, 0, kBins - 1);
}

// Normalised, then smoothed so that D_KL stays finite where R has no code.
Histogram smoothed(const Histogram& counts) {
  double total = 0;
  for (double c : counts) total += c;
  Histogram p;
  for (int i = 0; i < kBins; ++i) p[i] = (counts[i] / total + kSmooth) / (1 + kBins * kSmooth);
  return p;
}

Histogram weight_histogram(const float* w, int64_t n, double m) {
  Histogram h{};
  for (int64_t i = 0; i < n; ++i)
    if (!std::isnan(w[i])) h[bin_of(w[i], m)] += 1;
  return smoothed(h);
}

// The codes {0, +-lambda c} that lie in [-m, m], one count each.
Histogram code_histogram(const Codebook& cb, double lambda, double m) {
  Histogram h{};
  for (float c : cb.coef) {
    const double v = lambda * c;
    if (v > m) break;
    h[bin_of(v, m)] += 1;
    if (c > 0) h[bin_of(-v, m)] += 1;
  }
  return smoothed(h);
}

double kl_divergence(const Histogram& p, const Histogram& r) {
  double d = 0;
  for (int i = 0; i < kBins; ++i) d += p[i] * std::log(p[i] / r[i]);
  return d;
}

double max_abs(const float* w, int64_t n) {
  double m = 0;
  for (int64_t i = 0; i < n; ++i) m = std::max(m, std::fabs(double(w[i])));  // max(m, NaN) keeps m
  return m;
}

// Fixed-size blocks for the lambda gradient, so its rounding never depends on the thread count.
constexpr int64_t kSumBlock = int64_t{1} << 14;

}  // namespace

const std::vector<float>& addnet_coefficients(int adders) { return codebook(adders).coef; }

float addnet_nearest(float a, int adders) { return nearest(codebook(adders), a); }

void addnet_forward(const float* w, float* y, int64_t n, float lambda, int adders) {
  check_lambda(lambda, "addnet");
  const Codebook& cb = codebook(adders);
  for (int64_t i = 0; i < n; ++i) {
    const float s = w[i] < 0.f ? -lambda : lambda;
    y[i] = s * nearest(cb, std::fabs(w[i]) / lambda);
  }
}

double addnet_backward(const float* w, const float* dy, float* dw, int64_t n, float lambda, int adders) {
  check_lambda(lambda, "addnet");
  const Codebook& cb = codebook(adders);
  const float edge = lambda * cb.coef.back();
  double dlambda = 0;
  for (int64_t i = 0; i < n; ++i) {
    const float wi = w[i], g = dy[i];
    const float c = nearest(cb, std::fabs(wi) / lambda);
    dlambda += double(g) * (wi < 0.f ? -c : c);
    dw[i] = std::fabs(wi) <= edge ? g : 0.f;
  }
  return dlambda;
}

float addnet_match_scale(const float* w, int64_t n, int adders) {
  const Codebook& cb = codebook(adders);
  const double m = max_abs(w, n);
  LOWBIT_CHECK(std::isfinite(m), "addnet: distribution matching needs finite weights (max|w| = ", m, ")");
  if (m == 0) return 1.f;
  const Histogram p = weight_histogram(w, n, m);
  std::array<double, kGrid> lambdas, d;
  for (int i = 0; i < kGrid; ++i) {
    lambdas[i] = 0.25 * m * std::pow(16.0, double(i) / (kGrid - 1)) / cb.coef.back();
    d[i] = kl_divergence(p, code_histogram(cb, lambdas[i], m));
  }
  // D_KL is piecewise constant in lambda (it changes only when a code crosses a bin edge):
  // take the middle of the first run of minimisers rather than its edge.
  const int first = static_cast<int>(std::min_element(d.begin(), d.end()) - d.begin());
  int last = first;
  while (last + 1 < kGrid && d[last + 1] == d[first]) ++last;
  return static_cast<float>(lambdas[(first + last) / 2]);
}

AddNetQuantizer::AddNetQuantizer(QuantSpec spec, Role role) : Quantizer(std::move(spec), role) {
  LOWBIT_CHECK(spec_.kind == QuantKind::kAddNet, "AddNetQuantizer needs an addnet:N spec, got '", spec_.str(), "'");
  LOWBIT_CHECK(role_ == Role::kWeight, "quantizer '", spec_.str(),
               "' is a weight quantizer (a codebook scaled by a learned lambda per layer) and cannot quantize "
               "activations; for activations use int:k, fixed:k,f, dorefa:k or a sign family");
  codebook(spec_.adders);  // validates the adder count
  lambda_.name = "lambda";
  lambda_.value = Tensor({1}, 1.f);
  lambda_.grad = Tensor({1}, 0.f);
  lambda_.decay = false;
}

void AddNetQuantizer::init(const Tensor& latent) {
  lambda_.value[0] = addnet_match_scale(latent.data(), latent.size(), spec_.adders);
  // lambda is tiny (max|w| / c_max, ~1e-4..1e-3 for Glorot weights) while Adam's step is
  // ~lr whatever the gradient's size: scale its rate by its own size so steps are relative
  // (without this, lambda went negative in the first epoch of an LFC run).
  lambda_rate_[0] = lambda_.value[0];
  lambda_.lr_scale = lambda_rate_[0];
}

bool AddNetQuantizer::grid(Grid& out) const {
  const float lambda = lambda_.value[0];
  if (!(lambda > 0.f) || !std::isfinite(lambda)) return false;
  const auto c_max = static_cast<int32_t>(codebook(spec_.adders).coef.back());
  out = Grid{{lambda}, -c_max, c_max};
  return true;
}

void AddNetQuantizer::forward(const Tensor& x, Tensor& y, const Context&) {
  const float lambda = lambda_.value[0];
  LOWBIT_CHECK(std::isfinite(lambda) && lambda > 0.f, "quantizer '", spec_.str(), "': scale lambda = ", lambda,
               " must be positive and finite (is its learning rate too high?)");
  forward_lambda_ = lambda;
  // Picks up a lambda_rate restored from a checkpoint after init.
  lambda_.lr_scale = lambda_rate_[0];
  y.resize(x.shape());
  const float* xp = x.data();
  float* yp = y.data();
  const int adders = spec_.adders;
  for_chunks(x.size(), [&](int64_t b, int64_t e) { addnet_forward(xp + b, yp + b, e - b, lambda, adders); });
}

void AddNetQuantizer::backward(const Tensor& x, const Tensor& dy, Tensor& dx) {
  dx.resize(x.shape());
  const int64_t n = x.size(), blocks = (n + kSumBlock - 1) / kSumBlock;
  const float *xp = x.data(), *gp = dy.data();
  float* dp = dx.data();
  const float lambda = forward_lambda_;
  const int adders = spec_.adders;
  std::vector<double> partial(static_cast<size_t>(blocks));
  parallel_for(blocks, kQuantParallelMin, [&](int64_t b_begin, int64_t b_end) {
    for (int64_t b = b_begin; b < b_end; ++b) {
      const int64_t begin = b * kSumBlock, len = std::min(kSumBlock, n - begin);
      partial[static_cast<size_t>(b)] = addnet_backward(xp + begin, gp + begin, dp + begin, len, lambda, adders);
    }
  }, n);
  double dlambda = 0;
  for (double s : partial) dlambda += s;
  lambda_.grad[0] = static_cast<float>(dlambda);
}

}  // namespace lowbit::quant
