#include "vk/memory.hpp"

#include <algorithm>
#include <map>
#include <optional>
#include <utility>

#include "vk/check.hpp"
#include "vk/device.hpp"

namespace vktrain::vk {
namespace {

constexpr uint64_t kAlignment = 256;
constexpr double kMiB = 1024.0 * 1024.0;

uint64_t align_up(uint64_t x, uint64_t a) { return (x + a - 1) / a * a; }

}  // namespace

uint64_t allocated_bytes(uint64_t bytes) { return align_up(std::max<uint64_t>(bytes, 1), kAlignment); }

struct Allocator::Block {
  uint32_t id = 0;
  uint32_t type = 0;
  bool host_fallback = false;
  bool dedicated = false;  // larger than a shared block: released as soon as it is free
  uint64_t size = 0;
  VkDeviceMemory memory = VK_NULL_HANDLE;
  VkBuffer buffer = VK_NULL_HANDLE;
  VkDeviceAddress address = 0;
  void* mapped = nullptr;
  std::map<uint64_t, uint64_t> free;  // offset -> size, coalesced
  uint64_t used = 0;
};

Allocation& Allocation::operator=(Allocation&& other) noexcept {
  if (this != &other) {
    reset();
    owner_ = std::exchange(other.owner_, nullptr);
    spans_ = std::move(other.spans_);
    bytes_ = std::exchange(other.bytes_, 0);
    other.spans_.clear();
  }
  return *this;
}

void Allocation::reset() {
  if (owner_)
    for (const auto& span : spans_) owner_->free_span(span);
  spans_.clear();
  owner_ = nullptr;
  bytes_ = 0;
}

Allocator::Allocator(Device& device, AllocatorOptions options)
    : device_(device), options_(options) {
  vkGetPhysicalDeviceMemoryProperties(device.physical(), &properties_);
  heap_used_.assign(properties_.memoryHeapCount, 0);
  max_span_ = device.caps().max_allocation ? device.caps().max_allocation : (1ull << 30);
  if (options_.max_span) max_span_ = std::min(max_span_, options_.max_span);
  max_span_ = max_span_ / kAlignment * kAlignment;
  options_.block_bytes = std::min(options_.block_bytes, max_span_);
}

Allocator::~Allocator() {
  VkDevice dev = device_.handle();
  for (auto& block : blocks_) {
    vkDestroyBuffer(dev, block->buffer, nullptr);
    vkFreeMemory(dev, block->memory, nullptr);
  }
}

std::vector<Allocator::Candidate> Allocator::candidates(MemoryKind kind) const {
  using F = VkMemoryPropertyFlags;
  const F local = VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT;
  const F visible = VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
  const F cached = VK_MEMORY_PROPERTY_HOST_CACHED_BIT;
  // Each preference: flags required, flags that must be absent, whether it is a host fallback.
  struct Preference { F want, avoid; bool fallback; };
  std::vector<Preference> order;
  switch (kind) {
    case MemoryKind::device:
      order = {{local, VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT, false}, {local, 0, false},
               {visible, 0, true}};
      break;
    case MemoryKind::staging: order = {{visible, local, false}, {visible, 0, false}}; break;
    case MemoryKind::readback:
      order = {{visible | cached, 0, false}, {visible, 0, false}};
      break;
  }
  std::vector<Candidate> result;
  for (const auto& pref : order) {
    for (uint32_t i = 0; i < properties_.memoryTypeCount; ++i) {
      F flags = properties_.memoryTypes[i].propertyFlags;
      if ((flags & pref.want) != pref.want || (flags & pref.avoid)) continue;
      if (flags & VK_MEMORY_PROPERTY_PROTECTED_BIT) continue;
      bool seen = std::any_of(result.begin(), result.end(),
                              [&](const Candidate& c) { return c.type == i; });
      bool fallback = pref.fallback && !(flags & local);
      if (!seen) result.push_back({i, fallback});
    }
  }
  return result;
}

Allocator::Block* Allocator::new_block(uint64_t bytes, const Candidate& candidate) {
  uint32_t heap = properties_.memoryTypes[candidate.type].heapIndex;
  const auto& heaps = device_.caps().heaps;
  if (heap < heaps.size() && heap_used_[heap] + bytes > heaps[heap].budget) return nullptr;

  VkDevice dev = device_.handle();
  VkBufferCreateInfo buffer_info{VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO};
  buffer_info.size = bytes;
  buffer_info.usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_TRANSFER_SRC_BIT |
                      VK_BUFFER_USAGE_TRANSFER_DST_BIT |
                      VK_BUFFER_USAGE_SHADER_DEVICE_ADDRESS_BIT;
  buffer_info.sharingMode = VK_SHARING_MODE_EXCLUSIVE;
  VkBuffer buffer = VK_NULL_HANDLE;
  if (vkCreateBuffer(dev, &buffer_info, nullptr, &buffer) != VK_SUCCESS) return nullptr;
  VkMemoryRequirements requirements;
  vkGetBufferMemoryRequirements(dev, buffer, &requirements);
  if (!(requirements.memoryTypeBits & (1u << candidate.type))) {
    vkDestroyBuffer(dev, buffer, nullptr);
    return nullptr;
  }
  VkMemoryAllocateFlagsInfo flags{VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_FLAGS_INFO};
  flags.flags = VK_MEMORY_ALLOCATE_DEVICE_ADDRESS_BIT;
  VkMemoryAllocateInfo info{VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO};
  info.pNext = &flags;
  info.allocationSize = requirements.size;
  info.memoryTypeIndex = candidate.type;
  VkDeviceMemory memory = VK_NULL_HANDLE;
  VkResult result = vkAllocateMemory(dev, &info, nullptr, &memory);
  if (result != VK_SUCCESS) {
    vkDestroyBuffer(dev, buffer, nullptr);
    if (result == VK_ERROR_OUT_OF_DEVICE_MEMORY || result == VK_ERROR_OUT_OF_HOST_MEMORY)
      return nullptr;
    VK_CHECK(result);
  }
  VK_CHECK(vkBindBufferMemory(dev, buffer, memory, 0));

  auto block = std::make_unique<Block>();
  block->id = next_block_id_++;
  block->type = candidate.type;
  block->host_fallback = candidate.host_fallback;
  block->size = bytes;
  block->memory = memory;
  block->buffer = buffer;
  if (properties_.memoryTypes[candidate.type].propertyFlags & VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT)
    VK_CHECK(vkMapMemory(dev, memory, 0, VK_WHOLE_SIZE, 0, &block->mapped));
  VkBufferDeviceAddressInfo address{VK_STRUCTURE_TYPE_BUFFER_DEVICE_ADDRESS_INFO};
  address.buffer = buffer;
  block->address = vkGetBufferDeviceAddress(dev, &address);
  block->free[0] = bytes;

  heap_used_[heap] += requirements.size;
  stats_.reserved += requirements.size;
  stats_.peak_reserved = std::max(stats_.peak_reserved, stats_.reserved);
  blocks_.push_back(std::move(block));
  return blocks_.back().get();
}

Span Allocator::allocate_span(uint64_t bytes, MemoryKind kind, const std::string& what) {
  uint64_t size = allocated_bytes(bytes);
  auto take = [&](Block& block) -> std::optional<Span> {
    for (auto it = block.free.begin(); it != block.free.end(); ++it) {
      if (it->second < size) continue;
      uint64_t offset = it->first, remaining = it->second - size;
      block.free.erase(it);
      if (remaining) block.free[offset + size] = remaining;
      block.used += size;
      stats_.in_use += size;
      stats_.peak_in_use = std::max(stats_.peak_in_use, stats_.in_use);
      if (block.host_fallback) stats_.host_fallback += size;
      Span span;
      span.address = block.address + offset;
      span.bytes = bytes;
      span.buffer = block.buffer;
      span.offset = offset;
      span.mapped = block.mapped ? static_cast<char*>(block.mapped) + offset : nullptr;
      span.block = block.id;
      return span;
    }
    return std::nullopt;
  };
  for (const auto& candidate : candidates(kind)) {
    for (auto& block : blocks_)
      if (block->type == candidate.type && !block->dedicated)
        if (auto span = take(*block)) return *span;
    bool dedicated = size > options_.block_bytes;
    if (Block* block = new_block(dedicated ? size : options_.block_bytes, candidate)) {
      block->dedicated = dedicated;
      return *take(*block);
    }
  }
  const auto& heaps = device_.caps().heaps;
  uint64_t budget = 0;
  for (const auto& heap : heaps) budget += heap.device_local ? heap.budget : 0;
  fail("[memory] out of device memory allocating {:.1f} MiB for {} on '{}' ({:.1f} MiB in use, "
       "{:.1f} MiB device budget); use a smaller batch, sequence length or model, or turn on "
       "recompute",
       bytes / kMiB, what, device_.caps().name, stats_.in_use / kMiB, budget / kMiB);
}

Allocation Allocator::allocate(uint64_t bytes, MemoryKind kind, const std::string& what,
                               uint64_t granule) {
  granule = std::max<uint64_t>(granule, 1);
  uint64_t per_span = max_span_ / granule * granule;
  if (per_span == 0)
    fail("[memory] {}: one row of {} bytes is larger than one allocation ({} bytes) on '{}'",
         what, granule, max_span_, device_.caps().name);
  std::vector<Span> spans;
  try {
    uint64_t remaining = bytes;
    do {
      uint64_t piece = std::min(remaining, per_span);
      spans.push_back(allocate_span(piece, kind, what));
      remaining -= piece;
    } while (remaining);
  } catch (...) {
    for (const auto& span : spans) free_span(span);
    throw;
  }
  return Allocation(this, std::move(spans), bytes);
}

void Allocator::free_span(const Span& span) {
  auto it = std::find_if(blocks_.begin(), blocks_.end(),
                         [&](const auto& b) { return b->id == span.block; });
  if (it == blocks_.end()) return;
  Block& block = **it;
  uint64_t size = allocated_bytes(span.bytes);
  uint64_t offset = span.offset;
  auto next = block.free.lower_bound(offset);
  if (next != block.free.end() && offset + size == next->first) {
    size += next->second;
    next = block.free.erase(next);
  }
  if (next != block.free.begin()) {
    auto prev = std::prev(next);
    if (prev->first + prev->second == offset) {
      offset = prev->first;
      size += prev->second;
      block.free.erase(prev);
    }
  }
  block.free[offset] = size;
  uint64_t freed = allocated_bytes(span.bytes);
  block.used -= freed;
  stats_.in_use -= freed;
  if (block.host_fallback) stats_.host_fallback -= freed;
  if (block.dedicated && block.used == 0) {
    VkMemoryRequirements requirements;
    vkGetBufferMemoryRequirements(device_.handle(), block.buffer, &requirements);
    heap_used_[properties_.memoryTypes[block.type].heapIndex] -= requirements.size;
    stats_.reserved -= requirements.size;
    vkDestroyBuffer(device_.handle(), block.buffer, nullptr);
    vkFreeMemory(device_.handle(), block.memory, nullptr);
    blocks_.erase(it);
  }
}

}  // namespace vktrain::vk
