#!/usr/bin/python3
"""Data-parallel scaling model for `mpirun -np N lowbit train` (docs/DISTRIBUTED.md, issue 18).

A model, not a measurement: it predicts the epoch time of synchronous data-parallel training
on N nodes from one measured single-process epoch and the sizes of the collectives lowbit
issues per step. Standard library only.

  scripts/distributed_model.py [MODEL ...] [--markdown] [--nodes 1,2,4,...]
      [--epoch-seconds S --images I --batch B --params P --bn-channels C1,C2,...
       --overhead-ms O]          (one MODEL when overriding its inputs)
      [--network NAME:GBPS:LATENCY_US[:LO_US-HI_US] ...] [--bucket-bytes b]
      [--batch-scale K] [--compression C] [--small-allreduce ring|rd]

MODEL: lfc, cnv (the W1A1 presets; both by default) or any other name with every input given.

Per step (as the trainer does it: gradients all-reduced after backward, no overlap):
  t_step(N)    = t_compute(N) + t_comm(N)
  t_compute(N) = (t_step_1 - o) * K * ceil(K*B/N) / (K*B) + o
               t_step_1 = epoch_seconds / ceil(images / B), B = the measured global batch;
               ceil(K*B/N): images of the slowest rank (contiguous slices of the global batch;
               K*B/N when N divides it: perfect splitting of the batch-proportional work)
               o: non-splittable per-step work (every rank updates all parameters: Adam's
                  28 B/param of memory traffic plus the binary layers' per-step weight work)
               K: global batch multiple (what-if; 1 = the measured batch)
  t_comm(N)    = sum over buckets of AR(bucket bytes)           gradients, float32, G = 4 * params
               + sum over BN layers of AR(8 (C+1)) + AR(8 C)   sync BN forward: sums (+ count),
                                        + AR(16 C)              then squared deviations; backward:
                                                                sum dy and sum dy (x - mean)
               + AR(16 bytes)                                   metrics: loss, correct
  AR(n) ring   = 2 (N-1) alpha + 2 (N-1)/N * n * beta + (N-1)/N * n * gamma
               (Patarasuk & Yuan 2009; Thakur, Rabenseifner & Gropp 2005, with gamma the local
               reduction cost per byte)
  AR(n) rd     = ceil(log2 N) * (alpha + n * beta + n * gamma)   (recursive doubling, Thakur
               et al. 2005; what MPICH and Open MPI pick for small messages: the default for the
               BN and metric all-reduces; --small-allreduce ring prices them as rings too)
  epoch(N)     = ceil(images / (K * batch)) * t_step(N)
  overlap bound: the gradient all-reduce hidden behind compute as far as it can be (bucketed
               all-reduce during backward, PyTorch DDP / Horovod), BN and metric
               all-reduces stay on the critical path:
               t_step >= max(t_compute, t_grads) + t_bn + t_metric
  speed-up     = epoch_seconds / epoch(N) (against the measured single process at batch B);
  efficiency   = epoch_1 / (N * epoch(N)), epoch_1 the same scenario on one node (= speed-up / N
               for the measured configuration).
"""
import argparse
import math
import sys

# ---------------------------------------------------------------------------------------------
# Inputs (sources in docs/DISTRIBUTED.md "Scaling beyond this machine")

# Trainable float parameters (everything with a gradient: weights, BN gamma/beta, quantizer
# scales -- binary weights and activations have none) from
#   build/bin/lowbit summary --model lfc --weights binary --acts binary
#   build/bin/lowbit summary --model cnv --weights binary --acts binary   (input 1x32x32)
# Single-process epoch: docs/benchmarks/training-onednn-2026-12-01.log, row
# lowbit-W1A1-onednn (bench/train_speed_vs_pytorch.sh, Zen 3, 2 threads, batch 100, one
# rank = 2 vCPUs): LFC 4076.3 images/s over a full 60 000-image epoch, CNV 204.9 images/s
# over a 6 000-image epoch, scaled to 60 000 images.
PRESETS = {
    "lfc": {
        "label": "LFC W1A1",
        "params": 2916372,
        "bn_channels": [1024, 1024, 1024, 10],
        "epoch_seconds": 60000 / 4076.3,
        "images": 60000,
        "batch": 100,
    },
    "cnv": {
        "label": "CNV W1A1 (1x32x32)",
        "params": 1545556,
        "bn_channels": [64, 64, 128, 128, 256, 256, 512, 512, 10],
        "epoch_seconds": 60000 / 204.9,
        "images": 60000,
        "batch": 100,
    },
}

