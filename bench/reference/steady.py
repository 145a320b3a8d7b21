"""Steady-state timing for the PyTorch baselines, as cli::median_seconds times vktrain's benches:
untimed calls for at least WARM_SECONDS (the first calls, and the GPU's clocks rising from idle:
a few short warm-up calls under-measure), then the median of timed batches lasting at least
MIN_SECONDS in all."""
import time

import torch

WARM_SECONDS = 0.25
MIN_SECONDS = 0.5


def warm_up(fn, count=3):
    """At least `count` untimed calls (under torch.compile the first compiles) and WARM_SECONDS."""
    start = time.perf_counter()
    for _ in range(count):
        fn()
    torch.cuda.synchronize()
    while time.perf_counter() - start < WARM_SECONDS:
        fn()
        torch.cuda.synchronize()


def milliseconds(fn, repeats=20):
    """Milliseconds per call: after warm_up, batches of `repeats` calls timed by CUDA events, at
    least 3 of them and MIN_SECONDS in all; their median."""
    warm_up(fn)
    times = []
    while len(times) < 3 or sum(times) < MIN_SECONDS * 1e3:
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(repeats):
            fn()
        end.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(end))
    times.sort()
    return times[len(times) // 2] / repeats


def median_step_seconds(step, steps):
    """Median seconds of at least `steps` whole steps (each synchronized: a training step's time
    from start to results) lasting at least MIN_SECONDS in all; call warm_up(step) first."""
    times = []
    while len(times) < max(steps, 1) or sum(times) < MIN_SECONDS:
        start = time.perf_counter()
        step()
        torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    times.sort()
    return times[len(times) // 2]
