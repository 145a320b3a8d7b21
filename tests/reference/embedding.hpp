#pragma once
// References of ops/embedding.hpp, in double. Backward adds into dtable, like the op.
#include <cstddef>
#include <cstdint>
#include <vector>

namespace vktrain::reference {

// out [N, C] = scale * table[ids[t], :]; table [V, C].
void embedding_forward(std::vector<double>& out, const std::vector<int32_t>& ids,
                       const std::vector<float>& table, size_t cols, double scale);
// dtable [V, C] += scale * dout[t, :] for each token t, at row ids[t].
void embedding_backward(std::vector<double>& dtable, const std::vector<float>& dout,
                        const std::vector<int32_t>& ids, size_t cols, double scale);

}  // namespace vktrain::reference
