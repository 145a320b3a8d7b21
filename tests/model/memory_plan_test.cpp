// The memory plan against the allocator: a small model is built, trained one step (two
// micro-batches) and evaluated once on a fresh device context, and the allocator's peak must lie
// within 10% of plan.total() — LoRA (bf16, with dropout) and full fine-tuning (f32, Qwen2's
// biases), each with and without recompute, and a qwen3_moe model's experts either way. (On lavapipe the two have matched to the byte.) With
// LoRA dropout, recompute may cost more than it saves: the replayed forward keeps its own
// dropout(x) per adapted call, so activations_recompute is not always below activations. Also the advice's inputs: the budget is positive
// and recompute is chosen only when the plan does not fit without it.
#include <gtest/gtest.h>

#include <fmt/format.h>

#include <functional>
#include <random>

#include "base/error.hpp"
#include "cli/plan.hpp"
#include "model/expert_tensors.hpp"
#include "model/memory_plan.hpp"
#include "model/tiny_models.hpp"
#include "ops/attention.hpp"
#include "ops/column_sum.hpp"
#include "ops/lora.hpp"
#include "ops/moe.hpp"
#include "ops/rmsnorm.hpp"
#include "train/step.hpp"
#include "train/training_plan.hpp"
#include "vk/context.hpp"

namespace vktrain {
namespace {

// Large enough that activations and scratch outweigh the allocator's 256-byte rounding, and that
// N = 128 tokens take several column-sum chunks.
// qwen3_moe: layers 0 and 2 of 8 experts (2 per token) with the routers' loss, layer 1 dense.
io::ModelConfig plan_config(const std::string& family) {
  const bool moe = family == "qwen3_moe";
  return io::parse_model_config(fmt::format(R"({{"architectures": ["{}"], "model_type": "{}",
      "vocab_size": 500, "hidden_size": 128, "intermediate_size": 224, "num_hidden_layers": 3,
      "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 32,
      "max_position_embeddings": 128, "rms_norm_eps": 1e-6, "rope_theta": 10000.0,
      "tie_word_embeddings": {}{}}})",
      family == "qwen3" ? "Qwen3ForCausalLM" : moe ? "Qwen3MoeForCausalLM" : "Qwen2ForCausalLM",
      family, family == "qwen3" ? "true" : "false",
      moe ? R"(, "num_experts": 8, "num_experts_per_tok": 2, "moe_intermediate_size": 96,
      "mlp_only_layers": [1], "output_router_logits": true)" : ""), "memory plan model");
}

data::HostBatch random_batch(const io::ModelConfig& c, int64_t B, int64_t T, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int32_t> token(0, int32_t(c.vocab_size - 1));
  data::HostBatch b{B, T, {}, {}, {}, {}};
  for (int64_t r = 0; r < B; ++r)
    for (int64_t t = 0; t < T; ++t) {
      b.ids.push_back(token(rng));
      b.positions.push_back(int32_t(t));
    }
  for (size_t i = 0; i < b.ids.size(); ++i)
    b.targets.push_back((i + 1) % size_t(T) == 0 ? -100 : b.ids[i + 1]);
  return b;
}

struct Case {
  const char* family;
  model::ModelSetup setup;
  bool recompute;
};

class MemoryPlanTest : public testing::TestWithParam<Case> {};

