#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "ops/moe.hpp"
#include "ops/moe_aux.hpp"
#include "reference/moe.hpp"
#include "support/support.hpp"

using namespace vktrain;
using ops::GradientStore;
using ops::MoeRouting;

namespace {

struct Case {
  const char* name;
  MoeRouting routing;
  bool bias;        // gpt-oss's router bias
  bool all_to_one;  // the bias favours expert 2 so much that every token takes it first
  DType dtype;
  float aux_coefficient = 0.0f;  // the load-balancing loss of this one layer too
  bool gpt_oss_experts = false;  // expert biases and the clamped SwiGLU
  size_t lora_rank = 0;          // LoRA on gate_up and down (PEFT's target_parameters)
  // Routing edge cases: router rows 1 and 3 (and their biases) equal, so every token's logits
  // tie there; an expert whose bias of -50 keeps every token away; k experts per token.
  bool tied = false;
  int starved = -1;
  size_t k = 2;
};

void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

reference::MoeBlock make_block(const Case& c) {
  reference::MoeBlock b{37, 24, 20, 5, c.k, {c.routing, true}, ops::GluActivation::silu,
                        {}, {}, {}, {}};
  b.router_weight = test::random_values(b.E * b.C, 91, c.dtype);
  if (c.tied) std::copy_n(&b.router_weight[1 * b.C], b.C, &b.router_weight[3 * b.C]);
  b.gate_up = test::random_values(b.E * 2 * b.F * b.C, 92, c.dtype, 0.5f);
  b.down = test::random_values(b.E * b.C * b.F, 93, c.dtype, 0.5f);
  if (c.bias) {
    b.router_bias = test::random_values(b.E, 94);
    if (c.all_to_one) b.router_bias[2] = 50.0f;
    if (c.starved >= 0) b.router_bias[size_t(c.starved)] = -50.0f;
    if (c.tied) b.router_bias[3] = b.router_bias[1];
  }
  b.aux_coefficient = c.aux_coefficient;
  if (c.gpt_oss_experts) {
    // Biases of +-9 on some columns push gates past the clamp's limit (7) and ups outside it.
    b.clamped_swiglu = true;
    b.gate_up_bias = test::random_values(b.E * 2 * b.F, 105);
    for (size_t i = 0; i < b.gate_up_bias.size(); i += 5) b.gate_up_bias[i] *= 9.0f;
    b.down_bias = test::random_values(b.E * b.C, 106);
  }
  if (size_t r = c.lora_rank) {
    b.gate_up_lora = {r, 1.5, test::random_values(b.E * r * b.C, 107, c.dtype, 0.5f),
                      test::random_values(2 * b.F * r * b.E, 108, c.dtype, 0.5f)};
    b.down_lora = {r, 1.5, test::random_values(b.E * r * b.F, 109, c.dtype, 0.5f),
                   test::random_values(b.C * r * b.E, 110, c.dtype, 0.5f)};
  }
  return b;
}

// The block on the device: weights, gradients and scratch, forward and backward recorded once.
struct DeviceBlock {
  ops::MoeBlockShape shape;
  Tensor x, y, dy, dx, router, bias, gate_up, down, drouter, dbias, dgate_up, ddown, aux_stats;
  Tensor gate_up_bias, down_bias, dgate_up_bias, ddown_bias;
  // The experts' adapters (ops/moe_lora.hpp layouts) and their gradients.
  Tensor gate_up_a, gate_up_b, down_a, down_b, dgate_up_a, dgate_up_b, ddown_a, ddown_b;
  ops::MoeScratch scratch;
  vk::Recorder forward, backward;

