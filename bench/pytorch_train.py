#!/usr/bin/env python3
"""The PyTorch twin of `lowbit train --model lfc` for side-by-side timing.

Same network (784-1024x3-10, bias-free dense layers, BatchNorm after each, ReLU; with
--dropout P, dropout on the input and after each hidden block, like `lowbit --dropout P`),
same optimizer (Adam, lr 1e-3, cosine decay per step), same batch,
same data (the Fashion-MNIST idx files, pixels scaled to [0, 1]), same thread count.
Prints one JSON line: {"framework": "pytorch", "epoch_seconds": ..., "test_acc": ...}.
"""
import argparse, gzip, json, os, struct, time

import numpy as np
import torch
import torch.nn as nn


def read_idx(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    magic, = struct.unpack(">I", data[:4])
    ndim = magic & 0xFF
    dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def find(root, stem):
    for name in (stem, stem + ".gz"):
        if os.path.exists(os.path.join(root, name)):
            return os.path.join(root, name)
    raise FileNotFoundError(os.path.join(root, stem))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--width", type=int, default=1024)
    ap.add_argument("--dropout", type=float, default=0.0)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(1)
    xtr = torch.from_numpy(read_idx(find(args.data, "train-images-idx3-ubyte")).reshape(-1, 784).astype(np.float32) / 255)
    ytr = torch.from_numpy(read_idx(find(args.data, "train-labels-idx1-ubyte")).astype(np.int64))
    xte = torch.from_numpy(read_idx(find(args.data, "t10k-images-idx3-ubyte")).reshape(-1, 784).astype(np.float32) / 255)
    yte = torch.from_numpy(read_idx(find(args.data, "t10k-labels-idx1-ubyte")).astype(np.int64))
    w = args.width
    drop = [nn.Dropout(args.dropout)] if args.dropout > 0 else []
    layers = list(drop)
    fan_in = 784
    for _ in range(3):
        layers += [nn.Linear(fan_in, w, bias=False), nn.BatchNorm1d(w), nn.ReLU()] + drop
        fan_in = w
    layers += [nn.Linear(w, 10, bias=False), nn.BatchNorm1d(10)]
    model = nn.Sequential(*layers)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    steps = args.epochs * ((xtr.shape[0] + args.batch - 1) // args.batch)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps)
    loss_fn = nn.CrossEntropyLoss()
    seconds = []
    for epoch in range(args.epochs):
        model.train()
        perm = torch.randperm(xtr.shape[0])
        t0 = time.perf_counter()
        for i in range(0, xtr.shape[0], args.batch):
            idx = perm[i:i + args.batch]
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(xtr[idx]), ytr[idx])
            loss.backward()
            opt.step()
            sched.step()
        seconds.append(time.perf_counter() - t0)
    model.eval()
    with torch.no_grad():
        acc = (model(xte).argmax(1) == yte).float().mean().item()
    print(json.dumps({"framework": "pytorch", "torch": torch.__version__, "threads": args.threads,
                      "batch": args.batch, "epoch_seconds": min(seconds), "test_acc": acc}))


if __name__ == "__main__":
    main()
