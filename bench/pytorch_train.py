#!/usr/bin/env python3
"""The PyTorch twin of `lowbit train --model lfc|cnv` (float) for side-by-side timing.

Same network:
  lfc: 784-1024x3-10, bias-free dense layers, BatchNorm after each, ReLU; with --dropout P,
       dropout on the input and after each hidden block, like `lowbit --dropout P`;
  cnv: FINN's CNV as lowbit's preset (src/lowbit/nn/presets.cpp): the 28x28 image zero-padded
       to 32x32, 3x3 valid convolutions 64, 64, maxpool 2, 128, 128, maxpool 2, 256, 256, then
       dense 512, 512, 10; bias-free, BatchNorm after each, ReLU.
Same optimizer (Adam, lr 1e-3, cosine decay per step), same batch, same data (the
Fashion-MNIST idx files, pixels scaled to [0, 1]; --train-limit N trains on the first N
images, shuffled each epoch, as lowbit's --train-limit), same thread count. PyTorch's own
defaults otherwise: its convolutions run on oneDNN (mkldnn) when available.
Prints one JSON line: {"framework": "pytorch", "epoch_seconds": ..., "images_per_second": ...,
"test_acc": ...}.
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


def lfc(w, dropout):
    drop = [nn.Dropout(dropout)] if dropout > 0 else []
    layers = list(drop)
    fan_in = 784
    for _ in range(3):
        layers += [nn.Linear(fan_in, w, bias=False), nn.BatchNorm1d(w), nn.ReLU()] + drop
        fan_in = w
    layers += [nn.Linear(w, 10, bias=False), nn.BatchNorm1d(10)]
    return nn.Sequential(*layers)


def cnv():
    layers, c = [], 1
    for i, f in enumerate([64, 64, 128, 128, 256, 256]):
        layers += [nn.Conv2d(c, f, 3, bias=False), nn.BatchNorm2d(f), nn.ReLU()]
        if i in (1, 3):
            layers.append(nn.MaxPool2d(2))
        c = f
    layers.append(nn.Flatten())
    fan_in = 256
    for _ in range(2):
        layers += [nn.Linear(fan_in, 512, bias=False), nn.BatchNorm1d(512), nn.ReLU()]
        fan_in = 512
    layers += [nn.Linear(512, 10, bias=False), nn.BatchNorm1d(10)]
    return nn.Sequential(*layers)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", choices=["lfc", "cnv"], default="lfc")
    ap.add_argument("--train-limit", type=int, default=0, help="images per epoch (0 = all)")
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
    if args.model == "lfc":
        model = lfc(args.width, args.dropout)
    else:
        model = cnv()
        pad = lambda x: nn.functional.pad(x.reshape(-1, 1, 28, 28), (2, 2, 2, 2))
        xtr, xte = pad(xtr), pad(xte)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    n = min(args.train_limit, xtr.shape[0]) if args.train_limit > 0 else xtr.shape[0]
    steps = args.epochs * ((n + args.batch - 1) // args.batch)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps)
    loss_fn = nn.CrossEntropyLoss()
    seconds = []
    for epoch in range(args.epochs):
        model.train()
        perm = torch.randperm(n)  # the first n images, shuffled each epoch, as lowbit's --train-limit
        t0 = time.perf_counter()
        for i in range(0, n, args.batch):
            idx = perm[i:min(i + args.batch, n)]
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(xtr[idx]), ytr[idx])
            loss.backward()
            opt.step()
            sched.step()
        seconds.append(time.perf_counter() - t0)
    model.eval()
    with torch.no_grad():
        pred = torch.cat([model(xte[i:i + 1000]).argmax(1) for i in range(0, xte.shape[0], 1000)])
        acc = (pred == yte).float().mean().item()
    print(json.dumps({"framework": "pytorch", "torch": torch.__version__, "model": args.model,
                      "threads": args.threads, "batch": args.batch, "images": n,
                      "epoch_seconds": min(seconds), "images_per_second": n / min(seconds),
                      "mkldnn": torch.backends.mkldnn.is_available(), "test_acc": acc}))


if __name__ == "__main__":
    main()