  DeviceBlock(const reference::MoeBlock& b, DType dt)
      : shape{b.T, b.C, b.F, b.E, b.k},
        scratch(ops::make_moe_scratch(test::context(), shape, dt, true)),
        forward(test::context()),
        backward(test::context()) {
    auto& ctx = test::context();
    int64_t T = int64_t(b.T), C = int64_t(b.C), F = int64_t(b.F), E = int64_t(b.E);
    x = make_tensor(ctx, dt, {T, C}, "x");
    y = make_tensor(ctx, dt, {T, C}, "y");
    dy = make_tensor(ctx, dt, {T, C}, "dy");
    dx = make_tensor(ctx, dt, {T, C}, "dx");
    router = test::tensor_with({E, C}, dt, b.router_weight, "router", ctx);
    gate_up = test::tensor_with({E, 2 * F, C}, dt, b.gate_up, "gate_up", ctx);
    down = test::tensor_with({E, C, F}, dt, b.down, "down", ctx);
    drouter = make_tensor(ctx, DType::f32, {E, C}, "drouter");
    dbias = make_tensor(ctx, DType::f32, {E}, "dbias");
    dgate_up = make_tensor(ctx, DType::f32, {E, 2 * F, C}, "dgate_up");
    ddown = make_tensor(ctx, DType::f32, {E, C, F}, "ddown");
    ops::MoeBlockWeights w{&router, nullptr, &gate_up, &down};
    if (!b.router_bias.empty()) {
      bias = test::tensor_with({E}, DType::f32, b.router_bias, "bias", ctx);
      w.router_bias = &bias;
    }
    if (!b.gate_up_bias.empty()) {
      gate_up_bias = test::tensor_with({E, 2 * F}, DType::f32, b.gate_up_bias, "gate_up_bias", ctx);
      down_bias = test::tensor_with({E, C}, DType::f32, b.down_bias, "down_bias", ctx);
      dgate_up_bias = make_tensor(ctx, DType::f32, {E, 2 * F}, "dgate_up_bias");
      ddown_bias = make_tensor(ctx, DType::f32, {E, C}, "ddown_bias");
      w.gate_up_bias = &gate_up_bias;
      w.down_bias = &down_bias;
    }
    ops::MoeBlockGradients grads{&drouter, w.router_bias ? &dbias : nullptr, &dgate_up, &ddown};
    if (size_t r = b.gate_up_lora.rank) {
      auto adapter = [&](Tensor& a, Tensor& bt, Tensor& da, Tensor& db, const reference::ExpertLora& l,
                         int64_t out, int64_t in, const char* name) -> ops::MoeExpertLora {
        int64_t R = int64_t(r);
        a = test::tensor_with({E, R, in}, dt, l.a, name, ctx);
        bt = test::tensor_with({E, out, R}, dt,
                               ops::moe_lora_b_from_peft(l.b, uint64_t(E), uint64_t(out), r),
                               name, ctx);
        da = make_tensor(ctx, DType::f32, {E, R, in}, "dA");
        db = make_tensor(ctx, DType::f32, {E, out, R}, "dB");
        return {&a, &bt, float(l.scale)};
      };
      w.gate_up_lora = adapter(gate_up_a, gate_up_b, dgate_up_a, dgate_up_b, b.gate_up_lora,
                               2 * F, C, "gate_up");
      w.down_lora = adapter(down_a, down_b, ddown_a, ddown_b, b.down_lora, C, F, "down");
      grads.gate_up_lora = {&dgate_up_a, &dgate_up_b};
      grads.down_lora = {&ddown_a, &ddown_b};
    }
    ops::MoeBlockOptions options{b.router, b.activation, b.clamped_swiglu};
    ops::MoeAux aux;
    if (b.aux_coefficient != 0.0) {
      aux_stats = make_tensor(ctx, DType::f32, {2, E + 1}, "aux_stats");
      aux = {&aux_stats, true, float(b.aux_coefficient)};
    }
    ops::moe_forward(forward, y, scratch, x, w, shape, options, aux);
    if (w.gate_up_bias) {
      grads.gate_up_bias = &dgate_up_bias;
      grads.down_bias = &ddown_bias;
    }
    ops::moe_backward(backward, dx, grads, scratch, dy, x, w, shape, options, aux,
                      GradientStore::add);
  }

  void zero_gradients() {
    for (Tensor* g : {&drouter, &dbias, &dgate_up, &ddown, &dgate_up_bias, &ddown_bias,
                      &dgate_up_a, &dgate_up_b, &ddown_a, &ddown_b})
      if (!g->shape.empty()) write_floats(test::context(), *g, std::vector<float>(g->numel(), 0.0f));
  }

