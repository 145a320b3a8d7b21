"""PyTorch baselines for the transformer kernel benches (bench/<family>.cpp), on the same card.

Run on the GPU machine: python3 bench/reference/kernels.py (--attention [T ...]: only the attention
table that bench/attention prints beside). Shapes are Qwen3-1.7B's at B x T =
8 x 512 (and 2 x 4096 for attention), bf16 activations, as the benches use. Each line is what a
PyTorch user runs for that layer (eager; SDPA for attention; fused AdamW), forward and backward
where there is one, in ms, with the same GB/s or TFLOP/s accounting as the bench programs;
steady-state timing (steady.py).
"""
import math
import sys

import torch
import torch.nn.functional as F

from steady import milliseconds

DEVICE = "cuda"
BF16 = torch.bfloat16


def forward_backward(fn, inputs):
    """Times fn(*inputs) alone, then forward + backward with a random output gradient."""
    out = fn(*inputs)
    grad = torch.randn_like(out)
    fwd = milliseconds(lambda: fn(*inputs))

    def both():
        for x in inputs:
            x.grad = None
        fn(*inputs).backward(grad)

    return fwd, milliseconds(both) - fwd


def leaf(*shape, dtype=BF16):
    return torch.randn(*shape, device=DEVICE, dtype=dtype).requires_grad_()


def rmsnorm(x, w, eps=1e-6):
    # transformers' Qwen3RMSNorm: f32 statistics, result back in the input dtype, then weight.
    h = x.float()
    h = h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + eps)
    return w * h.to(x.dtype)


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def attention_table(H, KV, D, shapes=((8, 512), (1, 4096))):
    """SDPA beside bench/attention's table: forward and forward + backward (causal FLOPs: 3.5x
    the forward's), bf16 and f16, for each (B, T) of `shapes`, [B, H, T, D] tensors."""
    print("sdpa (is_causal, enable_gqa)       fwd ms  TFLOP/s  fwd+bwd ms  TFLOP/s")
    for dtype, name in ((BF16, "bf16"), (torch.float16, "f16")):
        for batch, T in shapes:
            inputs = (leaf(batch, H, T, D, dtype=dtype), leaf(batch, KV, T, D, dtype=dtype),
                      leaf(batch, KV, T, D, dtype=dtype))
            attn = lambda q_, k_, v_: F.scaled_dot_product_attention(  # noqa: E731
                q_, k_, v_, is_causal=True, enable_gqa=True)
            f, b = forward_backward(attn, inputs)
            flops = 4 * batch * H * T * T * D / 2
            print(f"sdpa {name:4} B={batch} T={T:<5}            {f:7.3f} {flops / f / 1e9:8.1f} "
                  f"{f + b:11.3f} {3.5 * flops / (f + b) / 1e9:8.1f}")


def main():
    torch.backends.cuda.matmul.allow_tf32 = False
    print(f"device: {torch.cuda.get_device_name()}, torch {torch.__version__}")
    N, C, H, KV, D, F_, V = 4096, 2048, 16, 8, 128, 6144, 151936

    x, w = leaf(N, C), leaf(C, dtype=BF16)
    f, b = forward_backward(rmsnorm, (x, w))
    print(f"rmsnorm        {N}x{C}        fwd {f:7.3f} ms {2 * N * C * 2 / f / 1e6:7.1f} GB/s"
          f"   bwd {b:7.3f} ms {3 * N * C * 2 / b / 1e6:7.1f} GB/s")

    q = leaf(N, H, D)
    pos = torch.arange(N, device=DEVICE) % 512
    inv = 1.0 / (1e6 ** (torch.arange(0, D, 2, device=DEVICE).float() / D))
    ang = pos[:, None].float() * inv[None]
    cos = torch.cat((ang, ang), -1).cos().to(BF16)[:, None]
    sin = torch.cat((ang, ang), -1).sin().to(BF16)[:, None]
    f, b = forward_backward(lambda t: t * cos + rotate_half(t) * sin, (q,))
    print(f"rope           {N}x{H}x{D}     fwd {f:7.3f} ms {2 * N * H * D * 2 / f / 1e6:7.1f} GB/s"
          f"   bwd {b:7.3f} ms {2 * N * H * D * 2 / b / 1e6:7.1f} GB/s")

    gate, up = leaf(N, F_), leaf(N, F_)
    f, b = forward_backward(lambda g, u: F.silu(g) * u, (gate, up))
    print(f"swiglu         {N}x{F_}        fwd {f:7.3f} ms {3 * N * F_ * 2 / f / 1e6:7.1f} GB/s"
          f"   bwd {b:7.3f} ms {5 * N * F_ * 2 / b / 1e6:7.1f} GB/s")

    for batch, T in ((8, 512), (2, 4096)):
        qa, ka, va = leaf(batch, H, T, D), leaf(batch, KV, T, D), leaf(batch, KV, T, D)
        attn = lambda q_, k_, v_: F.scaled_dot_product_attention(  # noqa: E731
            q_, k_, v_, is_causal=True, enable_gqa=True)
        f, b = forward_backward(attn, (qa, ka, va))
        flops = 4 * batch * H * T * T * D / 2
        print(f"sdpa attention B={batch} T={T}  fwd {f:7.3f} ms {flops / f / 1e9:7.1f} TFLOP/s"
              f"   bwd {b:7.3f} ms {2.5 * flops / b / 1e9:7.1f} TFLOP/s")
    attention_table(H, KV, D)

    h, lm_head = leaf(N, C), leaf(V, C)
    labels = torch.randint(0, V, (N,), device=DEVICE)
    loss = lambda h_, w_: F.cross_entropy((h_ @ w_.t()).float(), labels)  # noqa: E731
    f, b = forward_backward(loss, (h, lm_head))
    print(f"lm_head + cross-entropy N={N} V={V}  fwd {f:7.3f} ms {2 * N * C * V / f / 1e9:7.1f} "
          f"TFLOP/s   fwd+bwd {f + b:7.3f} ms {6 * N * C * V / (f + b) / 1e9:7.1f} TFLOP/s "
          f"(full logits: {N * V * 4 / 2**30:.1f} GiB f32)")

    for millions in (17, 600):
        p = torch.zeros(millions * 10**6, device=DEVICE, requires_grad=True)
        p.grad = torch.full_like(p, 0.01)
        opt = torch.optim.AdamW([p], lr=1e-3, weight_decay=0.1, fused=True)

        def step():
            torch.nn.utils.clip_grad_norm_([p], 1.0)
            opt.step()

        ms = milliseconds(step)
        print(f"fused AdamW + clip {millions} M params  {ms:7.3f} ms "
              f"{32 * millions * 1e6 / ms / 1e6:7.1f} GB/s")
    print(f"(sdpa scale {1 / math.sqrt(D):.4f}; bf16 everywhere but the loss)")


if __name__ == "__main__":
    if "--attention" in sys.argv:
        # --attention [T ...]: those sequence lengths at B x T = 16384 tokens (long sequences).
        lengths = [int(a) for a in sys.argv[sys.argv.index("--attention") + 1:]]
        print(f"device: {torch.cuda.get_device_name()}, torch {torch.__version__}")
        attention_table(16, 8, 128, [(max(1, 16384 // T), T) for T in lengths] or
                        ((8, 512), (1, 4096)))
    else:
        main()