# Memory bandwidth one 2-vCPU rank sustains on streaming loops: BENCHMARKS.md (issue 15)
# profiles Adam at 13% of a float LFC step (22.9-27.0 ms at 4361-3704 images/s) for
# 28 B/param of traffic over 2 916 372 params: 23-27 GB/s.
MEM_GBS = 25.0
# Non-splittable bytes of memory traffic per parameter per step: Adam 28 (measured share
# above) + 12 for the binary layers' weight-side work each step (sign of the latent weights,
# XNOR packing, writing dW) -- an estimate.
OVERHEAD_BYTES_PER_PARAM = 40.0
# 1-bit compression with error feedback: compress (read grad + error, write error + bits)
# and decompress-sum-recompress in the reduce phase, ~16 B/param -- an estimate.
COMPRESS_BYTES_PER_PARAM = 16.0
# Local reduction: read two operands, write one = 3 bytes of traffic per byte reduced.
GAMMA_S_PER_BYTE = 3.0 / (MEM_GBS * 1e9)

# The trainer (src/lowbit/train/trainer.cpp, issue 18): one all-reduce of 2 doubles per step
# (loss, correct predictions), after forward.
METRIC_BYTES = 2 * 8
# src/lowbit/train/gradient_sync.hpp: kGradientBucketFloats = 2^22 (16 MiB). The trainer packs
# whole gradient tensors in parameter order into buckets of at most that (a larger tensor
# goes alone), which can take more buckets than the ceil(G / b) the model counts; LFC and
# CNV fit one bucket either way.
BUCKET_BYTES = 4 << 22

# name: (label, effective Gb/s, alpha us, alpha range us)
NETWORKS = {
    "10gbe": ("10 GbE, TCP", 9.4, 30.0, (20.0, 50.0)),
    "100g": ("100 Gb/s, RDMA (RoCE/InfiniBand)", 95.0, 3.0, (2.0, 5.0)),
}

DEFAULT_NODES = [1, 2, 4, 8, 16, 32, 64]


# ---------------------------------------------------------------------------------------------
# The model

def allreduce_ring(n_bytes, n, alpha, beta, gamma):
    """Ring all-reduce (reduce-scatter + allgather) of n_bytes over n ranks, seconds."""
    if n <= 1:
        return 0.0
    f = (n - 1) / n
    return 2 * (n - 1) * alpha + 2 * f * n_bytes * beta + f * n_bytes * gamma


def allreduce_rd(n_bytes, n, alpha, beta, gamma):
    """Recursive doubling: ceil(log2 n) rounds, each exchanging the whole message."""
    if n <= 1:
        return 0.0
    return math.ceil(math.log2(n)) * (alpha + n_bytes * (beta + gamma))


class Scenario:
    def __init__(self, name, batch_scale=1, compression=1.0, overlap=False):
        self.name, self.batch_scale, self.compression, self.overlap = name, batch_scale, compression, overlap


def step_parts(m, net, n, sc, small_algo, bucket_bytes):
    """(t_compute, t_grads, t_bn, t_metric) per step in seconds for n ranks."""
    _, gbps, alpha_us, _ = net
    alpha, beta, gamma = alpha_us * 1e-6, 8.0 / (gbps * 1e9), GAMMA_S_PER_BYTE
    small = allreduce_rd if small_algo == "rd" else allreduce_ring
    steps1 = math.ceil(m["images"] / m["batch"])
    t1 = m["epoch_seconds"] / steps1
    o = m["overhead_s"]
    # contiguous slices of the global batch: the slowest rank holds ceil(K*B / N) images
    global_batch = m["batch"] * sc.batch_scale
    t_compute = (t1 - o) * sc.batch_scale * math.ceil(global_batch / n) / global_batch + o
    g = 4 * m["params"]
    buckets = math.ceil(g / bucket_bytes)
    t_grads = 0.0
    for i in range(buckets):
        size = min(bucket_bytes, g - i * bucket_bytes)
        if sc.compression > 1:
            # signs packed 32 per float + one float32 scale per bucket; the sum of signs
            # is re-quantized after the reduce-scatter (two-phase compressed all-reduce)
            size = math.ceil(size / sc.compression) + 4
        t_grads += allreduce_ring(size, n, alpha, beta, gamma)
    if sc.compression > 1 and n > 1:
        t_compute += m["params"] * COMPRESS_BYTES_PER_PARAM / (MEM_GBS * 1e9)
    # src/lowbit/nn/batchnorm.cpp: C + 1 and C doubles in forward, 2 C doubles in backward
    t_bn = sum(small(8 * (c + 1), n, alpha, beta, gamma) + small(8 * c, n, alpha, beta, gamma) +
               small(16 * c, n, alpha, beta, gamma) for c in m["bn_channels"])
    t_metric = small(METRIC_BYTES, n, alpha, beta, gamma)
    return t_compute, t_grads, t_bn, t_metric


