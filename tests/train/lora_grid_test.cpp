// The first training step's LoRA gradients against the CPU reference model over a grid of batch
// shapes: B x T with 1 x T, packing on and off, micro-batches, f32 / f16 / bf16, recompute, and
// rows whose only trained tokens sit late in the row. The vocabulary has a real tokenizer's size
// (32000): the head's input gradient is then a product over K = V, which lavapipe's loop limiter
// (vk::Capabilities::loop_limit) once cut short without an error, so that no gradient reached
// the layers and LoRA trained nothing (issue 14). Tiny vocabularies never showed it.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <random>

#include "model/tiny_models.hpp"
#include "reference/model.hpp"
#include "support/support.hpp"
#include "train/step.hpp"

namespace vktrain {
namespace {

constexpr int32_t kIgnored = -100;

struct GridCase {
  int64_t batch, time, micro_batches;
  bool packing;
  DType dtype;
  bool recompute = false;
};

std::string grid_name(const testing::TestParamInfo<GridCase>& info) {
  const GridCase& c = info.param;
  return fmt::format("B{}_T{}_K{}_{}_{}{}", c.batch, c.time, c.micro_batches,
                     c.packing ? "packed" : "padded", dtype_name(c.dtype),
                     c.recompute ? "_recompute" : "");
}

io::ModelConfig grid_config() {
  io::ModelConfig config = test::tiny_config("qwen3");
  config.vocab_size = 32000;
  config.max_position_embeddings = 512;
  return config;
}

// One document [start, end) of row `row`: a prompt (ignored) and a completion (trained) of
// `trained` tokens that ends one before `end` (the last target of a document is ignored).
void add_document(data::HostBatch& b, int64_t row, int64_t start, int64_t end, int64_t trained,
                  int32_t doc) {
  for (int64_t t = start; t < end; ++t) {
    size_t i = size_t(row * b.time + t);
    b.positions[i] = int32_t(t - start);
    b.documents[i] = doc;
    if (t + 1 < end && t >= end - 1 - trained) b.targets[i] = b.ids[i + 1];
  }
}

// Micro-batch `k` of a case. Padded: one example a row of a random length, its completion at the
// end, padding after it; the first row of micro-batch 0 trains one token only, the row's last
// real one. Packed: rows of two or three documents, positions restarting at each.
data::HostBatch grid_batch(const io::ModelConfig& config, const GridCase& c, int64_t k) {
  data::HostBatch b;
  b.batch = c.batch;
  b.time = c.time;
  std::mt19937 rng(uint32_t(100 + 7 * k + c.batch * 13 + c.time));
  std::uniform_int_distribution<int32_t> token(1, int32_t(config.vocab_size) - 1);
  const size_t n = size_t(b.batch * b.time);
  b.ids.resize(n);
  for (auto& id : b.ids) id = token(rng);
  b.targets.assign(n, kIgnored);
  b.positions.assign(n, 0);
  b.documents.assign(n, 0);
  for (int64_t r = 0; r < b.batch; ++r) {
    if (c.packing) {
      int64_t cut = b.time / 3 + int64_t(rng() % uint32_t(b.time / 3));
      add_document(b, r, 0, cut, cut / 2, 0);
      add_document(b, r, cut, b.time, (b.time - cut) / 3, 1);
      continue;
    }
    int64_t length = b.time / 2 + int64_t(rng() % uint32_t(b.time / 2));
    bool single = k == 0 && r == 0;
    add_document(b, r, 0, length, single ? 1 : length / 4, 0);
    for (int64_t t = length; t < b.time; ++t) {  // padding: its own positions, never trained
      size_t i = size_t(r * b.time + t);
      b.ids[i] = 0;
      b.positions[i] = int32_t(t);
    }
  }
  return b;
}

// The micro-batches side by side as one batch of K x B rows: the step's gradient is the sum over
// micro-batches of each one's, all scaled by one count, which is the gradient of this batch.
reference::ModelBatch concatenated(const std::vector<data::HostBatch>& micro) {
  reference::ModelBatch all{0, micro[0].time, {}, {}, {}, {}};
  for (const auto& b : micro) {
    all.batch += b.batch;
    all.ids.insert(all.ids.end(), b.ids.begin(), b.ids.end());
    all.targets.insert(all.targets.end(), b.targets.begin(), b.targets.end());
    all.positions.insert(all.positions.end(), b.positions.begin(), b.positions.end());
    all.documents.insert(all.documents.end(), b.documents.begin(), b.documents.end());
  }
  return all;
}

class LoraGrid : public testing::TestWithParam<GridCase> {};

TEST_P(LoraGrid, FirstStepGradientsMatchTheReference) {
  const GridCase& c = GetParam();
  const io::ModelConfig config = grid_config();
  model::ModelSetup setup;
  setup.dtype = c.dtype;
  setup.lora = {.rank = 4, .alpha = 8, .targets = model::parse_lora_targets("all-linear")};
  auto m = test::random_model(config, setup, 5);
  std::vector<data::HostBatch> micro;
  for (int64_t k = 0; k < c.micro_batches; ++k) micro.push_back(grid_batch(config, c, k));

  auto specs = model::base_parameters(config);
  for (auto& s : model::lora_parameters(config, setup.lora)) specs.push_back(s);
  reference::ModelResult want = reference::model_reference(
      config, test::random_weights(specs, 5), concatenated(micro), setup.lora.scale());

  train::TrainingStep step(*m, {c.batch, c.time, c.micro_batches, c.recompute}, {});
  train::StepResult got = step.run(micro, 1e-3, 1, 0);
  // f32 agrees to the reference's rounding (as tests/model/transformer_test.cpp); 16-bit weights
  // and activations round once per op, so a few percent there (bf16 keeps 8 bits).
  const bool exact = c.dtype == DType::f32;
  EXPECT_NEAR(got.loss, want.loss, (exact ? 1e-5 : 2e-2) * want.loss);
  EXPECT_GT(got.grad_norm, 0.0);
  int adapters = 0;
  for (const auto& p : m->parameters().all()) {
    if (!p.trainable) continue;
    ++adapters;
    std::vector<float> grad = read_floats(m->context(), m->parameters().grad(p.spec.name));
    EXPECT_LT(test::relative_error(grad, want.grads.at(p.spec.name)), exact ? 1e-4 : 1e-1)
        << p.spec.name;
  }
  EXPECT_EQ(adapters, 2 * 7 * config.num_layers);  // A and B of every linear layer
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, LoraGrid,
    testing::Values(GridCase{1, 64, 1, false, DType::f32}, GridCase{1, 128, 1, false, DType::f32},
                    GridCase{1, 256, 1, true, DType::f32}, GridCase{2, 64, 1, false, DType::bf16},
                    GridCase{2, 128, 2, true, DType::f16}, GridCase{4, 64, 2, false, DType::f32},
                    GridCase{3, 41, 1, true, DType::bf16}, GridCase{1, 64, 1, true, DType::f16},
                    GridCase{2, 64, 1, false, DType::f32, true}),
    grid_name);

}  // namespace
}  // namespace vktrain
