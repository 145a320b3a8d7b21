#pragma once
// Plain C++ references of the ops, in double where it matters: the truth the kernels are
// checked against. Layouts and argument order follow the ops (outputs first).
#include <cstdint>
#include <cstddef>
#include <vector>

namespace vktrain::reference {

// C = alpha * op(A) op(B) + beta * C for `batch` row-major matrices; b_batch is 1 or batch.
struct MatmulShape {
  uint32_t batch = 1, b_batch = 1, m, n, k;
  bool trans_a = false, trans_b = false;
};
void matmul(std::vector<double>& c, const std::vector<float>& a, const std::vector<float>& b,
            const MatmulShape& s, double alpha = 1, double beta = 0);

double sum(const std::vector<float>& x);
double sum_squares(const std::vector<float>& x);
// out[c] = sum over r of x[r * cols + c]
std::vector<double> column_sum(const std::vector<float>& x, size_t cols);

}  // namespace vktrain::reference