  std::vector<float> run_forward(const std::vector<float>& xv) {
    write_floats(test::context(), x, xv);
    forward.run();
    return read_floats(test::context(), y);
  }
};

const Case kCases[] = {
    {"qwen3_moe_f32", MoeRouting::softmax_topk, false, false, DType::f32},
    {"gpt_oss_f32", MoeRouting::topk_softmax, true, false, DType::f32},
    // Its weights are then (1, e^-50): the router's gradient vanishes, the experts' does not.
    {"gpt_oss_every_token_to_one_expert_f32", MoeRouting::topk_softmax, true, true, DType::f32},
    {"qwen3_moe_bf16", MoeRouting::softmax_topk, false, false, DType::bf16},
    {"mixtral_aux_loss_f32", MoeRouting::softmax_topk, false, false, DType::f32, 0.5f},
    {"gpt_oss_expert_biases_clamped_swiglu_f32", MoeRouting::topk_softmax, true, false, DType::f32,
     0.0f, true},
    // PEFT's target_parameters on gate_up and down, rank 3 (odd: no tile divides it).
    {"qwen3_moe_expert_lora_f32", MoeRouting::softmax_topk, false, false, DType::f32, 0.0f, false,
     3},
    {"qwen3_moe_expert_lora_bf16", MoeRouting::softmax_topk, false, false, DType::bf16, 0.0f,
     false, 3},
    // Routing's edge cases, the load-balancing loss on each (a router bias on Qwen3-MoE's
    // softmax routing where one is needed to force the choice).
    {.name = "qwen3_moe_tied_logits_f32", .routing = MoeRouting::softmax_topk, .dtype = DType::f32,
     .aux_coefficient = 0.5f, .tied = true},
    {.name = "gpt_oss_tied_logits_f32", .routing = MoeRouting::topk_softmax, .bias = true,
     .dtype = DType::f32, .aux_coefficient = 0.5f, .tied = true},
    {.name = "qwen3_moe_expert_without_tokens_f32", .routing = MoeRouting::softmax_topk,
     .bias = true, .dtype = DType::f32, .aux_coefficient = 0.5f, .starved = 3},
    {.name = "qwen3_moe_every_token_to_one_expert_f32", .routing = MoeRouting::softmax_topk,
     .bias = true, .all_to_one = true, .dtype = DType::f32, .aux_coefficient = 0.5f},
    {.name = "qwen3_moe_k_is_e_f32", .routing = MoeRouting::softmax_topk, .dtype = DType::f32,
     .aux_coefficient = 0.5f, .k = 5},
    {.name = "gpt_oss_k_is_e_f32", .routing = MoeRouting::topk_softmax, .bias = true,
     .dtype = DType::f32, .aux_coefficient = 0.5f, .gpt_oss_experts = true, .k = 5},
};

}  // namespace

class MoeBlockCases : public testing::TestWithParam<Case> {};

