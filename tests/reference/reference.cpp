#include "reference/reference.hpp"

namespace vktrain::reference {

void matmul(std::vector<double>& c, const std::vector<float>& a, const std::vector<float>& b,
            const MatmulShape& s, double alpha, double beta) {
  c.resize(size_t(s.batch) * s.m * s.n);
  for (uint32_t z = 0; z < s.batch; ++z) {
    const float* pa = a.data() + size_t(z) * s.m * s.k;
    const float* pb = b.data() + size_t(s.b_batch == 1 ? 0 : z) * s.k * s.n;
    double* pc = c.data() + size_t(z) * s.m * s.n;
    for (uint32_t i = 0; i < s.m; ++i) {
      for (uint32_t j = 0; j < s.n; ++j) {
        double acc = 0;
        for (uint32_t k = 0; k < s.k; ++k) {
          double x = s.trans_a ? pa[size_t(k) * s.m + i] : pa[size_t(i) * s.k + k];
          double y = s.trans_b ? pb[size_t(j) * s.k + k] : pb[size_t(k) * s.n + j];
          acc += x * y;
        }
        double& out = pc[size_t(i) * s.n + j];
        out = alpha * acc + (beta != 0 ? beta * out : 0.0);
      }
    }
  }
}

double sum(const std::vector<float>& x) {
  double s = 0;
  for (float v : x) s += v;
  return s;
}

double sum_squares(const std::vector<float>& x) {
  double s = 0;
  for (float v : x) s += double(v) * v;
  return s;
}

std::vector<double> column_sum(const std::vector<float>& x, size_t cols) {
  std::vector<double> out(cols, 0.0);
  for (size_t i = 0; i < x.size(); ++i) out[i % cols] += x[i];
  return out;
}

}  // namespace vktrain::reference
