#!/usr/bin/env python3
"""Float32 PyTorch inference twin of lowbit's `lfc` and `cnv` presets, for timing only.

The weights are random (the network is never trained): only speed is measured, and
a float network computes the same amount whatever its weights. Topology as
src/lowbit/nn/presets.cpp builds the float preset (default activation ReLU; --activation
hardtanh for `--activation hardtanh` models):
  lfc  flatten 784 -> [Linear(no bias) 1024, BatchNorm1d, act] x3 -> Linear(no bias) 10, BatchNorm1d
  cnv  1x32x32 -> [Conv 3x3 (no padding, no bias), BatchNorm2d, act] 64, 64, MaxPool 2,
       128, 128, MaxPool 2, 256, 256 (-> 256x1x1), flatten,
       [Linear(no bias) 512, BatchNorm1d, act] x2 -> Linear(no bias) 10, BatchNorm1d
Dropout is the identity in eval mode and is left out.

Measured as `lowbit bench` measures the runtime: one batch of random uint8 images at the
network's input shape (lfc 1x28x28, cnv 1x32x32 -- Fashion-MNIST centre-padded, as the
runtime's .lbm input), forward passes of that batch repeated for about --seconds (and at
least 10 calls); each timed call converts the uint8 images to float32 in [0, 1] and runs
the model under torch.inference_mode() in eval mode, and takes the argmax (the runtime
returns predictions too). fps = batch * calls / total seconds;
latency percentiles use the same index as lowbit bench (sorted[min(n-1, int(q*n))]).

Variants: eager (default); --jit: torch.jit.trace + torch.jit.optimize_for_inference
(freezes, folds BatchNorm into the conv/linear weights, and for convolutions switches to
oneDNN/MKL-DNN layouts); --channels-last (cnv only, eager or with --jit).

Prints one JSON line: framework, model, variant, fps, latency_us_p50, latency_us_p99,
batch, threads, calls, torch.
"""
import argparse, json, time

import torch
import torch.nn as nn


def act(name):
    return nn.ReLU() if name == "relu" else nn.Hardtanh()


def lfc(a):
    layers, fan_in = [nn.Flatten()], 784
    for _ in range(3):
        layers += [nn.Linear(fan_in, 1024, bias=False), nn.BatchNorm1d(1024), act(a)]
        fan_in = 1024
    layers += [nn.Linear(fan_in, 10, bias=False), nn.BatchNorm1d(10)]
    return nn.Sequential(*layers)


def cnv(a):
    layers, c = [], 1

    def conv(f):
        nonlocal c
        layers.extend([nn.Conv2d(c, f, 3, padding=0, bias=False), nn.BatchNorm2d(f), act(a)])
        c = f

    conv(64), conv(64)
    layers.append(nn.MaxPool2d(2))
    conv(128), conv(128)
    layers.append(nn.MaxPool2d(2))
    conv(256), conv(256)
    layers.append(nn.Flatten())
    fan_in = 256  # 32 -> 30 -> 28 -> 14 -> 12 -> 10 -> 5 -> 3 -> 1
    for _ in range(2):
        layers += [nn.Linear(fan_in, 512, bias=False), nn.BatchNorm1d(512), act(a)]
        fan_in = 512
    layers += [nn.Linear(fan_in, 10, bias=False), nn.BatchNorm1d(10)]
    return nn.Sequential(*layers)


def randomize_bn(model, gen):
    # Non-trivial running statistics, so nothing could fold into an identity.
    for m in model.modules():
        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            m.running_mean.copy_(torch.randn(m.num_features, generator=gen) * 0.1)
            m.running_var.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
            m.weight.data.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
            m.bias.data.copy_(torch.randn(m.num_features, generator=gen) * 0.1)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", choices=["lfc", "cnv"], required=True)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--activation", choices=["relu", "hardtanh"], default="relu")
    ap.add_argument("--jit", action="store_true", help="torch.jit.trace + torch.jit.optimize_for_inference")
    ap.add_argument("--channels-last", action="store_true", help="cnv: channels_last memory format")
    args = ap.parse_args()
    if args.channels_last and args.model != "cnv":
        ap.error("--channels-last applies to cnv only")

    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)
    gen = torch.Generator().manual_seed(1)
    torch.manual_seed(1)
    model = (lfc if args.model == "lfc" else cnv)(args.activation)
    randomize_bn(model, gen)
    model.eval()
    shape = (args.batch, 784) if args.model == "lfc" else (args.batch, 1, 32, 32)
    images = torch.randint(0, 256, shape, dtype=torch.uint8, generator=gen)
    fmt = torch.channels_last if args.channels_last else torch.contiguous_format
    if args.channels_last:
        model = model.to(memory_format=fmt)

    def prep(x):  # uint8 -> float32 in [0, 1], inside the timed call
        x = x.to(torch.float32).mul_(1.0 / 255.0)
        return x.contiguous(memory_format=fmt) if args.channels_last else x

    if args.jit:
        with torch.no_grad():
            traced = torch.jit.trace(model, prep(images))
            model = torch.jit.optimize_for_inference(torch.jit.freeze(traced))

    variant = ("jit" if args.jit else "eager") + ("+channels_last" if args.channels_last else "")
    with torch.inference_mode():
        # Warm-up: the JIT's profiling executor specializes over the first calls.
        t_end = time.perf_counter() + min(1.0, max(0.2, 0.1 * args.seconds))
        n = 0
        while n < 3 or time.perf_counter() < t_end:
            model(prep(images)).argmax(1)
            n += 1
        lat = []
        start = time.perf_counter()
        total = 0.0
        while total < args.seconds or len(lat) < 10:
            t0 = time.perf_counter()
            model(prep(images)).argmax(1)
            t1 = time.perf_counter()
            lat.append((t1 - t0) * 1e6)
            total = t1 - start
    fps = args.batch * len(lat) / total
    lat.sort()
    pct = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))]
    print(json.dumps({"framework": "pytorch", "model": args.model, "variant": variant, "fps": fps,
                      "latency_us_p50": pct(0.50), "latency_us_p99": pct(0.99), "batch": args.batch,
                      "threads": torch.get_num_threads(), "calls": len(lat), "torch": torch.__version__}))


if __name__ == "__main__":
    main()
