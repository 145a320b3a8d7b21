// bench/copy: device memory bandwidth three ways, each checked, then timed over replays:
// vkCmdCopyBuffer, the copy2d kernel (ops::copy's two paths), and an element-wise kernel
// (scale: one read and one write per element). GB/s count bytes read plus bytes written. Then
// the fill kernel (what zeroes gradients), f32 and bf16: GB/s of bytes written.
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "cli/measure.hpp"
#include "ops/elementwise.hpp"
#include "vk/context.hpp"

using namespace vktrain;

int main(int argc, char** argv) {
  CLI::App app{"copy lab: device memory bandwidth"};
  uint64_t mib = 1024;
  int repeats = 20;
  app.add_option("--mib", mib, "bytes per copy, MiB");
  app.add_option("--repeats", repeats, "copies per timed run");
  CLI11_PARSE(app, argc, argv);
  try {
    vk::Context ctx;
    const int64_t cols = 4096, rows = int64_t(mib << 20) / 4 / cols;
    Tensor src = make_tensor(ctx, DType::f32, {rows, cols}, "src");
    Tensor dst = make_tensor(ctx, DType::f32, {rows, cols}, "dst");
    {
      vk::Recorder init(ctx);
      ops::fill(init, src, 1.5f);
      init.run();
    }
    struct Way {
      const char* name;
      void (*record)(vk::Recorder&, Tensor&, const Tensor&);
    };
    const Way ways[] = {
        {"vkCmdCopyBuffer",
         [](vk::Recorder& r, Tensor& d, const Tensor& s) { ops::copy(r, d, s, ops::CopyPath::transfer); }},
        {"copy2d kernel",
         [](vk::Recorder& r, Tensor& d, const Tensor& s) { ops::copy(r, d, s, ops::CopyPath::kernel); }},
        {"scale kernel", [](vk::Recorder& r, Tensor& d, const Tensor& s) { ops::scale(r, d, s, 1.0f); }},
    };
    fmt::print("device: {}, {} MiB f32, {} repeats\n", ctx.caps().name, mib, repeats);
    bool all_ok = true;
    for (const auto& way : ways) {
      {
        vk::Recorder clear(ctx);
        ops::fill(clear, dst, -1.0f);
        clear.run();
      }
      vk::Recorder rec(ctx);
      for (int i = 0; i < repeats; ++i) way.record(rec, dst, src);
      double seconds = cli::median_seconds(rec);
      auto out = read_floats(ctx, dst);
      bool ok = out.front() == 1.5f && out.back() == 1.5f && out[out.size() / 2] == 1.5f;
      all_ok = all_ok && ok;
      fmt::print("{:<16} {:8.1f} GB/s  {}\n", way.name,
                 2.0 * double(src.bytes()) * repeats / seconds * 1e-9, ok ? "ok" : "WRONG");
    }
    for (DType dt : {DType::f32, DType::bf16}) {
      Tensor t = make_tensor(ctx, dt, {rows, cols}, "filled");
      vk::Recorder rec(ctx);
      for (int i = 0; i < repeats; ++i) ops::fill(rec, t, 0.5f);
      double seconds = cli::median_seconds(rec);
      auto out = read_floats(ctx, t);
      bool ok = out.front() == 0.5f && out.back() == 0.5f && out[out.size() / 2] == 0.5f;
      all_ok = all_ok && ok;
      fmt::print("{:<16} {:8.1f} GB/s  {}\n", fmt::format("fill {}", dtype_name(dt)),
                 double(t.bytes()) * repeats / seconds * 1e-9, ok ? "ok" : "WRONG");
    }
    return all_ok ? 0 : 1;
  } catch (const std::exception& e) {
    fmt::print(stderr, "bench/copy: {}\n", e.what());
    return 1;
  }
}
