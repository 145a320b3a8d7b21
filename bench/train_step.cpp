// bench/train_step: whole training steps (forward, backward, AdamW; DESIGN.md "Benchmarks") on a
// random-weight model of a preset's shape, by default Qwen3-1.7B with LoRA r 16 (alpha 32) on
// every linear layer at B 8 x T 512. Prints ms per step (median of at least --steps steps and
// 0.5 s after 0.25 s of warm-up steps), tokens/s and the allocator's peak device memory. Steps run as the trainer runs
// them: submit step n, build step n+1's batches (data::Batcher over random sequences) and
// write them into the free input slot, then finish step n; a second line gives the host's time
// per step outside the wait for the device, which the overlap hides when it is shorter than the
// device's step. bench/reference/train_step.py runs the same step in PyTorch + PEFT. On
// lavapipe: --size tiny --batch 2 --seq 64 --steps 2. --quantize MIX: a quantized base (QLoRA).
// --optimizer adamw_8bit: bitsandbytes' 8-bit AdamW (issue 15's 70B target as Unsloth runs it).
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <optional>

#include "base/random.hpp"
#include "cli/measure.hpp"
#include "data/batches.hpp"
#include "io/ggml_dtype.hpp"
#include "io/quant.hpp"
#include "model/init.hpp"
#include "model/presets.hpp"
#include "model/quantized.hpp"
#include "train/step.hpp"
#include "vk/context.hpp"

using namespace vktrain;

