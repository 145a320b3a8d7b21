#include "cli/train.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <filesystem>

#include "base/error.hpp"
#include "cli/config_file.hpp"
#include "cli/plan.hpp"
#include "cli/run_setup.hpp"
#include "data/batches.hpp"
#include "data/dataset.hpp"
#include "data/model_text.hpp"
#include "model/init.hpp"
#include "model/loader.hpp"
#include "model/memory_plan.hpp"
#include "model/pretrained.hpp"
#include "model/transformer.hpp"
#include "train/checkpoint_files.hpp"
#include "train/communicator.hpp"
#include "train/reported_run.hpp"
#include "train/run_directory.hpp"
#include "train/training_plan.hpp"
#include "train/trainer.hpp"
#include "vk/context.hpp"
#include "vk/device.hpp"
#include "vk/instance.hpp"

namespace vktrain::cli {

namespace fs = std::filesystem;

namespace {

// SIGINT (Ctrl-C) or SIGTERM (schedulers, `timeout`): the run stops after its step with a
// checkpoint and exits 128 + the signal, as the shell reports a process the signal ended.
std::atomic<int> stop_signal{0};
extern "C" void on_stop_signal(int signal) { stop_signal = signal; }

void require(bool ok, const char* flag, const std::string& what) {
  if (!ok) fail("[train] {} {}", flag, what);
}

void check_options(const TrainOptions& o) {
  require(o.lr > 0, "--lr", "must be positive");
  require(o.min_lr >= 0 && o.min_lr <= o.lr, "--min-lr", "must lie between 0 and --lr");
  require(o.batch >= 1, "--batch", "must be at least 1");
  require(o.grad_accum >= 1, "--grad-accum", "must be at least 1");
  require(o.seq_len >= 2, "--seq-len", "must be at least 2");
  require(o.warmup >= 0, "--warmup", "must not be negative");
  require(!(o.epochs && o.iters), "--epochs", "and --iters exclude each other; give one");
  require(!o.epochs || *o.epochs >= 1, "--epochs", "must be at least 1");
  require(!o.iters || *o.iters >= 1, "--iters", "must be at least 1");
  require(o.bucket_mb >= 0 && o.bucket_mb <= 1e6, "--bucket-mb", "must lie in [0, 1000000]");
  require(o.valid_split >= 0 && o.valid_split < 1, "--valid-split", "must lie in [0, 1)");
  require(!(o.valid && o.valid_split > 0), "--valid", "and --valid-split exclude each other");
  require(o.full || o.lora_rank >= 1, "--lora-rank", "must be at least 1 (or pass --full)");
  require(o.lora_dropout >= 0 && o.lora_dropout < 1, "--lora-dropout", "must lie in [0, 1)");
  require(!(o.adapter && o.full), "--adapter", "and --full exclude each other");
  require(!(o.resume && o.overwrite), "--overwrite", "and --resume exclude each other; give one");
  std::error_code ec;
  require(!fs::equivalent(o.out, o.model, ec), "--out", "is the --model directory; choose another");
}

// --adapter: the adapter's LoRA settings become the run's (dropout too, unless --lora-dropout is
// given: it shapes training, not what the adapter computes). A --lora-* flag that disagrees is an
// error, not silently overridden: the user meant something the adapter cannot be.
io::PeftAdapter adapter_to_continue(TrainOptions& o, const io::ModelConfig& config) {
  io::PeftAdapter adapter = model::read_fitting_adapter(*o.adapter, config);
  const io::LoraConfig& l = adapter.lora;
  auto sorted = [](std::vector<std::string> v) {
    std::sort(v.begin(), v.end());
    return v;
  };
  auto given = [&](const char* flag) {
    return std::find(o.lora_flags.begin(), o.lora_flags.end(), flag) != o.lora_flags.end();
  };
  auto disagree = [&](const char* flag, const std::string& value, const std::string& adapters) {
    fail("[train] {}{} disagrees with --adapter {}, which has {}; drop {} to continue the adapter "
         "as it is",
         flag, value.empty() ? "" : " " + value, *o.adapter, adapters, flag);
  };
  if (given("--lora-rank") && o.lora_rank != l.rank)
    disagree("--lora-rank", std::to_string(o.lora_rank), fmt::format("rank {}", l.rank));
  if (given("--lora-alpha") && o.lora_alpha != l.alpha)
    disagree("--lora-alpha", fmt::format("{}", o.lora_alpha), fmt::format("alpha {}", l.alpha));
  if (given("--lora-targets") &&
      sorted(model::parse_lora_targets(o.lora_targets)) != sorted(l.targets))
    disagree("--lora-targets", o.lora_targets, fmt::format("targets {}", fmt::join(l.targets, ",")));
  if (given("--rslora") && !l.rslora) disagree("--rslora", "", "plain alpha / r scaling");
  o.lora_rank = l.rank;
  o.lora_alpha = l.alpha;
  o.lora_targets = fmt::format("{}", fmt::join(l.targets, ","));
  o.rslora = l.rslora;
  if (!given("--lora-dropout")) o.lora_dropout = l.dropout;
  return adapter;
}

nlohmann::json settings_of(const TrainOptions& o, DType dtype, bool recompute, int ranks) {
  nlohmann::json s = {{"model", o.model},        {"data", o.data},
                      {"mode", o.full ? "full" : "lora"},
                      {"seq_len", o.seq_len},    {"batch", o.batch},
                      {"grad_accum", o.grad_accum}, {"dtype", std::string(dtype_name(dtype))},
                      {"packing", !o.no_packing}, {"train_on_inputs", o.train_on_inputs}};
  if (!o.full)
    s["lora"] = {{"rank", o.lora_rank},     {"alpha", o.lora_alpha}, {"dropout", o.lora_dropout},
                 {"targets", o.lora_targets}, {"rslora", o.rslora}};
  s["optimizer"] = {{"lr", o.lr},           {"schedule", o.lr_schedule}, {"warmup", o.warmup},
                    {"min_lr", o.min_lr},   {"weight_decay", o.weight_decay},
                    {"max_grad_norm", o.max_grad_norm}, {"seed", o.seed}};
  // Only when not AdamW, so that the settings of AdamW runs stay what they always were.
  if (o.optimizer != "adamw") s["optimizer"]["name"] = o.optimizer;
  if (o.adapter) s["adapter"] = *o.adapter;
  s["recompute"] = recompute;
  // A step's micro-batches and the data position depend on the number of ranks (a resume
  // compares ranks x grad_accum: train/train_state.hpp); one rank's checkpoints keep the
  // settings they always had.
  if (ranks > 1) s["ranks"] = ranks;
  return s;
}

// What report.html lists: every flag as the run resolved it.
nlohmann::json shown_settings(const TrainOptions& o, DType dtype, bool recompute, int64_t steps) {
  nlohmann::json shown = o.flags.is_object() ? o.flags : nlohmann::json::object();
  auto resolved = [](const std::string& asked, const std::string& used) {
    return asked == "auto" ? used + " (auto)" : used;
  };
  shown["dtype"] = resolved(o.dtype, std::string(dtype_name(dtype)));
  shown["grad-checkpoint"] = resolved(o.grad_checkpoint, recompute ? "on" : "off");
  shown["optimizer"] = o.optimizer;
  shown["steps"] = steps;
  return shown;
}

// The device of this rank: --device or VKTRAIN_DEVICE when given (the same on every rank, or
// per rank through the launcher's environment); else the node-local rank picks among the
// usable devices of the kind vktrain would choose alone, wrapping when ranks outnumber them.
vk::ContextOptions rank_context_options(const std::optional<std::string>& device,
                                        const train::Communicator& ranks) {
  vk::ContextOptions options = context_options(device);
  if (!ranks.distributed() || options.device) return options;
  vk::Instance instance(false);
  const std::vector<vk::Capabilities> all = vk::list_devices(instance);
  const size_t best = vk::select_device(all, std::nullopt);
  std::vector<size_t> same_kind;
  for (size_t i = 0; i < all.size(); ++i)
    if (all[i].type == all[best].type && all[i].missing_required().empty()) same_kind.push_back(i);
  options.device = std::to_string(same_kind[size_t(ranks.local_rank()) % same_kind.size()]);
  return options;
}

int train_rank(const TrainOptions& options, const train::Communicator& ranks);

}  // namespace

void add_train_options(CLI::App& c, TrainOptions& o) {
  c.add_option("--model", o.model, "Hugging Face model directory, .gguf file or cached repo id")
      ->required()
      ->transform(model_source());
  c.add_option("--data", o.data,
               "training data: .jsonl (text, prompt/completion, messages or ShareGPT), .txt, or a "
               "folder with train.jsonl (and valid.jsonl)")
      ->required();
  c.add_option("--out", o.out, "run directory: checkpoints, metrics.jsonl, report.html, the result")
      ->required();
  c.add_option("--valid", o.valid, "validation data (same formats; default: --data's valid.jsonl)");
  c.add_option("--valid-split", o.valid_split, "hold out this fraction of --data for validation");
  c.add_option("--chat-template", o.chat_template, "a Jinja chat template file to use instead");
  c.add_option("--lora-rank", o.lora_rank, "LoRA rank r (default 16)");
  c.add_option("--lora-alpha", o.lora_alpha, "LoRA alpha (default 32)");
  c.add_option("--lora-dropout", o.lora_dropout, "dropout on the adapter's input (default 0)");
  c.add_option("--lora-targets", o.lora_targets,
               "q,k,v,o,gate,up,down or all-linear (default); experts on a mixture of experts");
  c.add_flag("--rslora", o.rslora, "scale by alpha / sqrt(r) (rank-stabilised LoRA)");
  c.add_flag("--full", o.full, "full fine-tuning (f32 master weights) instead of LoRA");
  c.add_option("--adapter", o.adapter,
               "continue training this PEFT adapter (its rank, alpha and targets) with a new "
               "optimizer state");
  c.add_option("--lr", o.lr, "peak learning rate (default 1e-4)");
  c.add_option("--lr-schedule", o.lr_schedule, "constant, linear or cosine (default)");
  c.add_option("--warmup", o.warmup, "warmup steps (default 0)");
  c.add_option("--min-lr", o.min_lr, "where linear and cosine end (default 0)");
  c.add_option("--weight-decay", o.weight_decay, "AdamW weight decay on matrices (default 0)");
  c.add_option("--max-grad-norm", o.max_grad_norm, "clip the gradient norm (0: off; default 1)");
  c.add_option("--optimizer", o.optimizer,
               "adamw (default) or adamw_8bit: bitsandbytes' blockwise 8-bit AdamW, its moments "
               "in 1 byte a value instead of 8");
  c.add_option("--batch", o.batch, "rows per micro-batch (default 4)");
  c.add_option("--grad-accum", o.grad_accum, "micro-batches per optimizer step (default 1)");
  c.add_option("--seq-len", o.seq_len, "tokens per row (default 2048)");
  c.add_option("--epochs", o.epochs, "passes over the data (default 1)");
  c.add_option("--iters", o.iters, "optimizer steps (instead of --epochs)");
  c.add_flag("--train-on-inputs", o.train_on_inputs,
             "train on prompts and user turns too, not only completions and assistant turns");
  c.add_flag("--no-packing", o.no_packing, "one example per row instead of packing short ones");
  c.add_flag("--truncate", o.truncate, "cut examples longer than --seq-len instead of failing");
  c.add_option("--eval-every", o.eval_every, "evaluate every N steps (default: at the end only)");
  c.add_option("--eval-batches", o.eval_batches, "validation batches per evaluation (0: all)");
  c.add_option("--save-every", o.save_every, "checkpoint every N steps (default: at the end)");
  c.add_flag("--resume", o.resume, "continue from the latest checkpoint in --out");
  c.add_flag("--overwrite", o.overwrite,
             "replace the previous run in --out: remove its metrics, checkpoints, adapter or model "
             "and report (files vktrain did not write stay)");
  c.add_option("--seed", o.seed, "seed of the data order, adapter init and dropout (default 0)");
  c.add_flag("--shard-optimizer", o.shard_optimizer,
             "under mpirun: split the optimizer state over the ranks (ZeRO-1), so that full "
             "fine-tuning needs less memory per device; checkpoints stay whole");
  c.add_option("--bucket-mb", o.bucket_mb,
               "under mpirun: gradients are summed over the ranks in buckets of this many MB, "
               "each while the backward goes on (0: one per layer; default 25)");
  c.add_option("--dtype", o.dtype, "f32, f16 or bf16 weights and activations (default auto)");
  add_quantize_option(c, o.quantize);
  c.add_option("--grad-checkpoint", o.grad_checkpoint,
               "recompute activations per layer: on, off or auto (default: from the memory plan)");
  c.add_option("--device", o.device, "device index or name substring (VKTRAIN_DEVICE)");
  add_config_option(c);
  c.parse_complete_callback([&c, &o] {
    o.lora_flags.clear();
    for (const char* flag : {"--lora-rank", "--lora-alpha", "--lora-dropout", "--lora-targets", "--rslora"})
      if (c.count(flag)) o.lora_flags.push_back(flag);
  });
}

int run_train(const TrainOptions& options) {
  const std::unique_ptr<train::Communicator> ranks = train::Communicator::from_launch();
  if (!ranks->distributed()) return train_rank(options, *ranks);
  // A rank that fails ends the job with its one message: the others would wait for it forever
  // in the next collective. Checkpoints are written atomically, so the last one stays whole.
  try {
    return train_rank(options, *ranks);
  } catch (const Error& e) {
    ranks->abort(e.what());
  } catch (const std::exception& e) {
    ranks->abort(fmt::format("internal error: {}", e.what()));
  }
}

namespace {

// One rank of the run (the only one without mpirun). Rank 0 alone touches --out and prints.
int train_rank(const TrainOptions& options, const train::Communicator& ranks) {
  const bool root = ranks.rank() == 0;
  TrainOptions o = options;  // --adapter sets the LoRA fields
  // Everything that can be checked cheaply is, before --out is touched.
  check_options(o);
  const train::LrSchedule schedule = train::parse_lr_schedule(o.lr_schedule);
  const train::OptimizerKind optimizer = train::parse_optimizer(o.optimizer, "[train] --optimizer");
  const train::RunStart start =
      o.resume ? train::RunStart::resume
               : (o.overwrite ? train::RunStart::overwrite : train::RunStart::fresh);
  if (root) train::check_run_directory(o.out, start);
  vk::Context ctx(rank_context_options(o.device, ranks));
  const io::ModelSource source(o.model);
  io::ModelConfig config = source.config();
  std::optional<io::PeftAdapter> adapter;
  if (o.adapter) adapter = adapter_to_continue(o, config);
  data::ModelText text = data::load_model_text(source, o.chat_template);

  model::ModelSetup setup;
  setup.dtype = run_dtype(ctx, o.dtype);
  setup.full = o.full;
  if (!o.full) {
    setup.lora.rank = o.lora_rank;
    setup.lora.alpha = o.lora_alpha;
    setup.lora.rslora = o.rslora;
    setup.lora.dropout = o.lora_dropout;
    setup.lora.targets = adapter ? adapter->lora.targets : model::parse_lora_targets(o.lora_targets);
  }
  setup.quantized = quantized_base(config, &source, o.quantize, setup.dtype).types;
  if (o.shard_optimizer && ranks.distributed()) {  // the masters with the optimizer's state
    setup.master_shard = ranks.rank();
    setup.master_shards = ranks.size();
  }
  model::check_model_setup(setup);
  // The memory plan decides recompute and refuses a run that cannot fit, before allocating.
  model::MemoryPlan plan =
      train::plan_training(config, setup, o.batch, o.seq_len, o.grad_accum, ctx.caps(), optimizer,
                           ranks.size(), o.shard_optimizer, uint64_t(o.bucket_mb * 1e6));
  const uint64_t budget = model::usable_budget(ctx);
  const bool recompute =
      require_fits(plan, budget, setup, parse_grad_checkpoint(o.grad_checkpoint));

  // The weights' files open (headers, offsets) before --out is touched; their tensors load later.
  model::read_base_weights(config, source, [](const std::string&) { return false; }, {});

  // Then the run directory, held from here on; a start that fails before training removes what it
  // made there. The data, with its cache there: a bad line fails before device memory is touched.
  // Every rank has its device and the model's files before rank 0 touches --out: a rank that
  // fails to start ends the job (run_train) with --out as it was. The other ranks tokenize the
  // same files themselves, leaving --out to rank 0.
  ranks.barrier();
  std::optional<train::RunDirectory> run_dir;
  if (root) run_dir.emplace(o.out, start);
  data::DatasetOptions data_options;
  data_options.seq_len = o.seq_len;
  data_options.train_on_inputs = o.train_on_inputs;
  data_options.truncate = o.truncate;
  auto tokenized = [&](const std::string& file) {
    return run_dir ? data::load_or_tokenize(file, text, data_options, run_dir->cache_dir())
                   : data::tokenize_dataset(file, text, data_options);
  };
  data::TokenizedDataset train_data = tokenized(data::data_file(o.data, {"train"}));
  std::vector<data::TokenSequence> train_sequences = std::move(train_data.sequences), valid_sequences;
  std::optional<std::string> valid_file = o.valid;
  if (!valid_file && o.valid_split == 0) valid_file = data::data_folder_file(o.data, "valid");
  if (valid_file) {
    valid_sequences = tokenized(*valid_file).sequences;
  } else if (o.valid_split > 0) {
    std::tie(train_sequences, valid_sequences) =
        data::split_validation(std::move(train_sequences), o.valid_split, o.seed);
  }

  if (root)
    fmt::print("data: {} examples, {} tokens ({} trained){}; {} for validation\n",
             train_data.examples, train_data.tokens, train_data.trained_tokens,
             train_data.truncated ? fmt::format(", {} truncated to {} tokens", train_data.truncated,
                                                o.seq_len)
                                  : "",
             valid_sequences.size());

  model::Transformer m(ctx, config, setup);
  model::load_base_weights(m.parameters(), config, source);
  if (adapter) model::load_adapter_weights(m.parameters(), config, *adapter);
  else if (!o.full) model::initialize_adapter(m.parameters(), o.seed);

  data::BatchingOptions batching{o.batch, o.seq_len, !o.no_packing, true, o.seed, 0};
  data::Batcher train(std::move(train_sequences), batching);
  std::optional<data::Batcher> valid;
  if (!valid_sequences.empty()) {
    batching.shuffle = false;
    valid.emplace(std::move(valid_sequences), batching);
  }
  const int64_t per_step = o.grad_accum * ranks.size();  // micro-batches
  const int64_t per_epoch = (train.batches_in_epoch(0) + per_step - 1) / per_step;

  train::TrainerOptions t;
  t.run_dir = o.out;
  t.steps = o.iters ? *o.iters : per_epoch * o.epochs.value_or(1);
  t.shape = {o.batch, o.seq_len, o.grad_accum, recompute, uint64_t(o.bucket_mb * 1e6)};
  t.adamw.weight_decay = o.weight_decay;
  t.adamw.max_grad_norm = o.max_grad_norm;
  t.schedule = {schedule, o.lr, o.warmup, t.steps, o.min_lr};
  t.eval_every = o.eval_every;
  t.eval_batches = o.eval_batches;
  t.save_every = o.save_every;
  t.seed = o.seed;
  t.resume = o.resume;
  t.base_model = o.model;
  t.settings = settings_of(o, setup.dtype, recompute, ranks.size());
  t.ranks = &ranks;
  t.shard_optimizer = o.shard_optimizer;
  t.optimizer = optimizer;
  train::Trainer trainer(m, train, valid ? &*valid : nullptr, t);

  if (root)
    fmt::print("train: {} on {}, {} {}, {}, {} steps of {}{} x {} x {} tokens{}\n",
             o.full ? "full fine-tuning"
                    : fmt::format("LoRA r{}{}", o.lora_rank, o.adapter ? " from " + *o.adapter : ""),
             ctx.caps().name,
             io::family_name(config.family), dtype_name(setup.dtype), o.optimizer, t.steps,
             ranks.distributed() ? fmt::format("{} ranks x ", ranks.size()) : "", o.grad_accum,
             o.batch, o.seq_len, recompute ? ", recompute" : "");
  if (run_dir) run_dir->begin();
  stop_signal = 0;
  auto previous_int = std::signal(SIGINT, on_stop_signal);
  auto previous_term = std::signal(SIGTERM, on_stop_signal);
  const bool stopped = train::run_with_progress_and_report(
      trainer, ctx, 10, [] { return stop_signal != 0; },
      shown_settings(o, setup.dtype, recompute, t.steps));
  std::signal(SIGINT, previous_int);
  std::signal(SIGTERM, previous_term);

  // A stop asked on another rank stops this one too, with that rank's signal unknown here.
  const int exit_code = 128 + (stop_signal ? int(stop_signal) : SIGTERM);
  // Sharded masters reach rank 0's result from every rank.
  train::Masters masters;
  if (root || trainer.optimizer().sharded())
    masters = train::read_masters(m.parameters(), trainer.optimizer());
  if (!root) return stopped ? exit_code : 0;
  if (const train::DataParallelTime& time = trainer.data_parallel_time(); time.steps > 0)
    fmt::print("data parallel, per step: {:.3f} s, of which {:.3f} s copying gradients to and "
               "from host staging and {:.3f} s in MPI not hidden by the backward (rank 0; "
               "metrics.jsonl has every step)\n",
               time.seconds / double(time.steps), time.staging / double(time.steps),
               time.mpi / double(time.steps));
  if (!o.full) io::write_peft_files(o.out, train::adapter_of(m, o.model, &masters));
  else train::write_model_directory(o.out, m, o.model, &masters);
  if (stopped) {
    fmt::print("stopped at step {}: checkpoint saved; continue with --resume\n", trainer.step());
    return exit_code;
  }
  fmt::print("done: {} in {}\n", o.full ? "the model" : "the adapter", o.out);
  return 0;
}

}  // namespace

}  // namespace vktrain::cli
