"""PyTorch + PEFT baseline for bench/train_step.cpp, on the same card.

A LoRA training step (forward, backward, AdamW) on a random-weight model of a published model's
shape (Qwen3-1.7B by default; --model picks the shapes bench_train_step's --family/--size name):
B = 8, T = 512, r = 16, alpha 32, all linear layers, as a PEFT user writes it (bf16 base
weights, SDPA attention, fused AdamW over the adapter). Prints ms per step, tokens/s and peak
device memory. With --compile it then times the same model under torch.compile (the model's
forward and, through AOTAutograd, its backward; the fused AdamW stays eager) in the same
process, and prints both lines and their ratio: the pair the issue's tables compare against.
Steady state as bench_train_step measures it (steady.py): warm-up steps (the first compiles) for
at least 0.25 s, then the median of at least --steps steps lasting at least 0.5 s. Run on the GPU machine:
python3 bench/reference/train_step.py [--model M] [--targets T] [--dtype bf16|f16] [--steps 10]
[--checkpointing] [--compile].
"""
import argparse

import torch
from peft import LoraConfig, get_peft_model
from transformers import (Gemma3ForCausalLM, Gemma3TextConfig, LlamaConfig, LlamaForCausalLM,
                          Qwen3Config, Qwen3ForCausalLM, Qwen3MoeConfig, Qwen3MoeForCausalLM)

from steady import median_step_seconds, warm_up

# The published config.json shapes (src/model/presets.cpp has the same numbers).
MODELS = {
    "qwen3-1.7b": (Qwen3ForCausalLM, lambda: Qwen3Config(
        vocab_size=151936, hidden_size=2048, intermediate_size=6144, num_hidden_layers=28,
        num_attention_heads=16, num_key_value_heads=8, head_dim=128,
        max_position_embeddings=40960, rms_norm_eps=1e-6, rope_theta=1000000.0,
        tie_word_embeddings=True)),
    "qwen3-8b": (Qwen3ForCausalLM, lambda: Qwen3Config(
        vocab_size=151936, hidden_size=4096, intermediate_size=12288, num_hidden_layers=36,
        num_attention_heads=32, num_key_value_heads=8, head_dim=128,
        max_position_embeddings=40960, rms_norm_eps=1e-6, rope_theta=1000000.0,
        tie_word_embeddings=False)),
    "qwen3-0.6b": (Qwen3ForCausalLM, lambda: Qwen3Config(
        vocab_size=151936, hidden_size=1024, intermediate_size=3072, num_hidden_layers=28,
        num_attention_heads=16, num_key_value_heads=8, head_dim=128,
        max_position_embeddings=40960, rms_norm_eps=1e-6, rope_theta=1000000.0,
        tie_word_embeddings=True)),
    "llama-1b": (LlamaForCausalLM, lambda: LlamaConfig(
        vocab_size=128256, hidden_size=2048, intermediate_size=8192, num_hidden_layers=16,
        num_attention_heads=32, num_key_value_heads=8, head_dim=64,
        max_position_embeddings=131072, rms_norm_eps=1e-5, rope_theta=500000.0,
        rope_scaling={"rope_type": "llama3", "factor": 32.0, "low_freq_factor": 1.0,
                      "high_freq_factor": 4.0, "original_max_position_embeddings": 8192},
        tie_word_embeddings=True)),
    "gemma3-1b": (Gemma3ForCausalLM, lambda: Gemma3TextConfig(
        vocab_size=262144, hidden_size=1152, intermediate_size=6912, num_hidden_layers=26,
        num_attention_heads=4, num_key_value_heads=1, head_dim=256,
        max_position_embeddings=32768, sliding_window=512, query_pre_attn_scalar=256,
        rope_theta=1000000.0, rope_local_base_freq=10000.0, tie_word_embeddings=True,
        attn_implementation="sdpa")),
    # transformers 5's fused experts; the router's load-balancing loss is part of the loss, as
    # bench_train_step computes it (router_aux_loss_coef 0.001, the published config's).
    "qwen3-30b-a3b": (Qwen3MoeForCausalLM, lambda: Qwen3MoeConfig(
        vocab_size=151936, hidden_size=2048, intermediate_size=6144, moe_intermediate_size=768,
        num_hidden_layers=48, num_attention_heads=32, num_key_value_heads=4, head_dim=128,
        num_experts=128, num_experts_per_tok=8, norm_topk_prob=True, decoder_sparse_step=1,
        output_router_logits=True, router_aux_loss_coef=0.001, max_position_embeddings=40960,
        rms_norm_eps=1e-6, rope_theta=1000000.0, tie_word_embeddings=False)),
}

