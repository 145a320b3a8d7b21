#include "cli/doctor.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "base/error.hpp"
#include "cli/devices.hpp"
#include "cli/measure.hpp"
#include "kernels/registry.hpp"
#include "ops/attention.hpp"
#include "ops/matmul.hpp"

namespace vktrain::cli {
namespace {

struct Case {
  ops::MatmulVariant variant;
  DType in, out;
};

const Case kCases[] = {
    {ops::MatmulVariant::portable, DType::f32, DType::f32},
    {ops::MatmulVariant::portable, DType::f16, DType::f32},
    {ops::MatmulVariant::portable, DType::bf16, DType::f32},
    {ops::MatmulVariant::coopmat, DType::f16, DType::f32},
    {ops::MatmulVariant::coopmat2, DType::f16, DType::f32},
};

// Which kernels need one subgroup size (ops::subgroup_size_unavailable) and whether they get it.
void print_subgroups(const vk::Context& ctx) {
  const auto& caps = ctx.caps();
  fmt::print("  - subgroups of {} lanes (the device runs {} to {}; {}): kernels without cooperative "
             "matrices work at any size.\n",
             caps.subgroup_size, caps.subgroup_min, caps.subgroup_max,
             caps.subgroup_size_control ? "a kernel can require its size"
                                        : "no kernel can require a size");
  if (!caps.coopmat_khr) return;
  auto why = ops::matmul_unavailable(ctx, ops::MatmulVariant::coopmat, DType::f16, DType::f32);
  if (why.empty())
    fmt::print("  - the KHR cooperative-matrix matmul runs subgroups of {}{}.\n",
               ops::matmul_coopmat_subgroup(caps),
               caps.subgroup_size_control ? ", required through VK_EXT_subgroup_size_control" : "");
  else
    fmt::print("  - the KHR cooperative-matrix matmul cannot run: {}.\n", why);
  why = ops::attention_unavailable(ctx, ops::AttentionVariant::coopmat, DType::f16, 128);
  fmt::print("  - the cooperative-matrix attention (the matmul's subgroups of {}{}) {}.\n",
             ops::matmul_coopmat_subgroup(caps), caps.subgroup_size_control ? ", required" : "",
             why.empty() ? "runs here" : "cannot run: " + why);
}

// Whether the NV cooperative-matrix-2 attention kernels run here (f16 at head_dim 128, as the
// KHR line above), and whether attention takes them without being asked.
void print_coopmat2_attention(const vk::Context& ctx) {
  auto why = ops::attention_unavailable(ctx, ops::AttentionVariant::coopmat2, DType::f16, 128);
  auto automatic = ops::attention_automatic_variant(ctx, DType::f16, 128);
  std::string verdict =
      !why.empty() ? "cannot run: " + why
      : automatic == ops::AttentionVariant::coopmat2
          ? "runs here; attention takes it"
          : fmt::format("runs here when asked for; attention takes {} by itself",
                        ops::attention_variant_name(automatic));
  fmt::print("  - the NV cooperative-matrix-2 attention (coopmat2) {}.\n", verdict);
}

}  // namespace

int run_doctor(const std::optional<std::string>& device, const std::optional<std::string>& only) {
  std::optional<ops::MatmulVariant> only_variant;
  if (only) only_variant = ops::matmul_variant_from_name(*only);
  auto options = vk::ContextOptions::from_env();
  if (device) options.device = device;
  vk::Context ctx(options);
  if (only_variant) {
    DType in = *only_variant == ops::MatmulVariant::portable ? DType::f32 : DType::f16;
    auto why = ops::matmul_unavailable(ctx, *only_variant, in, DType::f32);
    if (!why.empty()) fail("[doctor] matmul variant {} cannot run here: {}", *only, why);
  }
  const auto& caps = ctx.caps();
  bool cpu = caps.type == VK_PHYSICAL_DEVICE_TYPE_CPU;
  fmt::print("device: {}\n{}", caps.name, describe_device(caps));

  auto built = kernels::names();
  auto has_kernel = [&](std::string_view prefix) {
    return std::any_of(built.begin(), built.end(),
                       [&](std::string_view n) { return n.starts_with(prefix); });
  };
  fmt::print("    {:<22} {} variants; cooperative-matrix kernels: KHR {}, NV {}\n",
             "kernels in this build", built.size(), has_kernel("matmul_coopmat_") ? "yes" : "no",
             has_kernel("matmul_coopmat2_") ? "yes" : "no");
  uint64_t copy_bytes = cpu ? (32ull << 20) : (1ull << 30);
  int copies = cpu ? 4 : 20;
  // Steady-state timing on GPUs; a CPU driver's clocks do not ramp, and its checks stay quick.
  const double steady = cpu ? 0 : kSteadySeconds;
  double by_kernel = measure_copy_gbps(ctx, copy_bytes, copies, ops::CopyPath::kernel, steady);
  double by_transfer = measure_copy_gbps(ctx, copy_bytes, copies, ops::CopyPath::transfer, steady);
  fmt::print("\ncopy: {:.1f} GB/s by kernel, {:.1f} GB/s by transfer command (read + write, {} MiB)\n",
             by_kernel, by_transfer, copy_bytes >> 20);

  uint32_t size = cpu ? 256 : 4096;
  int repeats = cpu ? 2 : 20;
  fmt::print("matmul {}x{}x{}, f32 accumulation:\n", size, size, size);
  bool all_correct = true;
  double best_tflops = 0;
  std::string best;
  for (const auto& c : kCases) {
    if (only_variant && c.variant != *only_variant) continue;
    MatmulRun run{c.variant, c.in, c.out, size, size, size};
    auto name = fmt::format("{} {}->{}", ops::matmul_variant_name(c.variant), dtype_name(c.in),
                            dtype_name(c.out));
    auto r = measure_matmul(ctx, run, repeats, steady);
    if (!r.unavailable.empty()) {
      fmt::print("  {:<24} not available: {}\n", name, r.unavailable);
      continue;
    }
    all_correct = all_correct && r.correct();
    fmt::print("  {:<24} {:9.4f} TFLOP/s  {:8.3f} ms  error {:.1e} {}\n", name, r.tflops,
               r.milliseconds, r.max_error, r.correct() ? "ok" : "WRONG");
    if (r.correct() && r.tflops > best_tflops) {
      best_tflops = r.tflops;
      best = name;
    }
  }

  fmt::print("\nwhat this means:\n");
  fmt::print("  - vktrain's kernels run on this device (buffer device addresses, 16-bit storage).\n");
  if (!all_correct)
    fmt::print("  - a matmul kernel gave WRONG results here: please report this device and driver.\n");
  if (cpu)
    fmt::print("  - this is a CPU driver: good for tests and the demo, far too slow for real models.\n");
  if (caps.coopmat2_nv || caps.coopmat_khr)
    fmt::print("  - cooperative matrices (tensor/matrix cores) are available: f16 matmuls use them.\n");
  else
    fmt::print("  - no cooperative matrices: every matmul uses the portable kernel.\n");
  print_subgroups(ctx);
  print_coopmat2_attention(ctx);
  if (!caps.bf16)
    fmt::print("  - bf16 is handled as 16-bit words converted in the kernels (works, no native bf16).\n");
  uint64_t budget = 0;
  for (const auto& h : caps.heaps) budget += h.device_local ? h.budget : 0;
  if (caps.unified_memory)
    fmt::print("  - unified memory: the GPU can use system memory directly.\n");
  // Rough: bf16 frozen weights (2 bytes/parameter) plus ~30% for adapters, activations, workspace.
  fmt::print("  - {:.1f} GiB device budget: LoRA on bf16 models up to about {:.1f}B parameters "
             "(a rough estimate; `vktrain plan` will give one per model).\n",
             budget / double(1ull << 30), budget / 2.6e9);
  fmt::print("  - fastest matmul here: {} at {:.3f} TFLOP/s.\n", best, best_tflops);
  const auto& memory = ctx.allocator.stats();
  fmt::print("  - these checks used at most {:.1f} MiB of device memory ({:.1f} MiB reserved).\n",
             memory.peak_in_use / double(1 << 20), memory.peak_reserved / double(1 << 20));
  return all_correct ? 0 : 1;
}

}  // namespace vktrain::cli
