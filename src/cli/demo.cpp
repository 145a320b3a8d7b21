#include "cli/demo.hpp"

#include <fmt/format.h>

#include <filesystem>

#include "base/error.hpp"
#include "cli/demo_task.hpp"
#include "cli/run_setup.hpp"
#include "io/model_config.hpp"
#include "model/init.hpp"
#include "train/batch_upload.hpp"
#include "train/checkpoint_files.hpp"
#include "train/reported_run.hpp"
#include "train/trainer.hpp"
#include "vk/recorder.hpp"

namespace vktrain::cli {

namespace {

constexpr int64_t kBatch = 16, kHeldOut = 64;

io::ModelConfig demo_config() {
  return io::parse_model_config(fmt::format(R"({{"architectures": ["Qwen3ForCausalLM"],
      "model_type": "qwen3", "vocab_size": {}, "hidden_size": 64, "intermediate_size": 128,
      "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 16,
      "max_position_embeddings": 64, "rms_norm_eps": 1e-6, "rope_theta": 10000.0,
      "tie_word_embeddings": true, "bos_token_id": {}, "eos_token_id": {}}})",
                                            DemoTask::kVocab, DemoTask::kBos, DemoTask::kEos),
                                "the demo model");
}

// Greedy answers to every prompt at once: one batch row per prompt, the forward pass replayed
// once per generated token (the prompts are all the same length).
std::vector<std::vector<int32_t>> answers(model::Transformer& m,
                                          const std::vector<std::vector<int32_t>>& prompts) {
  vk::Context& ctx = m.context();
  const int64_t B = int64_t(prompts.size()), T = DemoTask::kLength, V = m.config().vocab_size;
  model::Activations acts(ctx, m.config(), m.setup().dtype, B, T, true, 0);
  model::BatchTensors device = m.make_batch(B, T);
  Tensor logits = make_tensor(ctx, DType::f32, {B * T, V}, "logits");
  vk::Recorder rec(ctx);
  m.record_forward(rec, acts, device, false);
  m.record_logits(rec, logits, acts);
  data::HostBatch batch{B, T, {}, std::vector<int32_t>(size_t(B * T), -100), {}, {}};
  for (int64_t r = 0; r < B; ++r)
    for (int64_t t = 0; t < T; ++t) {
      batch.ids.push_back(t < int64_t(prompts[size_t(r)].size()) ? prompts[size_t(r)][size_t(t)]
                                                                 : DemoTask::kPad);
      batch.positions.push_back(int32_t(t));
    }
  std::vector<std::vector<int32_t>> out(prompts.size());
  for (int64_t p = DemoTask::kPromptLength; p < T; ++p) {
    train::upload_batch(m, device, batch);
    rec.run();
    std::vector<float> l = read_floats(ctx, logits);
    for (int64_t r = 0; r < B; ++r) {
      auto row = l.begin() + (r * T + p - 1) * V;
      int32_t next = int32_t(std::max_element(row, row + V) - row);
      batch.ids[size_t(r * T + p)] = next;
      out[size_t(r)].push_back(next);
    }
  }
  return out;
}

double exact_match(model::Transformer& m, const DemoTask& task,
                   const std::vector<data::TokenSequence>& held_out) {
  std::vector<std::vector<int32_t>> prompts;
  for (const auto& e : held_out)
    prompts.emplace_back(e.tokens.begin(), e.tokens.begin() + DemoTask::kPromptLength);
  auto got = answers(m, prompts);
  int right = 0;
  for (size_t i = 0; i < prompts.size(); ++i) right += got[i] == task.answer(prompts[i]);
  return double(right) / double(prompts.size());
}

// Trains `m` on the task's examples in its own run directory, with a progress line.
void train_on(model::Transformer& m, const DemoTask& task, const std::string& run_dir,
              int64_t steps, double lr, uint64_t seed, const char* what) {
  data::Batcher batches(task.examples(size_t(steps * kBatch), seed),
                        {kBatch, DemoTask::kLength, false, true, seed, DemoTask::kPad});
  data::Batcher held_out(task.examples(size_t(kHeldOut), seed + 1000),
                         {kBatch, DemoTask::kLength, false, false, 0, DemoTask::kPad});
  train::TrainerOptions t;
  t.run_dir = run_dir;
  t.steps = steps;
  t.shape = {kBatch, DemoTask::kLength, 1, false};
  t.adamw.weight_decay = 0.01;
  t.adamw.max_grad_norm = 1.0;
  t.schedule = {train::LrSchedule::cosine, lr, steps / 10, steps, lr / 10};
  t.eval_every = steps / 3;
  t.seed = seed;
  t.base_model = "vktrain demo";
  t.settings = {{"what", what}, {"steps", steps}, {"lr", lr}, {"batch", kBatch}};
  train::Trainer trainer(m, batches, &held_out, t);
  train::run_with_progress_and_report(trainer, m.context(), 25);
}

}  // namespace

