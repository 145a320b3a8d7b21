#!/usr/bin/env python3
"""Writes the small seed files of the fuzz harnesses that tests/fixtures has no small file for:
GGUF files with a tokenizer vocabulary (gpt2 and llama models) and tokenizer.json files cut down
from the real Qwen3 and Gemma-3 ones (.downloads/tokenizers, fetched by scripts/setup). Their
output is committed under seeds/; rerun after a format change: python3 tests/fuzz/make_seeds.py"""
import json
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def gguf_string(s):
    b = s.encode()
    return struct.pack("<Q", len(b)) + b


def gguf_value(kind, value):
    # kind: "u32", "f32", "bool", "str", ("arr", item kind)
    if kind == "u32":
        return struct.pack("<I", 4) + struct.pack("<I", value)
    if kind == "f32":
        return struct.pack("<I", 6) + struct.pack("<f", value)
    if kind == "bool":
        return struct.pack("<I", 7) + struct.pack("<B", value)
    if kind == "str":
        return struct.pack("<I", 8) + gguf_string(value)
    item = kind[1]
    codes = {"str": 8, "f32": 6, "i32": 5}
    out = struct.pack("<I", 9) + struct.pack("<IQ", codes[item], len(value))
    for v in value:
        out += gguf_string(v) if item == "str" else struct.pack("<f" if item == "f32" else "<i", v)
    return out


def write_gguf(path, metadata):
    out = b"GGUF" + struct.pack("<IQQ", 3, 0, len(metadata))
    for key, (kind, value) in metadata.items():
        out += gguf_string(key) + gguf_value(kind, value)
    with open(path, "wb") as f:
        f.write(out)


def gguf_seeds():
    tokens = ["<unk>", "<s>", "</s>", "<|im_end|>"] + [chr(c) for c in range(97, 123)]
    tokens += ["he", "ll", "hell", "hello", "wo", "wor", "world"]
    types = [2, 3, 3, 4] + [1] * (len(tokens) - 4)
    arch = {"general.architecture": ("str", "qwen3"), "qwen3.context_length": ("u32", 256),
            "qwen3.embedding_length": ("u32", 32), "qwen3.block_count": ("u32", 2),
            "qwen3.feed_forward_length": ("u32", 48), "qwen3.attention.head_count": ("u32", 4),
            "qwen3.attention.head_count_kv": ("u32", 2),
            "qwen3.attention.layer_norm_rms_epsilon": ("f32", 1e-6)}
    bpe = dict(arch)
    bpe.update({"tokenizer.ggml.model": ("str", "gpt2"), "tokenizer.ggml.pre": ("str", "qwen2"),
                "tokenizer.ggml.tokens": (("arr", "str"), tokens),
                "tokenizer.ggml.token_type": (("arr", "i32"), types),
                "tokenizer.ggml.merges": (("arr", "str"), ["h e", "l l", "he ll", "hell o", "w o", "wo r", "wor l"]),
                "tokenizer.ggml.eos_token_id": ("u32", 3), "tokenizer.ggml.add_bos_token": ("bool", 0)})
    write_gguf(os.path.join(HERE, "seeds/gguf/gpt2_vocab.gguf"), bpe)
    spm = dict(arch)
    spm.update({"tokenizer.ggml.model": ("str", "llama"),
                "tokenizer.ggml.tokens": (("arr", "str"), tokens + ["\u2581", "<0x41>"]),
                "tokenizer.ggml.scores": (("arr", "f32"), [-float(i) for i in range(len(tokens) + 2)]),
                "tokenizer.ggml.token_type": (("arr", "i32"), types + [1, 6]),
                "tokenizer.ggml.bos_token_id": ("u32", 1), "tokenizer.ggml.unknown_token_id": ("u32", 0),
                "tokenizer.ggml.add_bos_token": ("bool", 1)})
    write_gguf(os.path.join(HERE, "seeds/gguf/llama_vocab.gguf"), spm)


def tokenizer_seeds(keep=400):
    for name in ("qwen3", "gemma3"):
        path = os.path.join(ROOT, ".downloads/tokenizers", name, "tokenizer.json")
        if not os.path.exists(path):
            print("skipping", name, "(no", path + ")")
            continue
        with open(path) as f:
            j = json.load(f)
        vocab = {t: i for t, i in j["model"]["vocab"].items() if i < keep}
        merges = []
        for m in j["model"]["merges"]:
            left, right = m if isinstance(m, list) else m.split(" ", 1)
            if left in vocab and right in vocab and left + right in vocab:
                merges.append(m)
        j["model"]["vocab"] = vocab
        j["model"]["merges"] = merges
        j["added_tokens"] = [dict(t, id=keep + n) for n, t in enumerate(j["added_tokens"][:8])]
        with open(os.path.join(HERE, "seeds/tokenizer", name + ".json"), "w") as f:
            json.dump(j, f, ensure_ascii=False, indent=1)


if __name__ == "__main__":
    gguf_seeds()
    tokenizer_seeds()
