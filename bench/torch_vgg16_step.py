#!/usr/bin/env python3
"""VGG16's training step in PyTorch, the peer of `kiln train --model vgg16 --synthetic`.

VGG16 as the zoo's nn::zoo::vgg16() (13 conv3x3+ReLU in five blocks with 2x2
max pools, dense 4096, 4096, 1000; no dropout), random 224x224x3 images,
SGD with momentum 0.9, lr 1e-4, cross-entropy. Prints the median seconds of
a step over --steps timed steps after one warm-up step.
  bench/torch_vgg16_step.py [--batch-size 2] [--steps 5] [--threads 2]
"""
import argparse
import statistics
import time

import torch
import torch.nn as nn


def vgg16():
    layers, c = [], 3
    for convs, filters in [(2, 64), (2, 128), (3, 256), (3, 512), (3, 512)]:
        for _ in range(convs):
            layers += [nn.Conv2d(c, filters, 3, padding=1), nn.ReLU()]
            c = filters
        layers.append(nn.MaxPool2d(2))
    layers += [nn.Flatten(), nn.Linear(512 * 7 * 7, 4096), nn.ReLU(), nn.Linear(4096, 4096), nn.ReLU(),
               nn.Linear(4096, 1000)]
    return nn.Sequential(*layers)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--batch-size", type=int, default=2)
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    net = vgg16()
    opt = torch.optim.SGD(net.parameters(), lr=1e-4, momentum=0.9)
    x = torch.randn(a.batch_size, 3, 224, 224)
    y = torch.arange(a.batch_size) % 10
    times = []
    for i in range(a.steps + 1):
        t0 = time.perf_counter()
        opt.zero_grad()
        loss = nn.functional.cross_entropy(net(x), y)
        loss.backward()
        opt.step()
        if i > 0:
            times.append(time.perf_counter() - t0)
    print(f"torch {torch.__version__}: VGG16 training step at batch {a.batch_size}: "
          f"median {statistics.median(times):.3f} s over {a.steps} steps ({a.threads} threads)")


if __name__ == "__main__":
    main()