namespace {

// Weights drawn once and tiled: timing does not depend on the values, and drawing 2 billion
// normals on one host thread would take longer than the benchmark. A quantized base tiles the
// pool's blocks the same way (quantizing 70 billion values on the host would take hours).
void write_random_weights(model::Parameters& params, const io::ModelConfig& config) {
  std::vector<float> pool = cli::random_floats(size_t(1) << 22, DType::f32, 1);
  for (float& v : pool) v *= 0.05f;
  std::map<DType, std::vector<std::byte>> block_pools;
  size_t offset = 0;
  for (const auto& p : params.all()) {
    if (model::is_lora_parameter(p.spec.name)) continue;
    if (dtype_is_block(p.weight.dtype)) {
      const io::GgmlType type = io::ggml_type_of(p.weight.dtype);
      auto& blocks = block_pools[p.weight.dtype];
      if (blocks.empty()) blocks = io::quantize(pool, type);
      std::vector<std::byte> bytes(p.weight.bytes());
      for (size_t at = 0; at < bytes.size(); at += blocks.size())
        std::copy_n(blocks.begin(), std::min(blocks.size(), bytes.size() - at), bytes.begin() + at);
      params.write_encoded(p.spec.name, bytes, type);
      continue;
    }
    std::vector<float> values(p.weight.numel());
    if (p.spec.matrix()) {
      for (float& v : values) v = pool[offset++ % pool.size()];
    } else {
      std::fill(values.begin(), values.end(), config.norm_plus_one ? 0.0f : 1.0f);
    }
    params.write(p.spec.name, values);
  }
  model::initialize_adapter(params, 3);
}

// Random sequences of T tokens, one to a row, in at least `batches` batches of B x T: every row
// is one causal sequence without padding, the work bench/reference/train_step.py times.
data::Batcher random_sequences(int64_t B, int64_t T, int64_t vocab, int64_t batches) {
  Xoshiro256 rng(5);
  std::vector<data::TokenSequence> examples(size_t(B * batches));
  for (auto& e : examples) {
    e.tokens.resize(size_t(T));
    for (int32_t& t : e.tokens) t = int32_t(rng.next() % uint64_t(vocab));
  }
  return data::Batcher(std::move(examples), {.batch = B, .time = T, .seed = 3});
}

// The FLOPs a step needs, counted as the MFU convention does (no recompute, LoRA products
// negligible): per token, the linear layers' and the head's forward (2 per weight) and input
// gradient (2 more), their weight gradients with full fine-tuning (2 more); attention's scores and
// weighted sum (2 x 2 T D per query head, half of it under the causal mask), 3.5 times that with
// its backward.
double model_flops_per_step(const io::ModelConfig& c, double rows, double T, bool full) {
  double q = double(c.num_heads) * c.head_dim, kv = double(c.num_kv_heads) * c.head_dim;
  double C = double(c.hidden_size), F = double(c.intermediate_size);
  double linear = c.num_layers * (C * q + 2 * C * kv + q * C + 3 * C * F) + C * c.vocab_size;
  double per_token = linear * (full ? 6 : 4);
  double attention = c.num_layers * 3.5 * (2 * 2 * T * c.head_dim * c.num_heads) / 2;
  return rows * T * (per_token + attention);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Whole training steps on a random-weight model of a preset's shape"};
  std::string family = "qwen3", size = "1.7B", dtype_name = "f16", targets = "all-linear";
  int64_t batch = 8, seq = 512, rank = 16, micro = 1;
  int steps = 5;
  bool full = false, recompute = false;
  app.add_option("--family", family);
  app.add_option("--size", size);
  app.add_option("--dtype", dtype_name, "f16 (the cooperative-matrix path), bf16 or f32");
  app.add_option("--batch", batch);
  app.add_option("--seq", seq);
  app.add_option("--rank", rank);
  app.add_option("--targets", targets);
  app.add_option("--grad-accum", micro);
  app.add_option("--steps", steps);
  app.add_flag("--full", full, "full fine-tuning instead of LoRA");
  app.add_flag("--recompute", recompute, "activation checkpointing per layer");
  std::optional<std::string> quantize;
  app.add_option("--quantize", quantize,
                 "a quantized base: q8_0, q6_k, q5_k, q4_k or q4_0, llama-quantize's mixes as "
                 "`vktrain train --quantize` applies them");
  std::string optimizer = "adamw";
  app.add_option("--optimizer", optimizer, "adamw or adamw_8bit (8-bit moments)");
  double peak = 0;
  app.add_option("--peak", peak,
                 "TFLOP/s the model FLOP utilisation is a share of (e.g. torch.matmul bf16 4096^3 "
                 "on the same card, from bench/reference/matmul.py)");
  CLI11_PARSE(app, argc, argv);
  try {
    vk::Context ctx;
    io::ModelConfig config = model::model_preset(family, size);
    model::ModelSetup setup;
    setup.dtype = dtype_from_name(dtype_name);
    setup.full = full;
    if (!full) {
      setup.lora.rank = rank;
      setup.lora.alpha = double(2 * rank);
      setup.lora.targets = model::parse_lora_targets(targets);
    }
    if (quantize) {
      model::QuantizedBase base = model::choose_quantized_base(config, nullptr, quantize, setup.dtype);
      for (const auto& note : base.notes) fmt::print("{}\n", note);
      setup.quantized = base.types;
    }
    model::Transformer m(ctx, config, setup);
    write_random_weights(m.parameters(), config);
    train::TrainingStep step(m, {batch, seq, micro, recompute},
                             {.weight_decay = 0.01, .max_grad_norm = 1.0}, nullptr, false,
                             train::parse_optimizer(optimizer, "--optimizer"));
    // Every step prepares the next one, the last one too: all steps do the same work. The
    // batches repeat after `pool` of them.
    const int64_t pool = micro * (steps + 2);
    data::Batcher data = random_sequences(batch, seq, config.vocab_size, pool);
    int64_t position = 0, step_number = 1;
    auto prepare = [&]() {
      std::vector<data::HostBatch> micro_batches;
      for (int64_t k = 0; k < micro; ++k) micro_batches.push_back(data.batch(0, position++ % pool));
      step.prepare(micro_batches, 1e-4, step_number, int32_t(step_number));
      ++step_number;
    };
    prepare();
    step.submit();
    prepare();
    auto first = step.finish();
    double loss = first.loss;
    // One step: its seconds from submission to results, and those outside the wait for them.
    auto timed_step = [&]() -> std::pair<double, double> {
      auto start = std::chrono::steady_clock::now();
      step.submit();
      prepare();
      train::StepResult result = step.finish();
      loss = result.loss;
      double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      return {took, took - result.wait_seconds};
    };
    // Steady state, as cli::median_seconds: untimed steps for half of kSteadySeconds (clocks
    // rising from idle), then at least --steps steps lasting at least kSteadySeconds in all.
    for (double warm = 0; warm < cli::kSteadySeconds / 2;) warm += timed_step().first;
    std::vector<double> seconds, host_seconds;
    double total = 0;
    while (int(seconds.size()) < steps || total < cli::kSteadySeconds) {
      auto [took, host] = timed_step();
      seconds.push_back(took);
      host_seconds.push_back(host);
      total += took;
    }
    std::sort(host_seconds.begin(), host_seconds.end());
    std::sort(seconds.begin(), seconds.end());
    double flops = model_flops_per_step(config, double(batch * micro), double(seq), full);
    double median = seconds[seconds.size() / 2];
    double tokens = double(batch * seq * micro);
    const auto& memory = ctx.allocator.stats();
    fmt::print("{} {} {} {}, {}, {} B={} T={} x{}{}: {:.1f} ms/step, {:.0f} tokens/s, loss {:.3f} -> "
               "{:.3f}, peak device memory {:.2f} GiB in use ({:.2f} GiB reserved), "
               "{:.1f} M of {:.1f} M parameters train\n",
               ctx.caps().name, family, size,
               (full ? "full" : fmt::format("LoRA r{}", rank)) +
                   (quantize ? fmt::format(" on a {} base", *quantize) : ""),
               optimizer, dtype_name, batch, seq, micro, recompute ? " recompute" : "", median * 1e3,
               tokens / median, first.loss, loss, double(memory.peak_in_use) / (1 << 30),
               double(memory.peak_reserved) / (1 << 30),
               double(m.parameters().trainable_count()) / 1e6,
               double(m.parameters().total_count()) / 1e6);
    double tflops = flops / median * 1e-12;
    fmt::print("model FLOPs {:.2f} T per step: {:.1f} TFLOP/s{}\n", flops * 1e-12, tflops,
               peak > 0 ? fmt::format(", model FLOP utilisation {:.1f}% of {:.1f}", 100 * tflops / peak, peak)
                        : std::string());
    fmt::print("host work per step outside the wait for the device: {:.3f} ms (median: "
               "submitting, building and writing the next step's batches, reading results)\n",
               host_seconds[host_seconds.size() / 2] * 1e3);
  } catch (const std::exception& e) {
    fmt::print(stderr, "{}\n", e.what());
    return 1;
  }
}
