#pragma once
// Records dispatches and copies into one command buffer and runs it, as often as wanted (a
// training step is recorded once and replayed, DESIGN.md decision 3). Running is submit() then
// wait(), so the host may work while the device runs; one submission at a time, since the
// command buffer is not simultaneous-use. Barriers come from the
// byte ranges each command reads and writes: one is placed only before a command that reads what
// an earlier command wrote, or writes what an earlier command read or wrote, since the last
// barrier. With VKTRAIN_PROFILE=1 every command is bracketed by timestamps (and barriers) and
// each run prints the time per label.
#include <vulkan/vulkan.h>

#include <string>
#include <vector>

#include "vk/memory.hpp"

namespace vktrain::vk {

class Context;

struct ByteRange {
  uint32_t block = 0;
  uint64_t begin = 0, end = 0;  // offsets within the block
  bool overlaps(const ByteRange& other) const {
    return block == other.block && begin < other.end && other.begin < end;
  }
};

// The byte range of `bytes` bytes at `offset` into `span`.
ByteRange range_of(const Span& span, uint64_t offset, uint64_t bytes);

struct Timing {
  std::string label;
  uint32_t count = 0;
  double milliseconds = 0;
};

class Recorder {
 public:
  explicit Recorder(Context& context);
  ~Recorder();
  Recorder(const Recorder&) = delete;
  Recorder& operator=(const Recorder&) = delete;

  Context& context() const { return context_; }

  void dispatch(const std::string& label, VkPipeline pipeline, const void* push,
                uint32_t push_bytes, uint32_t groups_x, uint32_t groups_y, uint32_t groups_z,
                const std::vector<ByteRange>& reads, const std::vector<ByteRange>& writes);
  void copy(const Span& src, uint64_t src_offset, const Span& dst, uint64_t dst_offset,
            uint64_t bytes);
  // Keeps a temporary (workspace, partial sums) alive as long as the recording.
  void keep(Allocation allocation) { temporaries_.push_back(std::move(allocation)); }
  // One device span of at least `bytes` bytes that every command of this recording may use as
  // scratch (split-K partial sums): reusing it costs only the barriers its tracked ranges ask
  // for, where a temporary per command would cost memory per command. A larger request
  // replaces it (the old one stays alive for the commands that use it).
  const Span& workspace(uint64_t bytes);
  // Takes workspace() from `owner` from now on: recordings that run one after another on the
  // queue (a step split into submissions) need one workspace, not one each. `owner` must
  // outlive this recording's submissions.
  void share_workspace(Recorder& owner) { workspace_owner_ = &owner; }

  // Ends the recording on the first call, then submits it; each later call replays it. Between
  // recordings the leading and trailing full barriers order each one's work after everything
  // submitted before it and before everything submitted after it.
  void submit();
  // Waits for the submission to finish (validation messages become Errors), then collects the
  // profile's timings.
  void wait();
  void run() {
    submit();
    wait();
  }
  // Waits at most `timeout_ns` for the submission: true (and as wait()) when it has finished,
  // so that the host can tend to other work (MPI) between waits.
  bool wait_for(uint64_t timeout_ns);
  uint32_t barriers() const { return barriers_; }
  uint32_t commands() const { return uint32_t(labels_.size()); }
  // Per-label times of the last run (VKTRAIN_PROFILE=1 or profile(true)), slowest first.
  const std::vector<Timing>& timings() const { return timings_; }
  void profile(bool on);

 private:
  void before_command(const std::vector<ByteRange>& reads, const std::vector<ByteRange>& writes);
  void after_command();
  void full_barrier(VkPipelineStageFlags dst_stages, VkAccessFlags dst_access);
  void collect_timings();

  Context& context_;
  VkCommandBuffer cb_ = VK_NULL_HANDLE;
  VkFence fence_ = VK_NULL_HANDLE;
  bool ended_ = false;
  bool in_flight_ = false;
  bool profiling_ = false;
  VkQueryPool queries_ = VK_NULL_HANDLE;
  std::vector<std::string> labels_;
  std::vector<ByteRange> pending_reads_, pending_writes_;
  std::vector<Allocation> temporaries_;
  Allocation workspace_;
  Recorder* workspace_owner_ = this;
  std::vector<Timing> timings_;
  uint32_t barriers_ = 0;
};

}  // namespace vktrain::vk