def predict(m, net, n, sc, small_algo, bucket_bytes):
    """One N: step parts, epoch seconds, speed-up against the measured single process, and
    parallel efficiency against the same scenario on one node."""

    def epoch_of(nodes):
        tc, tg, tb, tm = step_parts(m, net, nodes, sc, small_algo, bucket_bytes)
        step = (max(tc, tg) + tb + tm) if sc.overlap else (tc + tg + tb + tm)
        return math.ceil(m["images"] / (m["batch"] * sc.batch_scale)) * step, (tc, tg, tb, tm)

    epoch, (tc, tg, tb, tm) = epoch_of(n)
    one, _ = epoch_of(1)
    return {"n": n, "local_batch": math.ceil(m["batch"] * sc.batch_scale / n), "t_compute": tc, "t_grads": tg,
            "t_bn": tb, "t_metric": tm, "epoch": epoch, "speedup": m["epoch_seconds"] / epoch,
            "eff": one / (n * epoch)}


def stop_point(m, net, sc, small_algo, bucket_bytes, nodes):
    """Over the N of `nodes` (ascending): (largest N with efficiency >= 50% such that every
    smaller N has it too, N of the largest speed-up, that speed-up, whether a larger N of the
    list is slower)."""
    ps = [predict(m, net, n, sc, small_algo, bucket_bytes) for n in nodes]
    last50 = nodes[0]
    for p in ps:
        if p["eff"] < 0.5:
            break
        last50 = p["n"]
    best = max(ps, key=lambda p: p["speedup"])
    falls = any(p["n"] > best["n"] and p["speedup"] < best["speedup"] for p in ps)
    return last50, best["n"], best["speedup"], falls


# ---------------------------------------------------------------------------------------------
# Output

def fmt_ms(s):
    return f"{s * 1e3:.3g}" if s * 1e3 < 10 else f"{s * 1e3:.1f}"


def fmt_s(s):
    return f"{s:.2f}" if s < 10 else f"{s:.1f}"


class Table:
    def __init__(self, header, markdown):
        self.header, self.rows, self.markdown = header, [], markdown

    def add(self, row):
        self.rows.append([str(c) for c in row])

    def render(self):
        if self.markdown:
            out = ["| " + " | ".join(self.header) + " |", "|" + "---|" * len(self.header)]
            out += ["| " + " | ".join(r) + " |" for r in self.rows]
            return "\n".join(out)
        w = [max(len(x) for x in col) for col in zip(self.header, *self.rows)]
        line = lambda r: "  ".join(c.rjust(w[i]) for i, c in enumerate(r))
        return "\n".join([line(self.header), "  ".join("-" * x for x in w)] + [line(r) for r in self.rows])


def heading(text, level, markdown):
    return ("#" * level + " " + text) if markdown else (text + "\n" + ("=" if level <= 3 else "-") * len(text))


def network_line(net):
    label, gbps, alpha_us, (lo, hi) = net
    return f"{label}: B = {gbps:g} Gb/s effective, alpha = {alpha_us:g} us per message ({lo:g}-{hi:g} us plausible)"


