#pragma once
// Moving bytes between host and an Allocation. Host-visible memory (unified-memory APUs, the CPU
// driver) is written in place; otherwise bytes go through a staging buffer in pieces.
#include <cstddef>
#include <span>

#include "vk/memory.hpp"

namespace vktrain::vk {

class Context;

enum class TransferPath { automatic, staging };

void upload(Context& context, const Allocation& dst, std::span<const std::byte> data,
            TransferPath path = TransferPath::automatic);
void download(Context& context, const Allocation& src, std::span<std::byte> data,
              TransferPath path = TransferPath::automatic);

}  // namespace vktrain::vk