TEST_P(MemoryPlanTest, PeakMatchesThePlan) {
  const Case& p = GetParam();
  constexpr int64_t B = 2, T = 64, K = 2;
  const io::ModelConfig config = plan_config(p.family);
  vk::Context ctx;  // its own allocator: a peak no earlier test has raised
  const uint64_t before = ctx.allocator.stats().in_use;
  model::MemoryPlan plan = train::plan_training(config, p.setup, B, T, K, ctx.caps());
  {
    model::Transformer m(ctx, config, p.setup);
    auto specs = model::base_parameters(config);
    for (auto& s : model::lora_parameters(config, p.setup.lora)) specs.push_back(s);
    auto weights = test::random_weights(specs, 5);
    for (const auto& param : m.parameters().all())
      m.parameters().write(param.spec.name, weights.at(param.spec.name));
    train::TrainingStep step(m, {B, T, K, p.recompute}, {});
    auto result = step.run({random_batch(config, B, T, 1), random_batch(config, B, T, 2)}, 1e-3,
                           1, 7);
    EXPECT_TRUE(std::isfinite(result.loss));
    step.evaluator().loss(random_batch(config, B, T, 3));
  }
  const double measured = double(ctx.allocator.stats().peak_in_use - before);
  const double planned = double(plan.total(p.recompute));
  std::printf("%s %s %s recompute %s: planned %.0f bytes, measured peak %.0f (%+.2f%%)\n",
              p.family, p.setup.full ? "full" : "LoRA",
              std::string(dtype_name(p.setup.dtype)).c_str(),
              p.recompute ? "on" : "off", planned, measured, 100 * (planned / measured - 1));
  EXPECT_NEAR(planned / measured, 1.0, 0.10);
  EXPECT_GT(model::usable_budget(ctx), 0u);
  EXPECT_FALSE(model::choose_recompute(plan, plan.total(false)));
  EXPECT_TRUE(model::choose_recompute(plan, plan.total(false) - 1));
}

model::ModelSetup lora(const char* targets = "all-linear", float dropout = 0.1f) {
  return {DType::bf16,
          {.rank = 8, .dropout = dropout, .targets = model::parse_lora_targets(targets)}, false};
}

model::ModelSetup full() { return {DType::f32, {}, true}; }

// LoRA on a quantized MoE base: Q8_0 experts, read by slabs into the recordings' workspace.
model::ModelSetup quantized_experts() {
  model::ModelSetup setup = lora("all-linear,experts", 0);
  for (const auto& spec : model::base_parameters(plan_config("qwen3_moe")))
    if (model::is_expert_matrix(spec.name)) setup.quantized[spec.name] = DType::q8_0;
  return setup;
}

INSTANTIATE_TEST_SUITE_P(Modes, MemoryPlanTest,
                         testing::Values(Case{"qwen3", lora(), false}, Case{"qwen3", lora(), true},
                                         Case{"qwen2", full(), false}, Case{"qwen2", full(), true},
                                         Case{"qwen3_moe", full(), false},
                                         // With the experts' adapters, without dropout (PEFT
                                         // refuses it on parameter targets).
                                         Case{"qwen3_moe", lora("all-linear,experts", 0), true},
                                         Case{"qwen3_moe", quantized_experts(), false}),
                         [](const auto& info) {
                           return fmt::format("{}_{}{}_{}", info.param.family,
                                              info.param.setup.full ? "full" : "lora",
                                              info.param.setup.quantized.empty() ? "" : "_q8_0",
                                              info.param.recompute ? "recompute" : "saved");
                         });

