#include "reference/glu.hpp"

#include <cmath>

namespace vktrain::reference {
namespace {

constexpr double kSqrt2OverPi = 0.79788456080286535588;
constexpr double kGeluCubic = 0.044715;

}  // namespace

double glu_activation(double x, ops::GluActivation activation) {
  if (activation == ops::GluActivation::silu) return x / (1 + std::exp(-x));
  return 0.5 * x * (1 + std::tanh(kSqrt2OverPi * (x + kGeluCubic * x * x * x)));
}

double glu_activation_derivative(double x, ops::GluActivation activation) {
  if (activation == ops::GluActivation::silu) {
    double s = 1 / (1 + std::exp(-x));
    return s * (1 + x * (1 - s));
  }
  double t = std::tanh(kSqrt2OverPi * (x + kGeluCubic * x * x * x));
  return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * kSqrt2OverPi * (1 + 3 * kGeluCubic * x * x);
}

void glu_forward(std::vector<double>& h, const std::vector<float>& gate,
                 const std::vector<float>& up, ops::GluActivation activation) {
  h.resize(gate.size());
  for (size_t i = 0; i < gate.size(); ++i) h[i] = glu_activation(gate[i], activation) * up[i];
}

void glu_backward(std::vector<double>& dgate, std::vector<double>& dup,
                  const std::vector<float>& dh, const std::vector<float>& gate,
                  const std::vector<float>& up, ops::GluActivation activation) {
  for (size_t i = 0; i < gate.size(); ++i) {
    dgate[i] += double(dh[i]) * up[i] * glu_activation_derivative(gate[i], activation);
    dup[i] += double(dh[i]) * glu_activation(gate[i], activation);
  }
}

}  // namespace vktrain::reference