// y, dx (added into a random start) and every parameter gradient (added into zeros) against the
// reference's experts loop.
TEST_P(MoeBlockCases, ForwardAndBackwardMatchTheReference) {
  const Case& c = GetParam();
  auto& ctx = test::context();
  auto b = make_block(c);
  DeviceBlock block(b, c.dtype);
  auto x = test::random_values(b.T * b.C, 95, c.dtype);
  auto dy = test::random_values(b.T * b.C, 96, c.dtype);
  auto start = test::random_values(b.T * b.C, 97, c.dtype);
  auto y = block.run_forward(x);
  write_floats(ctx, block.dy, dy);
  write_floats(ctx, block.dx, start);
  block.zero_gradients();
  block.backward.run();
  // The choices are the reference's, ties to the lower expert included.
  const auto ids = read_ints(ctx, block.scratch[ops::MoeScratchSlot::ids]);
  const auto routing = reference::moe_router_forward(reference::moe_block_logits(b, x), b.T, b.E,
                                                     b.k, b.router);
  EXPECT_EQ(ids, routing.ids);
  for (size_t t = 0; t < b.T; ++t) {
    if (c.all_to_one) EXPECT_EQ(ids[t * b.k], 2) << t;
    for (size_t j = 0; j < b.k; ++j) EXPECT_NE(ids[t * b.k + j], c.starved) << t;
  }
  if (c.tied) {  // expert 3 ties with 1 and loses: it comes only after 1, never alone
    const auto logits = read_floats(ctx, block.scratch[ops::MoeScratchSlot::logits]);
    size_t split = 0;  // tokens whose last slot went to 1 over 3
    for (size_t t = 0; t < b.T; ++t) {
      ASSERT_EQ(logits[t * b.E + 1], logits[t * b.E + 3]) << t;
      const int32_t* row = &ids[t * b.k];
      const auto one = std::find(row, row + b.k, 1), three = std::find(row, row + b.k, 3);
      if (three != row + b.k) EXPECT_LT(one, three) << t;
      split += one != row + b.k && three == row + b.k;
    }
    EXPECT_GT(split, 0u);
  }
  auto want = reference::moe_block_backward(b, x, dy);
  for (size_t i = 0; i < start.size(); ++i) want.dx[i] += start[i];
  // f32: sums of ~50 terms; bf16: activations stored in bf16 between the steps (xe, gate, up,
  // h, ye and their gradients), each a relative 2^-8.
  double tolerance = c.dtype == DType::f32 ? 1e-5 : 3e-2;
  EXPECT_LT(test::relative_error(y, reference::moe_block_forward(b, x)), tolerance);
  EXPECT_LT(test::relative_error(read_floats(ctx, block.dx), want.dx), tolerance);
  EXPECT_LT(test::relative_error(read_floats(ctx, block.drouter), want.router), tolerance);
  EXPECT_LT(test::relative_error(read_floats(ctx, block.dgate_up), want.gate_up), tolerance);
  EXPECT_LT(test::relative_error(read_floats(ctx, block.ddown), want.down), tolerance);
  if (c.bias) {
    EXPECT_LT(test::relative_error(read_floats(ctx, block.dbias), want.router_bias), tolerance);
  }
  if (c.gpt_oss_experts) {
    EXPECT_LT(test::relative_error(read_floats(ctx, block.dgate_up_bias), want.gate_up_bias),
              tolerance);
    EXPECT_LT(test::relative_error(read_floats(ctx, block.ddown_bias), want.down_bias), tolerance);
  }
  if (size_t r = c.lora_rank) {
    // B's gradient back in PEFT's layout: the reference's merged-weight chain rule is in it.
    auto peft_b = [&](const Tensor& db) {
      return ops::moe_lora_b_to_peft(read_floats(ctx, db), b.E, uint64_t(db.shape[1]), r);
    };
    EXPECT_LT(test::relative_error(read_floats(ctx, block.dgate_up_a), want.gate_up_lora_a),
              tolerance);
    EXPECT_LT(test::relative_error(peft_b(block.dgate_up_b), want.gate_up_lora_b), tolerance);
    EXPECT_LT(test::relative_error(read_floats(ctx, block.ddown_a), want.down_lora_a), tolerance);
    EXPECT_LT(test::relative_error(peft_b(block.ddown_b), want.down_lora_b), tolerance);
  }
}

INSTANTIATE_TEST_SUITE_P(Families, MoeBlockCases, testing::ValuesIn(kCases),
                         [](const auto& info) { return std::string(info.param.name); });

class MoeBlockGradient : public testing::TestWithParam<Case> {};

