#!/usr/bin/env python3
"""Times torchvision model inference in PyTorch eager mode, as kiln run
--benchmark times kiln: eval mode, torch.no_grad(), the same threads, one
warm-up run, then N timed runs; prints the median and min latency.

    torch_infer.py MODEL BATCH RUNS THREADS
"""
import statistics
import sys
import time

import torch
import torchvision


def main():
    name, batch, runs, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = getattr(torchvision.models, name)(weights=None).eval()
    x = torch.randn(batch, 3, 224, 224)
    times = []
    with torch.no_grad():
        model(x)
        for _ in range(runs):
            t0 = time.perf_counter()
            model(x)
            times.append(1000 * (time.perf_counter() - t0))
    med = statistics.median(times)
    print(f"torch {torch.__version__} {name} batch {batch}: latency median {med:.3f} ms, min {min(times):.3f} ms over "
          f"{runs} runs, {1000 * batch / med:.1f} images/s")


if __name__ == "__main__":
    main()