def report(models, nets, nodes, args):
    md = args.markdown
    out = []
    k = args.batch_scale
    c = args.compression
    scenarios = [
        Scenario("base", 1, 1.0, False),
        Scenario("overlap bound", 1, 1.0, True),
        Scenario(f"{k:g}x batch", k, 1.0, False),
        Scenario(f"1-bit ({c:g}x fewer bytes)", 1, c, False),
        Scenario(f"{k:g}x batch + 1-bit", k, c, False),
        Scenario(f"{k:g}x batch + 1-bit + overlap", k, c, True),
    ]
    summary = Table(["model", "network", "scenario", "last N with efficiency >= 50% (alpha range)",
                     "fastest N", "its speed-up", "a larger N is slower"], md)
    for m in models:
        g = 4 * m["params"]
        buckets = math.ceil(g / args.bucket_bytes)
        steps = math.ceil(m["images"] / m["batch"])
        out.append(heading(m["label"], 3, md))
        out.append("")
        out.append(
            f"Inputs: {m['params']:,} float32 parameters with gradients, G = {g:,} bytes "
            f"({g / 2**20:.2f} MiB) per step in {buckets} bucket(s) of <= {args.bucket_bytes:,} bytes; "
            f"{len(m['bn_channels'])} BatchNorm layers ({sum(m['bn_channels']):,} channels): "
            f"{3 * len(m['bn_channels'])} sync-BN all-reduces (8(C+1), 8C and 16C bytes) + 1 metric all-reduce "
            f"per step ({args.small_allreduce}); measured single process {fmt_s(m['epoch_seconds'])} s/epoch = "
            f"{steps} steps of {fmt_ms(m['epoch_seconds'] / steps)} ms at batch {m['batch']}, "
            f"non-splittable {fmt_ms(m['overhead_s'])} ms/step.")
        out.append("")
        for net in nets:
            out.append(heading(network_line(net), 4, md))
            out.append("")
            t = Table(["N", "images/rank/step (max)", "compute ms/step", "grads all-reduce ms",
                       "BN+metric ms", "epoch s", "speed-up", "efficiency",
                       "overlap bound: epoch s", "speed-up"], md)
            for n in nodes:
                p = predict(m, net, n, scenarios[0], args.small_allreduce, args.bucket_bytes)
                q = predict(m, net, n, scenarios[1], args.small_allreduce, args.bucket_bytes)
                t.add([n, p["local_batch"], fmt_ms(p["t_compute"]), fmt_ms(p["t_grads"]),
                       fmt_ms(p["t_bn"] + p["t_metric"]), fmt_s(p["epoch"]), f"{p['speedup']:.2f}",
                       f"{100 * p['eff']:.0f}%", fmt_s(q["epoch"]), f"{q['speedup']:.2f}"])
            out.append(t.render())
            out.append("")
        out.append(heading(f"{m['label']}: what-if, speed-up against the measured single process "
                           f"(parallel efficiency against the same scenario on one node)", 4, md))
        out.append("")
        hdr = ["N"]
        for net in nets:
            for sc in scenarios:
                if sc.name != "overlap bound":
                    hdr.append(f"{net[0].split(',')[0]} {sc.name}")
        t = Table(hdr, md)
        for n in nodes:
            row = [n]
            for net in nets:
                for sc in scenarios:
                    if sc.name == "overlap bound":
                        continue
                    p = predict(m, net, n, sc, args.small_allreduce, args.bucket_bytes)
                    row.append(f"{p['speedup']:.2f} ({100 * p['eff']:.0f}%)")
            t.add(row)
        out.append(t.render())
        out.append("")
        for net in nets:
            for sc in scenarios:
                last50, best_n, best_s, falls = stop_point(m, net, sc, args.small_allreduce, args.bucket_bytes, nodes)
                rng = [stop_point(m, (net[0], net[1], a, net[3]), sc, args.small_allreduce, args.bucket_bytes,
                                  nodes)[0] for a in net[3]]
                summary.add([m["label"], net[0].split(",")[0], sc.name, f"{last50} ({min(rng)}-{max(rng)})",
                             best_n, f"{best_s:.2f}", "yes" if falls else "no"])
    out.append(heading("Where adding nodes stops paying", 3, md))
    out.append("")
    out.append("Over N = %s. Efficiency is against the same scenario on one node; speed-up against "
               "the measured single process. In brackets: the same at the ends of the network's "
               "plausible latency range." % ", ".join(str(n) for n in nodes))
    out.append("")
    out.append(summary.render())
    return "\n".join(out)


# ---------------------------------------------------------------------------------------------
# Command line

