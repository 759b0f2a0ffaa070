#include "lowbit/nn/init.hpp"

#include <cmath>

#include "lowbit/core/error.hpp"

namespace lowbit::nn {

static float parse_arg(const std::string& spec, size_t colon) {
  try {
    size_t used = 0;
    std::string s = spec.substr(colon + 1);
    float v = std::stof(s, &used);
    if (used != s.size() || !std::isfinite(v)) throw std::invalid_argument(s);
    return v;
  } catch (const std::exception&) {
    fail("init '", spec, "': expected a finite number after ':'");
  }
}

Init Init::parse(const std::string& spec) {
  using K = Kind;
  if (spec == "glorot_uniform") return {K::GlorotUniform, 0.f};
  if (spec == "glorot_normal") return {K::GlorotNormal, 0.f};
  if (spec == "he_uniform") return {K::HeUniform, 0.f};
  if (spec == "he_normal") return {K::HeNormal, 0.f};
  if (spec == "zeros") return {K::Constant, 0.f};
  if (spec == "ones") return {K::Constant, 1.f};
  size_t colon = spec.find(':');
  std::string head = spec.substr(0, colon);
  if (colon != std::string::npos) {
    float a = parse_arg(spec, colon);
    if ((head == "uniform" || head == "normal") && !(a > 0.f))
      fail("init '", spec, "': the ", head == "uniform" ? "bound A of U(-A, A)" : "standard deviation S",
           " must be > 0, got ", a);
    if (head == "uniform") return {K::Uniform, a};
    if (head == "normal") return {K::Normal, a};
    if (head == "constant") return {K::Constant, a};
  }
  fail("unknown init '", spec,
       "'; valid: glorot_uniform, glorot_normal, he_uniform, he_normal, uniform:A, normal:S, constant:V, zeros, ones");
}

std::string Init::str() const {
  switch (kind) {
    case Kind::GlorotUniform: return "glorot_uniform";
    case Kind::GlorotNormal: return "glorot_normal";
    case Kind::HeUniform: return "he_uniform";
    case Kind::HeNormal: return "he_normal";
    case Kind::Uniform: return cat("uniform:", arg);
    case Kind::Normal: return cat("normal:", arg);
    case Kind::Constant: return cat("constant:", arg);
  }
  return "?";
}

void init_tensor(Tensor& t, const Init& init, int64_t fan_in, int64_t fan_out, Rng& rng) {
  using K = Init::Kind;
  double fi = static_cast<double>(std::max<int64_t>(fan_in, 1));
  double fo = static_cast<double>(std::max<int64_t>(fan_out, 1));
  auto uniform = [&](double a) {
    for (float& v : t) v = static_cast<float>((2.0 * rng.uniform_double() - 1.0) * a);
  };
  auto normal = [&](double s) {
    for (float& v : t) v = static_cast<float>(rng.normal() * s);
  };
  switch (init.kind) {
    case K::GlorotUniform: uniform(std::sqrt(6.0 / (fi + fo))); break;
    case K::GlorotNormal: normal(std::sqrt(2.0 / (fi + fo))); break;
    case K::HeUniform: uniform(std::sqrt(6.0 / fi)); break;
    case K::HeNormal: normal(std::sqrt(2.0 / fi)); break;
    case K::Uniform: uniform(init.arg); break;
    case K::Normal: normal(init.arg); break;
    case K::Constant: t.fill(init.arg); break;
  }
}

}  // namespace lowbit::nn
