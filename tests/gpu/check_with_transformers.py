"""vktrain against transformers + PEFT on one trained adapter (issue 6's GPU check).

Run on the GPU machine after tests/gpu/check_with_transformers.sh has made, with the vktrain
binary, a tiny random Qwen3 (the real Qwen3 tokenizer), a LoRA adapter trained on it, our
evaluation loss of a text dataset and our greedy continuation of a prompt. This script loads the
same base model and adapter with transformers + peft, computes the same loss (each example's
tokens plus EOS, the mean over every next-token prediction, as `vktrain eval` scores text data)
and the same greedy continuation, and prints both sides. Exit 1 when they differ.

usage: python3 check_with_transformers.py MODEL ADAPTER DATA.jsonl PROMPT OUR_LOSS OUR_TEXT_FILE
"""
import json
import sys

import torch
from peft import PeftModel
from transformers import AutoModelForCausalLM, AutoTokenizer


def main():
    model_dir, adapter_dir, data, prompt, our_loss, text_file = sys.argv[1:7]
    our_loss = float(our_loss)
    our_text = open(text_file, encoding="utf-8").read().removesuffix("\n")
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    base = AutoModelForCausalLM.from_pretrained(model_dir, torch_dtype=torch.float32)
    model = PeftModel.from_pretrained(base, adapter_dir).eval()
    eos = tokenizer.eos_token_id
    total, count = 0.0, 0
    with torch.no_grad():
        for line in open(data, encoding="utf-8"):
            if not line.strip():
                continue
            ids = tokenizer(json.loads(line)["text"]).input_ids + [eos]
            x = torch.tensor([ids])
            logits = model(input_ids=x).logits[0, :-1].double()
            total += torch.nn.functional.cross_entropy(logits, x[0, 1:], reduction="sum").item()
            count += len(ids) - 1
        theirs = total / count
        prompt_ids = tokenizer(prompt, return_tensors="pt").input_ids
        # vktrain stops at the config's eos ids and the tokenizer's eos token.
        stops = set(base.config.eos_token_id if isinstance(base.config.eos_token_id, list)
                    else [base.config.eos_token_id]) | {eos}
        out = model.generate(prompt_ids, max_new_tokens=12, do_sample=False,
                             eos_token_id=sorted(i for i in stops if i is not None),
                             pad_token_id=eos)
        their_text = tokenizer.decode(out[0, prompt_ids.shape[1]:], skip_special_tokens=True)
    relative = abs(theirs - our_loss) / theirs
    print(f"loss over {count} tokens: transformers+peft {theirs:.6f}, vktrain {our_loss:.6f}, "
          f"relative difference {relative:.2e}")
    print(f"greedy after {prompt!r}: transformers+peft {their_text!r}")
    print(f"greedy after {prompt!r}: vktrain           {our_text!r}")
    same = their_text == our_text
    print("same greedy text" if same else "DIFFERENT greedy text")
    sys.exit(0 if relative < 1e-4 and same else 1)


if __name__ == "__main__":
    main()
