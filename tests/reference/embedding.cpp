#include "reference/embedding.hpp"

namespace vktrain::reference {

void embedding_forward(std::vector<double>& out, const std::vector<int32_t>& ids,
                       const std::vector<float>& table, size_t cols, double scale) {
  out.resize(ids.size() * cols);
  for (size_t t = 0; t < ids.size(); ++t)
    for (size_t c = 0; c < cols; ++c) out[t * cols + c] = scale * table[size_t(ids[t]) * cols + c];
}

void embedding_backward(std::vector<double>& dtable, const std::vector<float>& dout,
                        const std::vector<int32_t>& ids, size_t cols, double scale) {
  for (size_t t = 0; t < ids.size(); ++t)
    for (size_t c = 0; c < cols; ++c) dtable[size_t(ids[t]) * cols + c] += scale * dout[t * cols + c];
}

}  // namespace vktrain::reference
