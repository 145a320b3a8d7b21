#include "cli/eval.hpp"

#include <fmt/format.h>

#include <cmath>

#include "base/error.hpp"
#include "cli/config_file.hpp"
#include "cli/run_setup.hpp"
#include "data/batches.hpp"
#include "data/dataset.hpp"
#include "data/model_text.hpp"
#include "model/pretrained.hpp"
#include "train/evaluator.hpp"

namespace vktrain::cli {

void add_eval_options(CLI::App& c, EvalOptions& o) {
  c.add_option("--model", o.model, "Hugging Face model directory, .gguf file or cached repo id")
      ->required()
      ->transform(model_source());
  c.add_option("--adapter", o.adapter, "a PEFT adapter directory (e.g. a train --out) to apply");
  c.add_option("--data", o.data,
               "evaluation data: .jsonl or .txt as for train, or a folder: its test.jsonl, else "
               "its valid.jsonl")
      ->required();
  c.add_option("--chat-template", o.chat_template, "a Jinja chat template file to use instead");
  c.add_option("--batch", o.batch, "rows per batch (default 4)");
  c.add_option("--seq-len", o.seq_len, "tokens per row (default 2048)");
  c.add_option("--max-batches", o.max_batches, "evaluate at most this many batches (0: all)");
  c.add_flag("--train-on-inputs", o.train_on_inputs, "score prompts and user turns too");
  c.add_flag("--no-packing", o.no_packing, "one example per row");
  c.add_flag("--truncate", o.truncate, "cut examples longer than --seq-len instead of failing");
  c.add_option("--dtype", o.dtype, "f32, f16 or bf16 (default auto)");
  add_quantize_option(c, o.quantize);
  c.add_option("--device", o.device, "device index or name substring (VKTRAIN_DEVICE)");
  add_config_option(c);
}

int run_eval(const EvalOptions& o) {
  if (o.batch < 1 || o.seq_len < 2) fail("[eval] --batch must be >= 1 and --seq-len >= 2");
  vk::Context ctx(context_options(o.device));
  const io::ModelSource source(o.model);
  data::ModelText text = data::load_model_text(source, o.chat_template);
  data::DatasetOptions data_options;
  data_options.seq_len = o.seq_len;
  data_options.train_on_inputs = o.train_on_inputs;
  data_options.truncate = o.truncate;
  const std::string data_path = data::data_file(o.data, {"test", "valid"});
  data::TokenizedDataset dataset = data::tokenize_dataset(data_path, text, data_options);
  const io::ModelConfig config = source.config();
  const DType dtype = run_dtype(ctx, o.dtype);
  auto model = model::load_pretrained(ctx, config, source, o.adapter, dtype,
                                      quantized_base(config, &source, o.quantize, dtype).types);
  data::Batcher batches(std::move(dataset.sequences),
                        {o.batch, o.seq_len, !o.no_packing, false, 0, 0});
  // Forward only: one layer's activation set serves every layer.
  model::Activations acts(ctx, model->config(), model->setup().dtype, o.batch, o.seq_len, true,
                            0);
  model::BatchTensors device = model->make_batch(o.batch, o.seq_len);
  train::Evaluator evaluator(*model, acts, device);
  train::LossSum sum = evaluator.loss(batches, o.max_batches);
  if (sum.targets == 0) fail("[eval] {}: no token to score (are all turns masked?)", data_path);
  double mean = sum.loss / double(sum.targets);
  fmt::print("eval: {} on {}: loss {:.4f}, perplexity {:.3f} over {} tokens in {} batches\n",
             o.adapter ? o.model + " + " + *o.adapter : o.model, data_path, mean, std::exp(mean),
             sum.targets, sum.batches);
  return 0;
}

}  // namespace vktrain::cli
