#pragma once
// One micro-batch on the host: B rows of T tokens, each array [B, T] row-major, as Batcher
// (batches.hpp) builds them from examples. What each array means on the device is in
// model/transformer.hpp (BatchTensors); train/batch_upload.hpp checks and uploads it.
#include <cstdint>
#include <vector>

namespace vktrain::data {

struct HostBatch {
  int64_t batch = 0, time = 0;
  std::vector<int32_t> ids, targets, positions, documents;
};

// The targets that count in the loss (the others are negative).
int64_t count_targets(const HostBatch& batch);
// The positions that hold a token rather than padding (document -1; a batch without document
// ids is all tokens): the work a step does, as bench_train_step counts B x T of full rows.
int64_t count_tokens(const HostBatch& batch);

}  // namespace vktrain::data
