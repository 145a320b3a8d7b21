#include "cli/devices.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "base/env.hpp"
#include "base/error.hpp"
#include "vk/context.hpp"

namespace vktrain::cli {
namespace {

const char* yes(bool b) { return b ? "yes" : "no"; }

std::string gib(uint64_t bytes) { return fmt::format("{:.2f} GiB", bytes / double(1ull << 30)); }

const char* component_name(VkComponentTypeKHR t) {
  switch (t) {
    case VK_COMPONENT_TYPE_FLOAT16_KHR: return "f16";
    case VK_COMPONENT_TYPE_FLOAT32_KHR: return "f32";
    case VK_COMPONENT_TYPE_SINT8_KHR: return "s8";
    case VK_COMPONENT_TYPE_UINT8_KHR: return "u8";
    case VK_COMPONENT_TYPE_SINT32_KHR: return "s32";
    case VK_COMPONENT_TYPE_UINT32_KHR: return "u32";
    default: return t == VK_COMPONENT_TYPE_BFLOAT16_KHR ? "bf16" : "other";
  }
}

// "16x16x16 bf16->f32, ..." for the shapes of one scope; A's type stands for A and B. Workgroup
// shapes are granularities and say how many threads they need.
std::string shape_list(const std::vector<vk::CoopMatShape>& shapes, VkScopeKHR scope) {
  std::string text;
  for (const auto& m : shapes) {
    if (m.scope != scope) continue;
    text += fmt::format("{}{}x{}x{} {}->{}", text.empty() ? "" : ", ", m.m, m.n, m.k,
                        component_name(m.a), component_name(m.result));
    if (m.workgroup) text += fmt::format(" ({} threads)", m.workgroup);
  }
  return text.empty() ? "yes, no shapes listed" : text;
}

}  // namespace

std::string describe_device(const vk::Capabilities& c) {
  std::string s;
  auto line = [&](std::string_view key, const std::string& value) {
    s += fmt::format("    {:<22} {}\n", key, value);
  };
  line("type", c.type_name());
  line("driver", c.driver);
  line("Vulkan", fmt::format("{}.{}.{}", VK_API_VERSION_MAJOR(c.api_version),
                             VK_API_VERSION_MINOR(c.api_version),
                             VK_API_VERSION_PATCH(c.api_version)));
  line("fp16 / bf16 / int8",
       fmt::format("{} / {} / {}", yes(c.fp16),
                   c.bf16 ? (c.coopmat_bf16 ? "native, coopmat" : "native") : "as 16-bit words",
                   yes(c.int8)));
  line("16-bit storage", yes(c.storage16));
  line("buffer device address", yes(c.buffer_device_address));
  line("subgroup size", c.subgroup_min == c.subgroup_max
                            ? fmt::format("{}", c.subgroup_size)
                            : fmt::format("{} ({}..{}{})", c.subgroup_size, c.subgroup_min,
                                          c.subgroup_max, c.subgroup_size_control ? ", controllable" : ""));
  line("coopmat (KHR)",
       c.coopmat_khr ? shape_list(c.coopmat_khr_shapes, VK_SCOPE_SUBGROUP_KHR) : "no");
  line("coopmat2 (NV)",
       c.coopmat2_nv ? shape_list(c.coopmat2_nv_shapes, VK_SCOPE_WORKGROUP_KHR) : "no");
  line("max allocation", gib(c.max_allocation));
  line("storage buffer range", gib(c.max_storage_buffer_range));
  line("shared memory", fmt::format("{} KiB", c.max_shared_memory / 1024));
  line("unified memory", yes(c.unified_memory));
  if (!c.hidden.empty())
    line("hidden", fmt::format("{} ({})", fmt::join(c.hidden, ", "), env::kDisable));
  for (size_t i = 0; i < c.heaps.size(); ++i) {
    const auto& h = c.heaps[i];
    line(fmt::format("heap {}{}", i, h.device_local ? " (device)" : " (host)"),
         fmt::format("{}, budget {}, in use {}", gib(h.size), gib(h.budget), gib(h.usage)));
  }
  std::string missing = c.missing_required();
  line("usable by vktrain", missing.empty() ? "yes" : "no: lacks " + missing);
  return s;
}

int run_devices() {
  vk::Instance instance(env::flag(env::kValidate));
  auto all = vk::list_devices(instance);
  if (all.empty()) {
    fmt::print("no Vulkan devices found: install your GPU's Vulkan driver, or mesa-vulkan-drivers\n");
    return 1;
  }
  std::optional<size_t> chosen;
  try {
    chosen = vk::select_device(all, env::get(env::kDevice));
  } catch (const Error&) {
    // Listing still helps when the selection is wrong; the error shows when a command runs.
  }
  for (size_t i = 0; i < all.size(); ++i)
    fmt::print("{}{}: {}\n{}", chosen == i ? "* " : "  ", i, all[i].name,
               describe_device(all[i]));
  fmt::print("(* = the device vktrain uses; choose another with VKTRAIN_DEVICE=index or name)\n");
  return 0;
}

}  // namespace vktrain::cli