// The scratch sizes the plan asks the ops for are what the ops allocate: each op is recorded on
// a fresh context and the bytes it still holds while its recording lives are its *_scratch_bytes
// (shapes where the reductions take two levels of partial sums).
TEST(OpScratch, EachOpKeepsWhatItDeclares) {
  vk::Context ctx;
  auto tensor = [&](DType type, std::vector<int64_t> shape) {
    return make_tensor(ctx, type, std::move(shape), "op scratch input");
  };
  auto kept = [&](const std::function<void(vk::Recorder&)>& record) {
    const uint64_t before = ctx.allocator.stats().in_use;
    vk::Recorder rec(ctx);
    record(rec);
    return ctx.allocator.stats().in_use - before;
  };
  {  // 16384 rows of 64: 256 chunks of dw partials, whose column sum takes a level of its own
    Tensor x = tensor(DType::f32, {16384, 64}), dy = tensor(DType::f32, {16384, 64}),
           dx = tensor(DType::f32, {16384, 64}), w = tensor(DType::f32, {64}),
           dw = tensor(DType::f32, {64}), rstd = tensor(DType::f32, {16384});
    EXPECT_EQ(kept([&](vk::Recorder& rec) { ops::rmsnorm_backward(rec, dx, &dw, dy, x, w, rstd); }),
              ops::rmsnorm_backward_scratch_bytes(16384, 64));
    EXPECT_GT(ops::rmsnorm_backward_scratch_bytes(16384, 64),
              vk::allocated_bytes(256 * 64 * sizeof(float)));
  }
  {
    Tensor in = tensor(DType::bf16, {5000, 24}), out = tensor(DType::f32, {24});
    EXPECT_EQ(kept([&](vk::Recorder& rec) { ops::column_sum(rec, out, in, false); }),
              ops::column_sum_scratch_bytes(5000, 24));
  }
  {
    constexpr int64_t B = 2, T = 40, Hq = 4, Hkv = 2, D = 32;
    Tensor q = tensor(DType::f32, {B, T, Hq, D}), dq = tensor(DType::f32, {B, T, Hq, D}),
           o = tensor(DType::f32, {B, T, Hq, D}), dout = tensor(DType::f32, {B, T, Hq, D}),
           k = tensor(DType::f32, {B, T, Hkv, D}), v = tensor(DType::f32, {B, T, Hkv, D}),
           dk = tensor(DType::f32, {B, T, Hkv, D}), dv = tensor(DType::f32, {B, T, Hkv, D}),
           lse = tensor(DType::f32, {B, Hq, T});
    EXPECT_EQ(kept([&](vk::Recorder& rec) {
                ops::attention_backward(rec, dq, dk, dv, dout, q, k, v, o, lse, {.scale = 0.2f});
              }),
              ops::attention_backward_scratch_bytes(B * T, Hq));
  }
  {  // The experts' adapters: what a block keeps with them beyond what it keeps without.
    constexpr int64_t T = 30, C = 16, F = 8, E = 4, R = 3;
    const ops::MoeBlockShape shape{T, C, F, E, 2};
    auto scratch = ops::make_moe_scratch(ctx, shape, DType::bf16, true);
    Tensor x = tensor(DType::bf16, {T, C}), y = tensor(DType::bf16, {T, C}),
           dx = tensor(DType::bf16, {T, C}), router = tensor(DType::bf16, {E, C}),
           gate_up = tensor(DType::bf16, {E, 2 * F, C}), down = tensor(DType::bf16, {E, C, F}),
           a_gate_up = tensor(DType::bf16, {E, R, C}), b_gate_up = tensor(DType::bf16, {E, 2 * F, R}),
           a_down = tensor(DType::bf16, {E, R, F}), b_down = tensor(DType::bf16, {E, C, R}),
           da_gate_up = tensor(DType::f32, {E, R, C}), db_gate_up = tensor(DType::f32, {E, 2 * F, R}),
           da_down = tensor(DType::f32, {E, R, F}), db_down = tensor(DType::f32, {E, C, R});
    ops::MoeBlockWeights plain{&router, nullptr, &gate_up, &down}, adapted = plain;
    adapted.gate_up_lora = {&a_gate_up, &b_gate_up, 2.0f};
    adapted.down_lora = {&a_down, &b_down, 2.0f};
    ops::MoeBlockGradients grads;
    grads.gate_up_lora = {&da_gate_up, &db_gate_up};
    grads.down_lora = {&da_down, &db_down};
    for (bool backward : {false, true}) {
      auto block = [&](const ops::MoeBlockWeights& w) {
        return kept([&](vk::Recorder& rec) {
          if (backward)
            ops::moe_backward(rec, dx, grads, scratch, y, x, w, shape, {});
          else
            ops::moe_forward(rec, y, scratch, x, w, shape, {});
        });
      };
      EXPECT_EQ(block(adapted) - block(plain),
                ops::moe_lora_scratch_bytes(shape, DType::bf16, R, R, backward));
    }
  }
  constexpr int64_t N = 70, I = 48, O = 40, R = 6;
  Tensor x = tensor(DType::bf16, {N, I}), y = tensor(DType::bf16, {N, O}),
         dx = tensor(DType::bf16, {N, I}), weight = tensor(DType::bf16, {O, I}),
         a = tensor(DType::bf16, {R, I}), b = tensor(DType::bf16, {O, R}),
         da = tensor(DType::f32, {R, I}), db = tensor(DType::f32, {O, R}),
         hidden = tensor(DType::bf16, {N, R}), seed = tensor(DType::i32, {1});
  const ops::Linear layer{weight, nullptr, &a, &b};
  for (bool dropout : {false, true}) {
    SCOPED_TRACE(dropout);
    const ops::LoraSettings settings{2.0f, {dropout ? 0.1f : 0.0f, 3, &seed}};
    for (bool saves : {false, true})
      EXPECT_EQ(kept([&](vk::Recorder& rec) {
                  ops::linear_forward(rec, y, saves ? &hidden : nullptr, x, layer, settings);
                }),
                ops::linear_forward_scratch_bytes(DType::bf16, N, I, R, saves, dropout));
    for (bool has : {false, true})
      EXPECT_EQ(kept([&](vk::Recorder& rec) {
                  ops::linear_backward(rec, {.x = &dx, .lora_a = &da, .lora_b = &db}, y, x,
                                       has ? &hidden : nullptr, layer, settings);
                }),
                ops::linear_backward_scratch_bytes(DType::bf16, N, I, R, has, dropout));
  }
}

