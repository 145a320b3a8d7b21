#include "vk/recorder.hpp"

#include <algorithm>
#include <map>

#include "vk/check.hpp"
#include "vk/context.hpp"

namespace vktrain::vk {
namespace {

constexpr uint32_t kMaxProfiledCommands = 4096;
constexpr VkPipelineStageFlags kWorkStages =
    VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT;
constexpr VkAccessFlags kWorkAccess = VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT |
                                      VK_ACCESS_TRANSFER_READ_BIT | VK_ACCESS_TRANSFER_WRITE_BIT;

bool any_overlap(const std::vector<ByteRange>& a, const std::vector<ByteRange>& b) {
  for (const auto& x : a)
    for (const auto& y : b)
      if (x.overlaps(y)) return true;
  return false;
}

}  // namespace

ByteRange range_of(const Span& span, uint64_t offset, uint64_t bytes) {
  return {span.block, span.offset + offset, span.offset + offset + bytes};
}

Recorder::Recorder(Context& context) : context_(context) {
  cb_ = context_.device.allocate_command_buffer();
  fence_ = context_.device.create_fence();
  VkCommandBufferBeginInfo begin{VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO};
  VK_CHECK(vkBeginCommandBuffer(cb_, &begin));
  profile(context_.profile);
  // Work from earlier submissions (uploads, other recordings) becomes visible to this one.
  full_barrier(kWorkStages, kWorkAccess);
}

Recorder::~Recorder() {
  // The command buffer, its fence and its query pool must outlive the submission.
  if (in_flight_) vkWaitForFences(context_.device.handle(), 1, &fence_, VK_TRUE, UINT64_MAX);
  context_.device.destroy_fence(fence_);
  if (queries_) vkDestroyQueryPool(context_.device.handle(), queries_, nullptr);
  context_.device.free_command_buffer(cb_);
}

void Recorder::profile(bool on) {
  if (!on || queries_ || !context_.device.caps().timestamps || !labels_.empty()) return;
  VkQueryPoolCreateInfo info{VK_STRUCTURE_TYPE_QUERY_POOL_CREATE_INFO};
  info.queryType = VK_QUERY_TYPE_TIMESTAMP;
  info.queryCount = 2 * kMaxProfiledCommands;
  VK_CHECK(vkCreateQueryPool(context_.device.handle(), &info, nullptr, &queries_));
  vkCmdResetQueryPool(cb_, queries_, 0, info.queryCount);
  profiling_ = true;
}

void Recorder::full_barrier(VkPipelineStageFlags dst_stages, VkAccessFlags dst_access) {
  VkMemoryBarrier barrier{VK_STRUCTURE_TYPE_MEMORY_BARRIER};
  barrier.srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT;
  barrier.dstAccessMask = dst_access;
  vkCmdPipelineBarrier(cb_, kWorkStages, dst_stages, 0, 1, &barrier, 0, nullptr, 0, nullptr);
  pending_reads_.clear();
  pending_writes_.clear();
}

void Recorder::before_command(const std::vector<ByteRange>& reads,
                              const std::vector<ByteRange>& writes) {
  if (ended_) fail("[recorder] cannot record into a recording that has already run");
  bool hazard = any_overlap(reads, pending_writes_) || any_overlap(writes, pending_writes_) ||
                any_overlap(writes, pending_reads_);
  // A profiled recording serializes every command, so that each one's timestamps bracket only
  // its own work: commands that overlap would each count the time they share. Its total then
  // exceeds an unprofiled run's by the overlap given up.
  if (hazard || profiling_) {
    full_barrier(kWorkStages, kWorkAccess);
    ++barriers_;
  }
  pending_reads_.insert(pending_reads_.end(), reads.begin(), reads.end());
  pending_writes_.insert(pending_writes_.end(), writes.begin(), writes.end());
  if (profiling_ && labels_.size() < kMaxProfiledCommands)
    vkCmdWriteTimestamp(cb_, VK_PIPELINE_STAGE_TOP_OF_PIPE_BIT, queries_,
                        uint32_t(2 * labels_.size()));
}

void Recorder::after_command() {
  if (profiling_ && labels_.size() < kMaxProfiledCommands)
    vkCmdWriteTimestamp(cb_, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, queries_,
                        uint32_t(2 * labels_.size() + 1));
}

void Recorder::dispatch(const std::string& label, VkPipeline pipeline, const void* push,
                        uint32_t push_bytes, uint32_t groups_x, uint32_t groups_y,
                        uint32_t groups_z, const std::vector<ByteRange>& reads,
                        const std::vector<ByteRange>& writes) {
  const auto& limits = context_.device.caps().max_workgroup_count;
  if (groups_x > limits[0] || groups_y > limits[1] || groups_z > limits[2])
    fail("[recorder] {}: {}x{}x{} workgroups exceed the device limit {}x{}x{}", label, groups_x,
         groups_y, groups_z, limits[0], limits[1], limits[2]);
  if (push_bytes > kPushConstantBytes)
    fail("[recorder] {}: {} bytes of push constants, at most {}", label, push_bytes,
         kPushConstantBytes);
  before_command(reads, writes);
  vkCmdBindPipeline(cb_, VK_PIPELINE_BIND_POINT_COMPUTE, pipeline);
  vkCmdPushConstants(cb_, context_.pipelines.layout(), VK_SHADER_STAGE_COMPUTE_BIT, 0,
                     push_bytes, push);
  if (groups_x && groups_y && groups_z) vkCmdDispatch(cb_, groups_x, groups_y, groups_z);
  after_command();
  labels_.push_back(label);
}

void Recorder::copy(const Span& src, uint64_t src_offset, const Span& dst, uint64_t dst_offset,
                    uint64_t bytes) {
  before_command({range_of(src, src_offset, bytes)}, {range_of(dst, dst_offset, bytes)});
  VkBufferCopy region{src.offset + src_offset, dst.offset + dst_offset, bytes};
  if (bytes) vkCmdCopyBuffer(cb_, src.buffer, dst.buffer, 1, &region);
  after_command();
  labels_.push_back("copy");
}

const Span& Recorder::workspace(uint64_t bytes) {
  if (workspace_owner_ != this) return workspace_owner_->workspace(bytes);
  if (workspace_.empty() || workspace_.spans().front().bytes < bytes) {
    if (!workspace_.empty()) keep(std::move(workspace_));
    workspace_ = context_.allocator.allocate(bytes, MemoryKind::device, "recording workspace",
                                             std::max<uint64_t>(bytes, 4));
  }
  return workspace_.spans().front();
}

void Recorder::submit() {
  if (in_flight_) fail("[recorder] submitted again before its previous submission was waited for");
  if (!ended_) {
    // Results become visible to the host and to whatever runs next.
    full_barrier(kWorkStages | VK_PIPELINE_STAGE_HOST_BIT, kWorkAccess | VK_ACCESS_HOST_READ_BIT);
    VK_CHECK(vkEndCommandBuffer(cb_));
    ended_ = true;
  }
  context_.device.submit(cb_, fence_);
  in_flight_ = true;
}

void Recorder::wait() {
  if (!in_flight_) fail("[recorder] nothing submitted to wait for");
  in_flight_ = false;
  context_.device.wait(fence_);
  if (profiling_) collect_timings();
}

bool Recorder::wait_for(uint64_t timeout_ns) {
  if (!in_flight_) fail("[recorder] nothing submitted to wait for");
  if (!context_.device.wait_for(fence_, timeout_ns)) return false;
  in_flight_ = false;
  if (profiling_) collect_timings();
  return true;
}

void Recorder::collect_timings() {
  uint32_t count = uint32_t(std::min<size_t>(labels_.size(), kMaxProfiledCommands));
  std::vector<uint64_t> stamps(2 * count);
  if (count)
    VK_CHECK(vkGetQueryPoolResults(context_.device.handle(), queries_, 0, 2 * count,
                                   stamps.size() * sizeof(uint64_t), stamps.data(),
                                   sizeof(uint64_t),
                                   VK_QUERY_RESULT_64_BIT | VK_QUERY_RESULT_WAIT_BIT));
  std::map<std::string, Timing> by_label;
  double period = context_.device.caps().timestamp_period_ns;
  for (uint32_t i = 0; i < count; ++i) {
    auto& t = by_label[labels_[i]];
    t.label = labels_[i];
    t.count++;
    t.milliseconds += double(stamps[2 * i + 1] - stamps[2 * i]) * period * 1e-6;
  }
  timings_.clear();
  for (auto& [label, t] : by_label) timings_.push_back(t);
  std::sort(timings_.begin(), timings_.end(),
            [](const Timing& a, const Timing& b) { return a.milliseconds > b.milliseconds; });
  if (context_.profile) {
    double total = 0;
    for (const auto& t : timings_) total += t.milliseconds;
    fmt::print(stderr, "profile: {} commands, {:.3f} ms\n", count, total);
    for (const auto& t : timings_)
      fmt::print(stderr, "profile: {:>9.3f} ms {:>5.1f}% {:>5}x  {}\n", t.milliseconds,
                 total > 0 ? 100 * t.milliseconds / total : 0.0, t.count, t.label);
  }
}

}  // namespace vktrain::vk