void add_demo_options(CLI::App& c, DemoOptions& o) {
  c.add_option("--out", o.out, "where the demo writes its model, adapter and reports");
  c.add_option("--pretrain-steps", o.pretrain_steps, "pre-training steps (default 100)");
  c.add_option("--lora-steps", o.lora_steps, "LoRA fine-tuning steps (default 60)");
  c.add_option("--seed", o.seed, "seed of the data and the initial weights");
  c.add_option("--device", o.device, "device index or name substring (VKTRAIN_DEVICE)");
}

int run_demo(const DemoOptions& o) {
  if (o.pretrain_steps < 3 || o.lora_steps < 3) fail("[demo] give at least 3 steps per stage");
  namespace fs = std::filesystem;
  vk::Context ctx(context_options(o.device));
  const io::ModelConfig config = demo_config();
  DemoTask copy{false}, add_one{true};
  fmt::print("demo on {}: a 2-layer Qwen3-style model, vocabulary of {} words\n",
             ctx.caps().name, DemoTask::kVocab);

  model::ModelSetup full;
  full.full = true;
  model::Transformer base(ctx, config, full);
  for (const auto& [name, values] : model::initial_weights(config, o.seed))
    base.parameters().write(name, values);
  fmt::print("\n1. pre-training from random weights to copy: {}  ->  {}\n",
             DemoTask::words({1, 2, 8, 6, 9, 6, 3}), DemoTask::words({8, 6, 9, 6, 4}));
  train_on(base, copy, o.out + "/pretrain", o.pretrain_steps, 3e-3, o.seed, "pre-training");
  fs::create_directories(o.out + "/base-model");
  train::write_model_directory(o.out + "/base-model", base, "");

  model::ModelSetup lora;
  lora.lora = {.rank = 8, .alpha = 16, .targets = model::parse_lora_targets("all-linear")};
  model::Transformer tuned(ctx, config, lora);
  for (const auto& p : base.parameters().all())
    tuned.parameters().write(p.spec.name, base.parameters().read(p.spec.name));
  model::initialize_adapter(tuned.parameters(), o.seed);
  auto held_out = add_one.examples(size_t(kHeldOut), o.seed + 7);
  double before = exact_match(tuned, add_one, held_out);
  fmt::print("\n2. the new task, add one to each digit: {}  ->  {}\n",
             DemoTask::words({1, 2, 8, 6, 9, 6, 3}), DemoTask::words({9, 7, 10, 7, 4}));
  fmt::print("   held-out exact answers before the LoRA fine-tune: {:.0f}%\n", 100 * before);
  const std::string lora_dir = o.out + "/lora";
  train_on(tuned, add_one, lora_dir, o.lora_steps, 1e-2, o.seed + 1, "LoRA fine-tune");
  double after = exact_match(tuned, add_one, held_out);
  io::write_peft_files(lora_dir, train::adapter_of(tuned, fs::absolute(o.out + "/base-model").string()));
  fmt::print("   held-out exact answers after: {:.0f}% (before: {:.0f}%)\n\n", 100 * after,
             100 * before);

  std::vector<std::vector<int32_t>> prompts;
  for (size_t i = 0; i < 4; ++i)
    prompts.emplace_back(held_out[i].tokens.begin(),
                         held_out[i].tokens.begin() + DemoTask::kPromptLength);
  auto got = answers(tuned, prompts);
  for (size_t i = 0; i < prompts.size(); ++i)
    fmt::print("   {}  {}{}\n", DemoTask::words(prompts[i]), DemoTask::words(got[i]),
               got[i] == add_one.answer(prompts[i]) ? "" : "   (wrong)");
  fmt::print("\nwrote {0}/base-model (Hugging Face), {0}/lora (PEFT adapter, report.html, "
             "metrics.jsonl), {0}/pretrain/report.html\n",
             o.out);
  return 0;
}

}  // namespace vktrain::cli
