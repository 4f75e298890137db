#!/usr/bin/python3
"""PyTorch, the peer of `kiln train`: the zoo's nets trained the same way.

    bench/torch_train.py MODEL [--epochs E] [--batch-size B] [--limit N]
                         [--test-limit N] [--threads T] [--infer-batch B]
                         [--lr LR] [--schedule constant|cosine]

The same architectures as kiln's zoo (frontend/NN.cpp: MLP 784-512-256-10,
LeNet-5 with a 'same' first conv, the VGG-style net of four 3x3 convs), the
same initializers (He normal before a ReLU, Glorot uniform otherwise, zero
biases), the same data (Debian's dataset-fashion-mnist, normalized as kiln
does, shuffled each epoch), SGD with momentum 0.9 at lr 0.01 (or --lr; --schedule
cosine anneals it to 0 over the run, per step, as `kiln train --schedule
cosine`), mean softmax cross-entropy. Prints one line per epoch in the format bench/train.sh reads
("epoch E: ... test accuracy A%, ... I images/s"), then inference throughput
at --infer-batch and the peak resident memory. With --device cuda the
dataset lives on the GPU (as the H200 targets of bench/cuda.sh ask) and
--compile trains the torch.compile'd net.
"""
import argparse
import gzip
import resource
import time

import numpy as np
import torch
from torch import nn

DATA = "/usr/share/datasets/fashion-mnist"


def load(train, limit):
    prefix = "train" if train else "t10k"
    with gzip.open(f"{DATA}/{prefix}-images-idx3-ubyte.gz") as f:
        images = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 1, 28, 28)
    with gzip.open(f"{DATA}/{prefix}-labels-idx1-ubyte.gz") as f:
        labels = np.frombuffer(f.read(), np.uint8, offset=8)
    if limit:
        images, labels = images[:limit], labels[:limit]
    x = (images.astype(np.float32) / 255.0 - 0.2860) / 0.3530
    return torch.from_numpy(x), torch.from_numpy(labels.astype(np.int64))


def model(name):
    relu = nn.ReLU
    if name == "mlp":
        layers = [nn.Flatten(), nn.Linear(784, 512), relu(), nn.Linear(512, 256), relu(), nn.Linear(256, 10)]
    elif name == "lenet":
        layers = [nn.Conv2d(1, 6, 5, padding=2), relu(), nn.MaxPool2d(2), nn.Conv2d(6, 16, 5), relu(),
                  nn.MaxPool2d(2), nn.Flatten(), nn.Linear(400, 120), relu(), nn.Linear(120, 84), relu(),
                  nn.Linear(84, 10)]
    elif name == "vgg":
        layers = [nn.Conv2d(1, 32, 3, padding=1), relu(), nn.Conv2d(32, 32, 3, padding=1), relu(), nn.MaxPool2d(2),
                  nn.Conv2d(32, 64, 3, padding=1), relu(), nn.Conv2d(64, 64, 3, padding=1), relu(), nn.MaxPool2d(2),
                  nn.Flatten(), nn.Linear(3136, 256), relu(), nn.Linear(256, 10)]
    else:
        raise SystemExit(f"error: unknown model '{name}' (mlp, lenet, vgg)")
    for i, layer in enumerate(layers):
        if isinstance(layer, (nn.Linear, nn.Conv2d)):
            before_relu = i + 1 < len(layers) and isinstance(layers[i + 1], nn.ReLU)
            if before_relu:
                nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
            else:
                nn.init.xavier_uniform_(layer.weight)
            nn.init.zeros_(layer.bias)
    return nn.Sequential(*layers)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("model")
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--limit", type=int, default=0)
    p.add_argument("--test-limit", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--infer-batch", type=int, default=256)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--schedule", choices=["constant", "cosine"], default="constant")
    p.add_argument("--device", default="cpu", help="cpu, or cuda: the model and the whole dataset on the GPU")
    p.add_argument("--compile", action="store_true", help="train the torch.compile'd model")
    p.add_argument("--no-tf32", action="store_true", help="keep matmuls and convolutions in full f32 on the GPU")
    a = p.parse_args()
    if a.no_tf32:
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    xs, ys = load(True, a.limit)
    xt, yt = load(False, a.test_limit)
    dev = torch.device(a.device)
    xs, ys, xt, yt = xs.to(dev), ys.to(dev), xt.to(dev), yt.to(dev)
    net = model(a.model).to(dev)
    opt = torch.optim.SGD(net.parameters(), lr=a.lr, momentum=0.9)
    step_net = torch.compile(net) if a.compile else net
    steps_per_epoch = (len(xs) + a.batch_size - 1) // a.batch_size
    # kiln's cosine schedule: from lr to 0 over every step of the run
    sched = (torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=a.epochs * steps_per_epoch)
             if a.schedule == "cosine" else None)
    loss_fn = nn.CrossEntropyLoss()
    n = len(xs)
    for epoch in range(1, a.epochs + 1):
        net.train()
        order = torch.randperm(n, device=dev)
        seen, correct, total_loss = 0, 0, 0.0
        t0 = time.perf_counter()  # the whole epoch loop, batching included, as kiln's Trainer times it
        for start in range(0, n, a.batch_size):
            idx = order[start:start + a.batch_size]
            x, y = xs[idx], ys[idx]
            opt.zero_grad(set_to_none=True)
            logits = step_net(x)
            loss = loss_fn(logits, y)
            loss.backward()
            opt.step()
            if sched:
                sched.step()
            seen += len(idx)
            total_loss += loss.item() * len(idx)
            correct += (logits.argmax(1) == y).sum().item()
        if dev.type == "cuda":
            torch.cuda.synchronize()
        busy = time.perf_counter() - t0
        net.eval()
        with torch.no_grad():
            test_correct = sum((net(xt[i:i + 1000]).argmax(1) == yt[i:i + 1000]).sum().item()
                               for i in range(0, len(xt), 1000))
        print(f"epoch {epoch}: train loss {total_loss / seen:.4f}, train accuracy {100 * correct / seen:.2f}%, "
              f"test accuracy {100 * test_correct / len(xt):.2f}%, {busy:.1f}s, {seen / busy:.0f} images/s", flush=True)
    net.eval()
    batch = xt[:a.infer_batch]
    with torch.no_grad():
        net(batch)
        times = []
        for _ in range(5):
            t0 = time.perf_counter()
            net(batch)
            if dev.type == "cuda":
                torch.cuda.synchronize()
            times.append(time.perf_counter() - t0)
    print(f"inference: batch {len(batch)}, {len(batch) / sorted(times)[2]:.0f} images/s")
    print(f"peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024} MB")


if __name__ == "__main__":
    main()
