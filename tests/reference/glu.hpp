#pragma once
// References of ops/glu.hpp, in double. Backward adds into its gradients, like the op.
#include <vector>

#include "ops/glu.hpp"

namespace vktrain::reference {

double glu_activation(double x, ops::GluActivation activation);
double glu_activation_derivative(double x, ops::GluActivation activation);

void glu_forward(std::vector<double>& h, const std::vector<float>& gate,
                 const std::vector<float>& up, ops::GluActivation activation);
void glu_backward(std::vector<double>& dgate, std::vector<double>& dup,
                  const std::vector<float>& dh, const std::vector<float>& gate,
                  const std::vector<float>& up, ops::GluActivation activation);

}  // namespace vktrain::reference
