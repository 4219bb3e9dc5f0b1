#!/usr/bin/env python3
"""OpenBLAS (through numpy) on the square products, timed the way
`examples/gemm_report.rs` times ours, so the two can be compared side by side:
per cell, 60 timed blocks of at least 4 ms, each after at least 2 ms of untimed
calls and a 5 ms pause before the next, the best block kept.

Optional yardstick, outside the Rust build. It needs numpy and threadpoolctl,
for example the peers' environment (`bash ../shared/peers/setup-peers.sh`):

    ~/.venv-peers/bin/python benches/openblas_square.py
"""
import time

import numpy as np
from threadpoolctl import threadpool_limits


def cell(n, threads):
    rng = np.random.default_rng(0)
    a = rng.random((n, n), dtype=np.float32) - 0.5
    b = rng.random((n, n), dtype=np.float32) - 0.5
    out = np.empty((n, n), dtype=np.float32)
    with threadpool_limits(threads):
        np.matmul(a, b, out=out)
        t0 = time.perf_counter()
        np.matmul(a, b, out=out)
        reps = max(1, int(0.004 / (time.perf_counter() - t0)))
        best = float("inf")
        for _ in range(60):
            t = time.perf_counter()
            np.matmul(a, b, out=out)
            while time.perf_counter() - t < 0.002:
                np.matmul(a, b, out=out)
            t = time.perf_counter()
            for _ in range(reps):
                np.matmul(a, b, out=out)
            best = min(best, (time.perf_counter() - t) / reps)
            time.sleep(0.005)
    return 2 * n ** 3 / best / 1e9


for n in (256, 512, 1024):
    print(f"numpy/OpenBLAS square {n}: 1t {cell(n, 1):.1f}  2t {cell(n, 2):.1f} GFLOP/s", flush=True)
