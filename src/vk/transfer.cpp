#include "vk/transfer.hpp"

#include <algorithm>
#include <cstring>

#include "base/error.hpp"
#include "vk/context.hpp"
#include "vk/recorder.hpp"

namespace vktrain::vk {
namespace {

constexpr uint64_t kStagingBytes = 64ull << 20;

bool all_mapped(const Allocation& a) {
  return std::all_of(a.spans().begin(), a.spans().end(), [](const Span& s) { return s.mapped; });
}

void check_size(const Allocation& a, size_t bytes, const char* what) {
  if (bytes > a.bytes())
    fail("[transfer] {} of {} bytes into a tensor of {} bytes", what, bytes, a.bytes());
}

// Calls visit(span, offset in span, offset in data, length) for consecutive pieces of at most
// `piece` bytes covering the first `bytes` bytes of the allocation.
template <typename Visit>
void for_each_piece(const Allocation& a, uint64_t bytes, uint64_t piece, Visit visit) {
  uint64_t done = 0;
  for (const Span& span : a.spans()) {
    for (uint64_t at = 0; at < span.bytes && done < bytes;) {
      uint64_t n = std::min({span.bytes - at, bytes - done, piece});
      visit(span, at, done, n);
      at += n;
      done += n;
    }
  }
}

}  // namespace

void upload(Context& context, const Allocation& dst, std::span<const std::byte> data,
            TransferPath path) {
  check_size(dst, data.size(), "upload");
  if (path == TransferPath::automatic && all_mapped(dst)) {
    for_each_piece(dst, data.size(), UINT64_MAX, [&](const Span& s, uint64_t at, uint64_t from,
                                                     uint64_t n) {
      std::memcpy(static_cast<std::byte*>(s.mapped) + at, data.data() + from, n);
    });
    return;
  }
  uint64_t piece = std::min<uint64_t>(kStagingBytes, std::max<size_t>(data.size(), 1));
  Allocation staging = context.allocator.allocate(piece, MemoryKind::staging, "staging buffer");
  const Span& stage = staging.spans().front();
  for_each_piece(dst, data.size(), piece, [&](const Span& s, uint64_t at, uint64_t from,
                                              uint64_t n) {
    std::memcpy(stage.mapped, data.data() + from, n);
    Recorder recorder(context);
    recorder.copy(stage, 0, s, at, n);
    recorder.run();
  });
}

void download(Context& context, const Allocation& src, std::span<std::byte> data,
              TransferPath path) {
  check_size(src, data.size(), "download");
  if (path == TransferPath::automatic && all_mapped(src)) {
    for_each_piece(src, data.size(), UINT64_MAX, [&](const Span& s, uint64_t at, uint64_t to,
                                                     uint64_t n) {
      std::memcpy(data.data() + to, static_cast<const std::byte*>(s.mapped) + at, n);
    });
    return;
  }
  uint64_t piece = std::min<uint64_t>(kStagingBytes, std::max<size_t>(data.size(), 1));
  Allocation staging = context.allocator.allocate(piece, MemoryKind::readback, "readback buffer");
  const Span& stage = staging.spans().front();
  for_each_piece(src, data.size(), piece, [&](const Span& s, uint64_t at, uint64_t to,
                                              uint64_t n) {
    Recorder recorder(context);
    recorder.copy(s, at, stage, 0, n);
    recorder.run();
    std::memcpy(data.data() + to, stage.mapped, n);
  });
}

}  // namespace vktrain::vk
