#include "reference/rmsnorm.hpp"

#include <cmath>

namespace vktrain::reference {

void rmsnorm_forward(std::vector<double>& y, std::vector<double>& rstd, const std::vector<float>& x,
                     const std::vector<float>& w, size_t cols, double eps, double offset) {
  size_t rows = x.size() / cols;
  y.assign(x.size(), 0.0);
  rstd.assign(rows, 0.0);
  for (size_t r = 0; r < rows; ++r) {
    const float* row = x.data() + r * cols;
    double squares = 0;
    for (size_t c = 0; c < cols; ++c) squares += double(row[c]) * row[c];
    rstd[r] = 1.0 / std::sqrt(squares / double(cols) + eps);
    for (size_t c = 0; c < cols; ++c) y[r * cols + c] = row[c] * rstd[r] * (offset + w[c]);
  }
}

void rmsnorm_backward(std::vector<double>& dx, std::vector<double>& dw,
                      const std::vector<float>& dy, const std::vector<float>& x,
                      const std::vector<float>& w, size_t cols, double eps, double offset) {
  size_t rows = x.size() / cols;
  if (dx.empty()) dx.assign(x.size(), 0.0);
  if (dw.empty()) dw.assign(cols, 0.0);
  std::vector<double> y, rstd;
  rmsnorm_forward(y, rstd, x, w, cols, eps, offset);
  for (size_t r = 0; r < rows; ++r) {
    size_t at = r * cols;
    // y_c = x_c s g_c with s = (sum x^2 / C + eps)^-1/2, ds/dx_c = -s^3 x_c / C:
    // dx_c = s g_c dy_c - s^3 x_c / C * sum_j dy_j g_j x_j.
    double dot = 0;
    for (size_t c = 0; c < cols; ++c) dot += double(dy[at + c]) * (offset + w[c]) * x[at + c];
    double s = rstd[r];
    for (size_t c = 0; c < cols; ++c) {
      dx[at + c] += s * (offset + w[c]) * dy[at + c] - s * s * s * x[at + c] * dot / double(cols);
      dw[c] += double(dy[at + c]) * x[at + c] * s;
    }
  }
}

}  // namespace vktrain::reference
