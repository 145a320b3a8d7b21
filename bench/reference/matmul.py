"""PyTorch baseline for bench/matmul: torch.matmul TFLOP/s on the same card, per dtype and size.

Run on the GPU machine: python3 bench/reference/matmul.py [sizes...]; the largest bf16 number is
the peak to pass to build/bench/bench_matmul --peak. Steady-state timing (steady.py).
"""
import sys

import torch

from steady import milliseconds


def tflops(n, dtype):
    a = torch.randn(n, n, device="cuda", dtype=dtype)
    b = torch.randn(n, n, device="cuda", dtype=dtype)
    seconds = milliseconds(lambda: a @ b) / 1e3
    return 2 * n**3 / seconds / 1e12


def main():
    sizes = [int(s) for s in sys.argv[1:]] or [1024, 2048, 4096]
    torch.backends.cuda.matmul.allow_tf32 = False
    print(f"device: {torch.cuda.get_device_name()}")
    for dtype in (torch.float32, torch.float16, torch.bfloat16):
        for n in sizes:
            print(f"torch.matmul {str(dtype).split('.')[-1]:<9} {n:>5}  {tflops(n, dtype):8.2f} TFLOP/s")


if __name__ == "__main__":
    main()
