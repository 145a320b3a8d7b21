#pragma once
// One micro-batch on the host: B rows of T tokens, each array [B, T] row-major. What each array
// means is in transformer.hpp (BatchTensors); data/batches.hpp builds them from examples.
#include <cstdint>
#include <vector>

namespace vktrain::model {

struct HostBatch {
  int64_t batch = 0, time = 0;
  std::vector<int32_t> ids, targets, positions, documents;
};

}  // namespace vktrain::model