def parse_network(text):
    parts = text.split(":")
    if len(parts) not in (3, 4):
        raise argparse.ArgumentTypeError(f"network '{text}': expected NAME:GBPS:LATENCY_US[:LO-HI]")
    try:
        gbps, alpha = float(parts[1]), float(parts[2])
        lo, hi = (alpha, alpha) if len(parts) == 3 else tuple(float(x) for x in parts[3].split("-"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"network '{text}': GBPS and LATENCY_US must be numbers")
    if gbps <= 0 or alpha < 0 or lo < 0 or hi < lo:
        raise argparse.ArgumentTypeError(f"network '{text}': need GBPS > 0, 0 <= LO <= HI, latency >= 0")
    return (parts[0], gbps, alpha, (lo, hi))


def positive_int_list(text):
    try:
        v = [int(x) for x in text.split(",") if x]
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}': expected comma-separated integers")
    if not v or min(v) < 1:
        raise argparse.ArgumentTypeError(f"'{text}': every value must be >= 1")
    return v


def int_list_or_empty(text):
    return [] if text.strip() == "" else positive_int_list(text)


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument("models", nargs="*", default=["lfc", "cnv"], help="lfc, cnv, or a name with every input given")
    ap.add_argument("--markdown", action="store_true", help="markdown tables (default: aligned text)")
    ap.add_argument("--nodes", type=positive_int_list, default=DEFAULT_NODES, help="N values, e.g. 1,2,4,8")
    ap.add_argument("--epoch-seconds", type=float, help="measured single-process seconds per epoch (training only)")
    ap.add_argument("--images", type=int, help="training images per epoch")
    ap.add_argument("--batch", type=int, help="global batch of the measured run")
    ap.add_argument("--params", type=int, help="float parameters with gradients (lowbit summary's total)")
    ap.add_argument("--bn-channels", type=int_list_or_empty,
                    help="channels of every BatchNorm layer, e.g. 1024,1024,10 ('' for none)")
    ap.add_argument("--overhead-ms", type=float,
                    help=f"non-splittable ms per step (default: params * {OVERHEAD_BYTES_PER_PARAM:g} B / {MEM_GBS:g} GB/s)")
    ap.add_argument("--network", type=parse_network, action="append",
                    help="NAME:GBPS:LATENCY_US[:LO-HI] (repeatable; default 10 GbE TCP and 100 Gb RDMA)")
    ap.add_argument("--bucket-bytes", type=int, default=BUCKET_BYTES, help="gradient bucket size in bytes")
    ap.add_argument("--batch-scale", type=float, default=4, help="what-if: global batch multiple (linear LR scaling)")
    ap.add_argument("--compression", type=float, default=32, help="what-if: gradient bytes divided by this (1-bit: 32)")
    ap.add_argument("--small-allreduce", choices=["ring", "rd"], default="rd",
                    help="algorithm of the BN and metric all-reduces: ring or recursive doubling")
    args = ap.parse_args(argv)

    overrides = {k: getattr(args, k) for k in ("epoch_seconds", "images", "batch", "params", "bn_channels")}
    given = {k: v for k, v in overrides.items() if v is not None}
    if (given or args.overhead_ms is not None) and len(args.models) != 1:
        ap.error("give exactly one MODEL when overriding its inputs")
    if args.bucket_bytes < 4 or args.batch_scale <= 0 or args.compression < 1:
        ap.error("--bucket-bytes >= 4, --batch-scale > 0, --compression >= 1")
    models = []
    for name in args.models:
        m = dict(PRESETS.get(name.lower(), {"label": name}))
        m.update(given)
        missing = [k for k in overrides if k not in m]
        if missing:
            ap.error(f"model '{name}' is not a preset (lfc, cnv): give --" +
                     ", --".join(x.replace("_", "-") for x in missing))
        if m["epoch_seconds"] <= 0 or m["images"] < 1 or m["batch"] < 1 or m["params"] < 1:
            ap.error(f"model '{name}': epoch seconds, images, batch and params must be positive")
        m["overhead_s"] = (args.overhead_ms * 1e-3 if args.overhead_ms is not None
                           else m["params"] * OVERHEAD_BYTES_PER_PARAM / (MEM_GBS * 1e9))
        t1 = m["epoch_seconds"] / math.ceil(m["images"] / m["batch"])
        if not 0 <= m["overhead_s"] < t1:
            ap.error(f"model '{name}': the overhead ({m['overhead_s'] * 1e3:.3g} ms) must be below the "
                     f"measured step ({t1 * 1e3:.3g} ms)")
        models.append(m)
    nets = args.network or list(NETWORKS.values())
    print(report(models, nets, sorted(set(args.nodes)), args))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
