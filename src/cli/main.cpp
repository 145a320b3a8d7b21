// vktrain: train and fine-tune transformer language models on any Vulkan GPU.
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <algorithm>

#include "base/error.hpp"
#include "cli/config_file.hpp"
#include "cli/devices.hpp"
#include "cli/demo.hpp"
#include "cli/doctor.hpp"
#include "cli/eval.hpp"
#include "cli/export.hpp"
#include "cli/flag_values.hpp"
#include "cli/generate.hpp"
#include "cli/init.hpp"
#include "cli/plan.hpp"
#include "cli/run_setup.hpp"
#include "cli/suggest.hpp"
#include "cli/tokenize.hpp"
#include "cli/train.hpp"

int main(int argc, char** argv) {
  CLI::App app{"vktrain: train and fine-tune transformer language models on any Vulkan GPU"};
  app.require_subcommand(1);
  // Unknown arguments are kept, not refused on sight, so that the error can name the nearest
  // known flag or command (cli/suggest.hpp).
  app.allow_extras();
  app.set_version_flag("--version", "vktrain 0.1.0");

  auto* devices = app.add_subcommand("devices", "list Vulkan devices, their features and memory");
  std::optional<std::string> device;
  auto* doctor = app.add_subcommand(
      "doctor", "check the device: capabilities, measured matmul TFLOP/s and copy GB/s");
  doctor->add_option("--device", device, "device index or name substring (VKTRAIN_DEVICE)");
  std::optional<std::string> matmul;
  doctor->add_option("--matmul", matmul, "measure only this matmul variant: portable, coopmat, coopmat2");

  vktrain::cli::TokenizeOptions tokenize_options;
  auto* tokenize = app.add_subcommand(
      "tokenize", "show how a model's tokenizer and chat template see a text or a dataset");
  tokenize->add_option("--model", tokenize_options.model, "model directory, .gguf file or cached repo id")
      ->required()
      ->transform(vktrain::cli::model_source());
  tokenize->add_option("--text", tokenize_options.text, "a text to tokenize");
  tokenize->add_option("--data", tokenize_options.data,
                       "a dataset as train reads it (.jsonl, .txt or a folder): its first examples");
  tokenize->add_option("--limit", tokenize_options.limit, "examples to show from --data (default 3)");
  tokenize->add_option("--seq-len", tokenize_options.seq_len, "tokens per .txt window (default 2048)");
  tokenize->add_option("--chat-template", tokenize_options.chat_template,
                       "a Jinja chat template file to use instead of the model's");

  vktrain::cli::InitOptions init_options;
  auto* init = app.add_subcommand(
      "init", "write a new randomly initialised model of a named family and size, for pre-training");
  init->add_option("--family", init_options.family, "qwen3, qwen2, llama or gemma3")->required();
  init->add_option("--size", init_options.size, "a published size (0.6B, 1B, ...) or tiny")->required();
  init->add_option("--out", init_options.out, "the new model directory (must not exist or be empty)")
      ->required();
  init->add_option("--seed", init_options.seed, "random seed (default 0)");
  init->add_option("--dtype", init_options.dtype, "weight type: f32, bf16 (default) or f16");
  init->add_option("--tokenizer", init_options.tokenizer,
                   "a directory with tokenizer.json: copied, and the vocabulary follows it");
  init->add_option("--vocab", init_options.vocab, "vocabulary size (embedding rows)");

  vktrain::cli::ExportOptions export_options;
  auto* exporter = app.add_subcommand(
      "export", "write an adapter as PEFT or a llama.cpp GGUF adapter, or a model (with an "
                "adapter merged in, or as it is) as Hugging Face safetensors or GGUF");
  exporter->add_option("--model", export_options.model, "base model directory, .gguf file or cached repo id")
      ->required()
      ->transform(vktrain::cli::model_source());
  exporter->add_option("--adapter", export_options.adapter,
                       "PEFT adapter or LoRA checkpoint directory (hf, gguf: without it, the "
                       "model as it is)");
  exporter->add_option("--out", export_options.out,
                       "output directory (peft, hf) or file (gguf-lora, gguf)")->required();
  exporter->add_option("--format", export_options.format, "peft (default), gguf-lora, hf or gguf");
  exporter->add_option("--gguf-type", export_options.gguf_type,
                       "gguf: f32, f16 (default; a GGUF base with --adapter: its own types) or "
                       "q8_0; gguf-lora: f32 (default) or f16");

  vktrain::cli::TrainOptions train_options;
  auto* train = app.add_subcommand(
      "train", "LoRA, full fine-tuning or pre-training on a dataset (every flag also in --config)");
  train->option_defaults()->always_capture_default();  // for the report's list of settings
  vktrain::cli::add_train_options(*train, train_options);

  vktrain::cli::EvalOptions eval_options;
  auto* eval = app.add_subcommand("eval", "loss and perplexity of a model (+ adapter) on a dataset");
  vktrain::cli::add_eval_options(*eval, eval_options);

  vktrain::cli::DemoOptions demo_options;
  auto* demo = app.add_subcommand(
      "demo", "pre-train a small model, LoRA-fine-tune it on a new task, show the difference");
  vktrain::cli::add_demo_options(*demo, demo_options);

  vktrain::cli::PlanOptions plan_options;
  auto* plan = app.add_subcommand(
      "plan", "estimate a training run's device memory per part against the device's budget, "
              "with advice; exit 0 when it fits, 2 when it does not");
  plan->add_option("--model", plan_options.model, "model directory, .gguf file or cached repo id (config only)")
      ->transform(vktrain::cli::model_source());
  plan->add_option("--family", plan_options.family, "a preset family instead of --model: qwen3, qwen2, llama, gemma3");
  plan->add_option("--size", plan_options.size, "the preset's size (0.6B, 8B, ..., tiny)");
  const vktrain::cli::PlanOptions plan_defaults;  // train's
  plan->add_option("--lora-rank", plan_options.lora_rank,
                   fmt::format("LoRA rank (default {})", vktrain::cli::TrainOptions{}.lora_rank));
  plan->add_option("--lora-targets", plan_options.lora_targets,
                   fmt::format("modules the adapter targets (default {})", plan_defaults.lora_targets));
  plan->add_option("--lora-dropout", plan_options.lora_dropout,
                   fmt::format("LoRA dropout probability (default {})", plan_defaults.lora_dropout));
  plan->add_flag("--full", plan_options.full, "full fine-tuning: every parameter trains");
  plan->add_option("--batch", plan_options.batch,
                   fmt::format("rows per micro-batch (default {})", plan_defaults.batch));
  plan->add_option("--seq-len", plan_options.seq_len,
                   fmt::format("tokens per row (default {})", plan_defaults.seq_len));
  plan->add_option("--grad-accum", plan_options.grad_accum,
                   fmt::format("micro-batches per step (default {})", plan_defaults.grad_accum));
  plan->add_option("--dtype", plan_options.dtype,
                   fmt::format("weights and activations: f32, f16, bf16 or auto, as train picks it "
                               "(default {})",
                               plan_defaults.dtype));
  plan->add_option("--grad-checkpoint", plan_options.grad_checkpoint,
                   fmt::format("recompute activations: on, off or auto (default {}: only when "
                               "needed)",
                               plan_defaults.grad_checkpoint));
  plan->add_option("--device", plan_options.device, "device index or name substring (VKTRAIN_DEVICE)");
  plan->add_option("--ranks", plan_options.ranks,
                   "data-parallel ranks (mpirun -np N, one per device): memory per device and "
                   "the gradient traffic per step (default 1)");
  plan->add_flag("--shard-optimizer", plan_options.shard_optimizer,
                 "with --ranks: the optimizer state split over the ranks (train "
                 "--shard-optimizer, ZeRO-1)");
  plan->add_option("--optimizer", plan_options.optimizer,
                   "adamw (default) or adamw_8bit: 8-bit moments, 1 byte a value and an absmax "
                   "a block of 256");
  plan->add_option("--link-gbps", plan_options.link_gbps,
                   "with --ranks: the slowest link between ranks in Gbit/s, for the all-reduce's "
                   "time per step");
  vktrain::cli::add_quantize_option(*plan, plan_options.quantize);
  plan->add_option("--device-memory", plan_options.device_memory,
                   "plan for a device with this many GiB (e.g. 96 for a 128 GB Strix Halo's GPU "
                   "share, 24 for a 24 GB card) instead of this device's budget")
      ->check(CLI::PositiveNumber);

  // generate and chat share their flags; --prompt and --chat are generate's alone.
  vktrain::cli::GenerateOptions generate_options;
  auto generation_flags = [&](CLI::App* c) {
    auto& o = generate_options;
    c->add_option("--model", o.model, "model directory, .gguf file or cached repo id")
        ->required()
        ->transform(vktrain::cli::model_source());
    c->add_option("--adapter", o.adapter, "a PEFT LoRA adapter directory, applied unmerged");
    c->add_option("--max-tokens", o.max_tokens, "new tokens per answer (default 256)");
    c->add_option("--temp", o.sampling.temperature, "temperature; 0: greedy (default 0.8)");
    c->add_option("--top-k", o.sampling.top_k, "keep the k most likely tokens; 0: off (default 40)");
    c->add_option("--top-p", o.sampling.top_p, "nucleus sampling mass; 1: off (default 0.95)");
    c->add_option("--min-p", o.sampling.min_p,
                  "drop tokens below this share of the most likely; 0: off (default 0.05)");
    c->add_option("--seed", o.sampling.seed, "sampling seed (default 0)");
    c->add_option("--stop", o.stop, "stop at this string (repeatable); it is not shown");
    c->add_option("--chat-template", o.chat_template,
                  "a Jinja chat template file to use instead of the model's");
    c->add_option("--dtype", o.dtype, "weights and activations: f32, f16 or bf16 (default auto)");
    vktrain::cli::add_quantize_option(*c, o.quantize);
    c->add_option("--device", o.device, "device index or name substring (VKTRAIN_DEVICE)");
    c->add_option("--system", o.system, "a system message before the conversation");
    c->add_option("--thinking", o.thinking,
                  "on or off: the chat template's enable_thinking (Qwen3: off answers without "
                  "reasoning); default: the template's own");
  };
  auto* generate = app.add_subcommand(
      "generate", "continue a prompt with a model (and a LoRA adapter), token by token");
  generation_flags(generate);
  generate->add_option("--prompt", generate_options.prompt, "the text to continue")->required();
  generate->add_flag("--chat", generate_options.chat,
                     "send the prompt as a user message through the chat template (needed by "
                     "--system and --thinking)");
  auto* chat = app.add_subcommand(
      "chat", "talk with a model: one message a line on stdin, formatted by its chat template");
  generation_flags(chat);

  for (CLI::App* command : app.get_subcommands([](CLI::App*) { return true; }))
    command->allow_extras();

  try {
    // --config files become flags first; CLI11 then sees one command line.
    vktrain::cli::ConfigOrigins origins;
    std::vector<std::string> args = vktrain::cli::expand_config_files(argc, argv, &origins);
    args.erase(args.begin());  // the program name
    std::reverse(args.begin(), args.end());  // CLI11 takes the arguments last first
    try {
      app.parse(args);
    } catch (const CLI::Success&) {
      throw;  // --help, --version
    } catch (const CLI::ParseError&) {
      // A missing --model after a mistyped --modle: the typo is the news.
      if (auto error = vktrain::cli::unknown_argument_error(app, origins))
        throw vktrain::Error(*error);
      throw;
    }
    if (auto error = vktrain::cli::unknown_argument_error(app, origins))
      throw vktrain::Error(*error);
    if (generate->parsed()) return vktrain::cli::run_generate(generate_options);
    if (chat->parsed()) return vktrain::cli::run_chat(generate_options);
    if (train->parsed()) {
      train_options.flags = vktrain::cli::flag_values(*train);
      return vktrain::cli::run_train(train_options);
    }
    if (eval->parsed()) return vktrain::cli::run_eval(eval_options);
    if (demo->parsed()) return vktrain::cli::run_demo(demo_options);
    if (plan->parsed()) return vktrain::cli::run_plan(plan_options);
    if (init->parsed()) return vktrain::cli::run_init(init_options);
    if (exporter->parsed()) return vktrain::cli::run_export(export_options);
    if (tokenize->parsed()) return vktrain::cli::run_tokenize(tokenize_options);
    if (devices->parsed()) return vktrain::cli::run_devices();
    if (doctor->parsed()) return vktrain::cli::run_doctor(device, matmul);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    fmt::print(stderr, "vktrain: {}; run 'vktrain --help' for the commands and flags\n", e.what());
    return e.get_exit_code();
  } catch (const vktrain::Error& e) {
    fmt::print(stderr, "vktrain: {}\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    fmt::print(stderr, "vktrain: internal error: {}\n", e.what());
    return 2;
  }
  return 0;
}
