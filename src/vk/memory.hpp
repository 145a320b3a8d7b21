#pragma once
// The allocator (DESIGN.md decision 7). Large blocks of VkDeviceMemory, each bound to one buffer
// with a device address, are sub-allocated first-fit. Memory types are tried in order of
// preference (device-local; device-local + host-visible; host memory) against each heap's budget.
// A request larger than one allocation may be (maxMemoryAllocationSize, or the `max_span` option)
// becomes several spans, each a whole number of `granule` bytes, so ops can split work at span
// boundaries. Peak use is tracked for reports.
#include <vulkan/vulkan.h>

#include <memory>
#include <string>
#include <vector>

namespace vktrain::vk {

class Device;
class Allocator;

enum class MemoryKind {
  device,    // where kernels read and write; falls back to host memory when the device is full
  staging,   // host-visible, coherent: uploads
  readback,  // host-visible, cached where possible: downloads
};

struct Span {
  VkDeviceAddress address = 0;
  uint64_t bytes = 0;
  VkBuffer buffer = VK_NULL_HANDLE;  // the block's buffer, for copy commands
  uint64_t offset = 0;               // within `buffer`
  void* mapped = nullptr;            // host pointer when the memory is host-visible
  uint32_t block = 0;                // identifies the block, for hazard tracking
};

class Allocation {
 public:
  Allocation() = default;
  Allocation(Allocator* owner, std::vector<Span> spans, uint64_t bytes)
      : owner_(owner), spans_(std::move(spans)), bytes_(bytes) {}
  ~Allocation() { reset(); }
  Allocation(Allocation&& other) noexcept { *this = std::move(other); }
  Allocation& operator=(Allocation&& other) noexcept;
  Allocation(const Allocation&) = delete;
  Allocation& operator=(const Allocation&) = delete;

  void reset();
  uint64_t bytes() const { return bytes_; }
  const std::vector<Span>& spans() const { return spans_; }
  bool empty() const { return spans_.empty(); }

 private:
  Allocator* owner_ = nullptr;
  std::vector<Span> spans_;
  uint64_t bytes_ = 0;
};

// The bytes a request of `bytes` takes from a block: its size rounded up to the alignment (within
// one span; a request split over several spans rounds each). Memory plans add these up.
uint64_t allocated_bytes(uint64_t bytes);

struct AllocatorOptions {
  uint64_t block_bytes = 256ull << 20;  // size of the shared blocks
  uint64_t max_span = 0;                // 0: the device's maxMemoryAllocationSize
};

struct MemoryStats {
  uint64_t in_use = 0;         // bytes handed out
  uint64_t peak_in_use = 0;
  uint64_t reserved = 0;       // bytes of VkDeviceMemory held
  uint64_t peak_reserved = 0;
  uint64_t host_fallback = 0;  // bytes of MemoryKind::device that landed in host memory
};

class Allocator {
 public:
  Allocator(Device& device, AllocatorOptions options = {});
  ~Allocator();
  Allocator(const Allocator&) = delete;
  Allocator& operator=(const Allocator&) = delete;

  // `what` names the tensor in the out-of-memory error.
  Allocation allocate(uint64_t bytes, MemoryKind kind, const std::string& what,
                      uint64_t granule = 4);
  const MemoryStats& stats() const { return stats_; }

 private:
  friend class Allocation;
  struct Block;
  struct Candidate {
    uint32_t type;
    bool host_fallback;
  };
  std::vector<Candidate> candidates(MemoryKind kind) const;
  Span allocate_span(uint64_t bytes, MemoryKind kind, const std::string& what);
  Block* new_block(uint64_t bytes, const Candidate& candidate);
  void free_span(const Span& span);

  Device& device_;
  AllocatorOptions options_;
  uint64_t max_span_ = 0;
  VkPhysicalDeviceMemoryProperties properties_{};
  std::vector<std::unique_ptr<Block>> blocks_;
  std::vector<uint64_t> heap_used_;
  uint32_t next_block_id_ = 1;
  MemoryStats stats_;
};

}  // namespace vktrain::vk
