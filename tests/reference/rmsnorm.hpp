#pragma once
// RMSNorm over rows of `cols` channels, in double: y = x * rstd * (offset + w),
// rstd = 1 / sqrt(mean(x^2) + eps). Argument order as ops::rmsnorm_forward/backward.
#include <cstddef>
#include <vector>

namespace vktrain::reference {

void rmsnorm_forward(std::vector<double>& y, std::vector<double>& rstd, const std::vector<float>& x,
                     const std::vector<float>& w, size_t cols, double eps, double offset);
// dx += dL/dx and dw += dL/dw for L = sum(dy * y); dx and dw keep their starting values
// (resized to zeros when empty). rstd is recomputed from x.
void rmsnorm_backward(std::vector<double>& dx, std::vector<double>& dw,
                      const std::vector<float>& dy, const std::vector<float>& x,
                      const std::vector<float>& w, size_t cols, double eps, double offset);

}  // namespace vktrain::reference