// The advice `vktrain train` shows before allocating: recompute only when needed, and one error
// naming what to try when nothing fits.
TEST(PlanAdvice, ChoosesRecomputeAndExplainsWhatDoesNotFit) {
  constexpr uint64_t GiB = 1ull << 30;
  model::MemoryPlan plan;
  plan.weights = 2 * GiB;
  plan.master = plan.gradients = 4 * GiB;
  plan.optimizer = 8 * GiB;
  plan.activations = 6 * GiB;
  plan.activations_recompute = 1 * GiB;
  plan.workspace = 1 * GiB;
  const model::ModelSetup setup = full();
  using cli::Recompute;
  EXPECT_FALSE(cli::require_fits(plan, 25 * GiB, setup, Recompute::automatic));
  EXPECT_TRUE(cli::require_fits(plan, 20 * GiB, setup, Recompute::automatic));
  EXPECT_TRUE(cli::require_fits(plan, 25 * GiB, setup, Recompute::on));
  EXPECT_NE(cli::plan_advice(plan, 20 * GiB, setup, Recompute::automatic)
                .find("fits only with recompute"),
            std::string::npos);
  EXPECT_NE(cli::plan_advice(plan, 20 * GiB, setup, Recompute::off).find("--grad-checkpoint on"),
            std::string::npos);
  try {
    cli::require_fits(plan, 10 * GiB, setup, Recompute::automatic);
    FAIL() << "a plan of 20 GiB fits 10 GiB";
  } catch (const Error& e) {
    std::string message = e.what();
    EXPECT_EQ(message.find('\n'), std::string::npos);
    for (const char* part : {"[plan] the run does not fit", "LoRA instead of --full",
                             "--dtype bf16 or f16",
                             "a smaller model (its weights and training state alone take 18.00"})
      EXPECT_NE(message.find(part), std::string::npos) << part << " not in: " << message;
    // The weights and their training state alone overflow: smaller batches cannot help.
    EXPECT_EQ(message.find("--batch"), std::string::npos) << message;
    EXPECT_EQ(message.find("--seq-len"), std::string::npos) << message;
  }
}

// Where the weights fit, the advice shrinks what can shrink: the batch, or at one row the length.
TEST(PlanAdvice, OffersASmallerBatchOnlyAboveOneRow) {
  constexpr uint64_t GiB = 1ull << 30;
  model::MemoryPlan plan;
  plan.weights = 2 * GiB;
  plan.activations = 12 * GiB;
  plan.activations_recompute = 6 * GiB;
  plan.workspace = 1 * GiB;
  model::ModelSetup setup;
  setup.dtype = DType::bf16;
  plan.batch = 8;
  std::string advice = cli::plan_advice(plan, 4 * GiB, setup, cli::Recompute::automatic);
  EXPECT_NE(advice.find("try a smaller --batch or --seq-len, with --grad-accum"), std::string::npos)
      << advice;
  EXPECT_EQ(advice.find("--dtype"), std::string::npos) << advice;  // bf16 already
  EXPECT_EQ(advice.find("LoRA instead"), std::string::npos) << advice;
  plan.batch = 1;
  advice = cli::plan_advice(plan, 4 * GiB, setup, cli::Recompute::automatic);
  EXPECT_EQ(advice.find("--batch or"), std::string::npos) << advice;
  EXPECT_NE(advice.find("try a shorter --seq-len (activations and workspace take 7.00 GiB at "
                        "--batch 1); or a smaller model"),
            std::string::npos)
      << advice;
}

}  // namespace
}  // namespace vktrain
