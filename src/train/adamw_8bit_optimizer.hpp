#pragma once
// AdamW with 8-bit blockwise moments behind the Optimizer interface (train/optimizer.hpp).
#include <memory>

#include "train/optimizer.hpp"

namespace vktrain::train {

std::unique_ptr<Optimizer> make_adamw_8bit(model::Parameters& params,
                                           const ops::AdamwOptions& options,
                                           const Communicator* shard_over);

}  // namespace vktrain::train