# --targets as bench_train_step spells them: all linear modules, or the attention projections and
# the fused expert weights (PEFT's target_parameters, which vktrain's "experts" adapts).
TARGETS = {
    "all-linear": dict(target_modules="all-linear"),
    "q,k,v,o,experts": dict(target_modules=["q_proj", "k_proj", "v_proj", "o_proj"],
                            target_parameters=["mlp.experts.gate_up_proj",
                                               "mlp.experts.down_proj"]),
}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="qwen3-1.7b", choices=sorted(MODELS))
    parser.add_argument("--dtype", default="bf16", choices=["bf16", "f16"])
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--seq", type=int, default=512)
    parser.add_argument("--targets", default="all-linear", choices=sorted(TARGETS))
    parser.add_argument("--checkpointing", action="store_true")
    parser.add_argument("--compile", action="store_true",
                        help="after eager, also time the model under torch.compile")
    args = parser.parse_args()
    dtype = torch.bfloat16 if args.dtype == "bf16" else torch.float16
    model_class, make_config = MODELS[args.model]
    config = make_config()
    torch.manual_seed(0)
    with torch.device("cuda"):
        model = model_class(config).to(dtype)
    model.config.use_cache = False
    if args.checkpointing:
        model.gradient_checkpointing_enable()
        model.enable_input_require_grads()
    lora = LoraConfig(r=16, lora_alpha=32, lora_dropout=0.0, **TARGETS[args.targets])
    model = get_peft_model(model, lora)
    experts = getattr(config, "_experts_implementation", None)
    if experts:
        print(f"transformers experts implementation: {experts}")
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4,
                                  fused=True)
    ids = torch.randint(0, config.vocab_size, (args.batch, args.seq), device="cuda")
    scaler = torch.amp.GradScaler() if dtype == torch.float16 else None

    def make_step(forward):
        def step():
            loss = forward(input_ids=ids, labels=ids).loss
            if scaler:
                scaler.scale(loss).backward()
                scaler.step(optimizer)
                scaler.update()
            else:
                loss.backward()
                optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            return loss
        return step

    tokens = args.batch * args.seq
    modes = [("eager", model)]
    if args.compile:
        modes.append(("torch.compile", torch.compile(model)))
    rates = {}
    for mode, forward in modes:
        # Peak memory of the timed steps only: the compilation's own buffers are not the step's.
        step = make_step(forward)
        warm_up(step)
        torch.cuda.reset_peak_memory_stats()
        median = median_step_seconds(step, args.steps)
        peak = torch.cuda.max_memory_allocated() / 2**30
        rates[mode] = tokens / median
        print(f"torch {torch.__version__} PEFT LoRA step ({mode}), {args.model} shape, "
              f"{args.dtype}, B={args.batch} T={args.seq} r=16 {args.targets}"
              f"{' checkpointing' if args.checkpointing else ''}: {median * 1e3:.1f} ms/step, "
              f"{tokens / median:.0f} tokens/s, peak {peak:.2f} GiB")
    if args.compile:
        print(f"torch.compile / eager: {rates['torch.compile'] / rates['eager']:.2f}x tokens/s")


if __name__ == "__main__":
    main()