// dx and the parameters' gradients against central differences of L = sum(y * r) through the
// device forward. A step that changes a token's experts has no derivative there: such indices
// are skipped (the ids are compared after each step).
TEST_P(MoeBlockGradient, MatchesFiniteDifferences) {
  auto& ctx = test::context();
  const Case& c = GetParam();
  auto b = make_block(c);
  DeviceBlock block(b, DType::f32);
  auto x = test::random_values(b.T * b.C, 98);
  auto r = test::random_values(b.T * b.C, 99);
  block.run_forward(x);
  const Tensor& ids = block.scratch[ops::MoeScratchSlot::ids];
  auto base_ids = read_ints(ctx, ids);
  write_floats(ctx, block.dy, r);
  write_floats(ctx, block.dx, std::vector<float>(x.size(), 0.0f));
  block.zero_gradients();
  block.backward.run();
  bool flipped = false;
  size_t checked = 0;
  auto check = [&](std::vector<float>& values, Tensor& param, const Tensor& grad, uint32_t seed) {
    auto grads = read_floats(ctx, grad);
    for (size_t i : test::sample_indices(values.size(), 4, seed)) {
      flipped = false;
      auto loss = [&] {
        write_floats(ctx, param, values);
        double l = test::dot(block.run_forward(x), r);
        flipped |= read_ints(ctx, ids) != base_ids;
        return l;
      };
      double fd = test::central_difference(values, i, 1e-3f, loss);
      write_floats(ctx, param, values);
      if (flipped) continue;
      ++checked;
      // L ~ 10 in f32 over 2 eps = 2e-3: rounding ~1e-3 at most.
      EXPECT_NEAR(fd, grads[i], 3e-3 * (1.0 + std::fabs(grads[i]))) << param.name << " " << i;
    }
  };
  size_t checks = 4;
  check(x, block.x, block.dx, 103);
  if (!c.lora_rank) {  // the adapted case checks its adapters; the base is checked above
    check(b.gate_up, block.gate_up, block.dgate_up, 100);
    check(b.down, block.down, block.ddown, 101);
    check(b.router_weight, block.router, block.drouter, 102);
    checks += 12;
  }
  if (c.gpt_oss_experts) {
    check(b.router_bias, block.bias, block.dbias, 104);
    check(b.gate_up_bias, block.gate_up_bias, block.dgate_up_bias, 105);
    check(b.down_bias, block.down_bias, block.ddown_bias, 106);
    checks += 12;
  }
  if (size_t r = c.lora_rank) {
    auto ours = [&](const reference::ExpertLora& l, const Tensor& t) {
      return ops::moe_lora_b_from_peft(l.b, b.E, uint64_t(t.shape[1]), r);
    };
    auto gate_up_b = ours(b.gate_up_lora, block.gate_up_b), down_b = ours(b.down_lora, block.down_b);
    check(b.gate_up_lora.a, block.gate_up_a, block.dgate_up_a, 107);
    check(gate_up_b, block.gate_up_b, block.dgate_up_b, 108);
    check(b.down_lora.a, block.down_a, block.ddown_a, 109);
    check(down_b, block.down_b, block.ddown_b, 110);
    checks += 16;
  }
  EXPECT_GE(checked, checks - 3);  // flips are rare at eps 1e-3
}

INSTANTIATE_TEST_SUITE_P(
    Families, MoeBlockGradient,
    testing::Values(Case{"qwen3_moe", MoeRouting::softmax_topk, false, false, DType::f32},
                    Case{"gpt_oss", MoeRouting::topk_softmax, true, false, DType::f32, 0.0f, true},
                    Case{"qwen3_moe_expert_lora", MoeRouting::softmax_topk, false, false,
                         DType::f32, 0.0f, false, 3}),
    [](const auto& info) { return std::string(info.param.name); });

// Forward and backward twice from the same inputs (the gradients zeroed in between): every
// output and gradient has the same bits, routing, grouping and the aux loss's share included.
TEST(MoeBlock, SameBitsOnEveryRun) {
  auto& ctx = test::context();
  Case c{"determinism", MoeRouting::softmax_topk, false, false, DType::bf16, 0.5f};
  auto b = make_block(c);
  DeviceBlock block(b, c.dtype);
  auto x = test::random_values(b.T * b.C, 110, c.dtype);
  write_floats(ctx, block.dy, test::random_values(b.T * b.C, 111, c.dtype));
  std::vector<std::vector<float>> first;
  for (int run = 0; run < 2; ++run) {
    std::vector<std::vector<float>> outputs{block.run_forward(x)};
    write_floats(ctx, block.dx, std::vector<float>(x.size(), 0.0f));
    for (Tensor* g : {&block.drouter, &block.dgate_up, &block.ddown})
      write_floats(ctx, *g, std::vector<float>(g->numel(), 0.0f));
    block.backward.run();
    for (const Tensor* t : {&block.dx, &block.drouter, &block.dgate_up, &block.ddown,
                            &block.scratch[ops::MoeScratchSlot::dlogits]})
      outputs.push_back(read_floats(ctx, *t));
    if (run == 0)
      first = outputs;
    else
      for (size_t i = 0; i < outputs.size(); ++i) EXPECT_EQ(outputs[i], first[i]) << i;
  }
}

TEST(MoeBlock, ScratchBytesCountWhatIsAllocated) {
  ops::MoeBlockShape shape{37, 24, 20, 5, 2};
  auto scratch = ops::make_moe_scratch(test::context(), shape, DType::bf16, true);
  uint64_t bytes = 0;
  for (const Tensor& t : scratch.tensors) bytes += t.bytes();
  EXPECT_EQ(ops::moe_scratch_bytes(shape, DType::bf16, true), bytes);
  EXPECT_LT(ops::moe_scratch_bytes(shape, DType::bf16, false), bytes);
}
