#!/usr/bin/python3
"""Calibration sweep of lowbit's MVAU (docs/SYNTHESIS.md, "Calibration").

Synthesizes lb_mvau (src/lowbit/hw/verilog/lb_mvau.v) alone with yosys's synth_xilinx
across SIMD 8..512 and PE 1..16 (XNOR W1A1, and a few W2A2 points), counts the cells, fits
the per-lane LUT coefficients of lowbit's calibrated model (src/lowbit/hw/calibrated_model.cpp)
by least squares, prints every point's fit error and the largest, and writes
  --json   the calibration file `lowbit hw plan/synth --calibration` reads
  --csv    the sweep's points and yosys's counts (tests/hw/rtl_synth_test.cpp re-checks the
           C++ model against them, so the fit here and the model there cannot drift apart)

  scripts/hw_synth_sweep.py [--family xc7] [--quick] [--json F] [--csv F] [--work DIR]

Each point is a layer of the MVAU's usual shape: MW = 16 SIMD columns, MH = 32 PE rows
(weights NF*SF = 512 words deep: block RAM, as in real layers), random weights and random
ascending thresholds (one per row for W1A1, three for A2), input buffer included (NF > 1).
Needs yosys (Debian's package yosys). Runs one yosys at a time.
"""
import argparse
import json
import os
import random
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
MVAU = os.path.join(ROOT, "src", "lowbit", "hw", "verilog", "lb_mvau.v")

# Cells yosys's synth_xilinx leaves, by resource (docs/SYNTHESIS.md, "What is counted"):
# LUT sites used as memory (LUTRAM and shift registers), per cell.
LUTRAM_SITES = {"RAM16X1S": 1, "RAM32X1S": 1, "RAM64X1S": 1, "RAM128X1S": 2, "RAM256X1S": 4,
                "RAM16X1D": 2, "RAM32X1D": 2, "RAM64X1D": 2, "RAM128X1D": 4, "RAM256X1D": 8,
                "RAM32M": 4, "RAM64M": 4, "RAM32M16": 8, "RAM64M8": 8, "SRL16E": 1, "SRLC32E": 1,
                "SRLC16E": 1}


def clog2(v):
    b = 0
    while (1 << b) < v:
        b += 1
    return b


def signed_bits(lo, hi):
    """Bits of the smallest two's-complement type holding [lo, hi]."""
    b = 1
    while not (-(1 << (b - 1)) <= lo and hi <= (1 << (b - 1)) - 1):
        b += 1
    return b


class Point:
    """One sweep point: an lb_mvau of SIMD x PE lanes, W weight bits, A input bits."""

    def __init__(self, simd, pe, w, a, sf=16, nf=32):
        self.simd, self.pe, self.w, self.a = simd, pe, w, a
        self.mw, self.mh = simd * sf, pe * nf
        self.xnor = w == 1 and a == 1
        # Values: +-1 (1 bit), else signed W-bit weights and unsigned A-bit inputs.
        wabs = 1 if w == 1 else (1 << (w - 1))
        vmax = 1 if a == 1 else (1 << a) - 1
        self.sw = signed_bits(-simd * wabs * vmax, simd * wabs * vmax)
        self.aw = signed_bits(-self.mw * wabs * vmax, self.mw * wabs * vmax)
        self.nt = 1 if a == 1 else (1 << a) - 1  # thresholds per row into A-bit outputs
        self.ob = a

    @property
    def name(self):
        return "w%da%d_simd%d_pe%d" % (self.w, self.a, self.simd, self.pe)

    def params(self):
        return [("MW", self.mw), ("MH", self.mh), ("SIMD", self.simd), ("PE", self.pe),
                ("IB", self.a), ("IN_MODE", 0 if self.a == 1 else 1), ("IN_ZP", 0),
                ("WB", self.w), ("W_MODE", 0 if self.w == 1 else 1), ("SW", self.sw), ("AW", self.aw),
                ("NT", self.nt), ("OB", self.ob), ("WFILE", '"weights.mem"'), ("TFILE", '"thresholds.mem"')]

    def write(self, folder, rng):
        os.makedirs(folder, exist_ok=True)
        nf, sf = self.mh // self.pe, self.mw // self.simd
        width = self.pe * self.simd * self.w
        with open(os.path.join(folder, "weights.mem"), "w") as f:
            for _ in range(nf * sf):
                f.write("%0*x\n" % ((width + 3) // 4, rng.getrandbits(width)))
        tw = self.pe * self.nt * self.aw
        with open(os.path.join(folder, "thresholds.mem"), "w") as f:
            # Thresholds in the middle half of the accumulator's range, like trained ones.
            span = max(1, self.mw * (1 if self.w == 1 else 1 << (self.w - 1)) * (1 if self.a == 1 else (1 << self.a) - 1) // 4)
            for _ in range(nf):
                word = 0
                for p in range(self.pe):
                    ts = sorted(rng.randint(-span, span) for _ in range(self.nt))
                    for t, v in enumerate(ts):
                        word |= (v & ((1 << self.aw) - 1)) << ((p * self.nt + t) * self.aw)
                f.write("%0*x\n" % ((tw + 3) // 4, word))
        inw, outw = self.simd * self.a, self.pe * self.ob
        ps = ", ".join(".%s(%s)" % kv for kv in self.params())
        with open(os.path.join(folder, "top.v"), "w") as f:
            f.write("module sweep_top(input wire clk, input wire rst, input wire in_valid, output wire in_ready,\n"
                    "  input wire [%d:0] in_data, output wire out_valid, input wire out_ready, output wire [%d:0] out_data);\n"
                    "  lb_mvau #(%s) u(.clk(clk), .rst(rst), .in_valid(in_valid), .in_ready(in_ready), .in_data(in_data),\n"
                    "    .out_valid(out_valid), .out_ready(out_ready), .out_data(out_data));\nendmodule\n" % (inw - 1, outw - 1, ps))


def synthesize(pt, folder, family):
    """yosys's cell counts of the point: {cell type: count}, and the seconds it took."""
    script = ("read_verilog -defer %s top.v; synth_xilinx -flatten -noiopad -family %s -top sweep_top; "
              "tee -q -o stat.json stat -json" % (MVAU, family))
    t0 = time.time()
    with open(os.path.join(folder, "yosys.log"), "w") as log:
        r = subprocess.run(["yosys", "-q", "-p", script], cwd=folder, stdout=log, stderr=subprocess.STDOUT)
    if r.returncode != 0:
        sys.exit("yosys failed on %s (exit %d): see %s/yosys.log" % (pt.name, r.returncode, folder))
    with open(os.path.join(folder, "stat.json")) as f:
        stat = json.load(f)
    return stat["modules"]["\\sweep_top"]["num_cells_by_type"], time.time() - t0


def counts(cells):
    lut = sum(n for c, n in cells.items() if c in ("LUT1", "LUT2", "LUT3", "LUT4", "LUT5", "LUT6"))
    lutram = sum(LUTRAM_SITES[c] * n for c, n in cells.items() if c in LUTRAM_SITES)
    ff = sum(n for c, n in cells.items() if c.startswith("FD"))
    bram = sum(n * (2 if c.startswith("RAMB36") else 1) for c, n in cells.items() if c.startswith("RAMB"))
    dsp = sum(n for c, n in cells.items() if c.startswith("DSP"))
    return {"lut": lut, "lutram": lutram, "ff": ff, "bram18": bram, "dsp": dsp, "carry": cells.get("CARRY4", 0)}


# --- lowbit's calibrated model of the point, as src/lowbit/hw/calibrated_model.cpp computes it
# (the test re-checks the C++ against the CSV, so a drift fails there).
DEVICE = {"xc7": (53200, 280), "xcup": (70560, 432), "xcu": (663360, 4320)}  # LUTs, RAMB18s of the share rule's part


def ceil_div(a, b):
    return -(-a // b)


def bram_tiles(depth, width):
    return min(ceil_div(depth, d) * ceil_div(width, w) for d, w in ((16384, 1), (8192, 2), (4096, 4), (2048, 9), (1024, 18), (512, 36)))


def lutram_luts(depth, width, single_port=False):
    """6-LUTs of a LUT memory: 64 x 1 per LUT; a single-port one of <= 32 words, 32 x 2 (RAM32M)."""
    if single_port and depth <= 32:
        return ceil_div(width, 2)
    return ceil_div(depth, 64) * width


def memory(depth, width, family, single_port=False):
    """(LUTs, RAMB18s) of an "auto" memory: the smaller share of the part wins."""
    luts, brams = DEVICE[family]
    lut = lutram_luts(depth, width, single_port)
    b = bram_tiles(depth, width)
    return (lut, 0) if lut / luts <= b / brams else (0, b)


def model_parts(pt, family):
    """The point's features (the coefficients' multipliers) and its memories' (LUTs, RAMB18s)."""
    nf, sf = pt.mh // pt.pe, pt.mw // pt.simd
    lanes = pt.pe * pt.simd
    feats = {"unit_control": 1.0,
             "xnor_lane": lanes if pt.xnor else 0.0,
             "mac_bit": 0.0 if pt.xnor else lanes * pt.w * pt.a,
             "add_bit": 0.0 if pt.xnor else lanes * pt.sw,
             "acc_bit": pt.pe * pt.aw,
             "compare_bit": pt.pe * pt.nt * pt.aw}
    mems = [memory(nf * sf, pt.pe * pt.simd * pt.w, family), memory(nf, pt.pe * pt.nt * pt.aw, family)]
    if nf > 1:
        mems.append(memory(sf, pt.simd * pt.a, family, single_port=True))
    return feats, (sum(m[0] for m in mems), sum(m[1] for m in mems))


KEYS = ["xnor_lane", "mac_bit", "add_bit", "acc_bit", "compare_bit", "unit_control"]


def solve(a, b):
    """Solves the square system a x = b (Gaussian elimination, partial pivoting)."""
    n = len(b)
    m = [row[:] + [b[i]] for i, row in enumerate(a)]
    for c in range(n):
        p = max(range(c, n), key=lambda r: abs(m[r][c]))
        if abs(m[p][c]) < 1e-12:
            raise ValueError("singular")
        m[c], m[p] = m[p], m[c]
        for r in range(n):
            if r != c:
                f = m[r][c] / m[c][c]
                for k in range(c, n + 1):
                    m[r][k] -= f * m[c][k]
    return [m[i][n] / m[i][i] for i in range(n)]


def fit(rows):
    """Least squares on relative error (each point weighted 1/yosys^2) of the LUTs the
    memories leave, with every coefficient >= 0 (read_calibration's range): exact
    non-negative least squares by trying every subset of the coefficients the points can
    tell apart and keeping the best fit whose coefficients are all >= 0 (6 coefficients:
    64 small solves)."""
    usable = [k for k in KEYS if any(r["feats"][k] for r in rows)]
    best, best_err = None, None
    for mask in range(1 << len(usable)):
        active = [k for i, k in enumerate(usable) if mask >> i & 1]
        ata = [[0.0] * len(active) for _ in active]
        atb = [0.0] * len(active)
        for r in rows:
            wgt = 1.0 / (r["target"] ** 2)
            x = [r["feats"][k] for k in active]
            y = r["target"] - r["mem_lut"]
            for i in range(len(active)):
                atb[i] += wgt * x[i] * y
                for j in range(len(active)):
                    ata[i][j] += wgt * x[i] * x[j]
        try:
            sol = solve(ata, atb) if active else []
        except ValueError:
            continue  # collinear (e.g. acc and compare bits when every row has one threshold)
        if any(c < 0 for c in sol):
            continue
        coef = {k: (sol[active.index(k)] if k in active else 0.0) for k in KEYS}
        err = sum(((predict(coef, r) - r["target"]) / r["target"]) ** 2 for r in rows)
        if best_err is None or err < best_err - 1e-12:
            best, best_err = coef, err
    return best


def predict(coef, r):
    return r["mem_lut"] + sum(coef[k] * r["feats"][k] for k in KEYS)


POINTS_W1A1 = [(8, 1), (16, 2), (32, 1), (32, 4), (8, 16), (16, 16), (64, 8), (128, 1), (128, 4), (128, 16),
               (256, 2), (256, 8), (512, 1), (512, 4), (512, 16)]
# (W, A, SIMD, PE). No W4A4: yosys maps its 6 x 5-bit lane products to one DSP48 each, which
# the model counts only under resType dsp (docs/SYNTHESIS.md, "Calibration").
POINTS_MULTI = [(2, 2, 8, 1), (2, 2, 16, 4), (2, 2, 32, 2), (2, 2, 64, 1), (1, 2, 32, 2), (2, 1, 32, 2), (2, 4, 16, 2)]
QUICK_W1A1 = [(8, 1), (32, 1), (32, 4), (64, 8), (128, 1)]
QUICK_MULTI = [(2, 2, 8, 1), (2, 2, 32, 2)]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    ap.add_argument("--family", default="xc7", choices=sorted(DEVICE), help="synth_xilinx -family (default xc7)")
    ap.add_argument("--quick", action="store_true", help="a few small points only (a minute; for trying the flow)")
    ap.add_argument("--json", default=None, help="calibration file to write (default: docs/hw/calibration-FAMILY.json)")
    ap.add_argument("--csv", default=None, help="sweep table to write (default: docs/hw/mvau-sweep-FAMILY.csv)")
    ap.add_argument("--work", default="/tmp/lowbit_synth_sweep", help="working folder (designs, yosys logs)")
    ap.add_argument("--seed", type=int, default=1, help="seed of the random weights and thresholds")
    ap.add_argument("--refit", metavar="CSV", help="fit again from a sweep table this script wrote (no synthesis)")
    args = ap.parse_args()
    if args.refit:
        return report(refit_rows(args.refit, args.family), args, 0.0)
    if subprocess.run(["sh", "-c", "command -v yosys"], stdout=subprocess.DEVNULL).returncode != 0:
        sys.exit("yosys not found on PATH: install Debian's package yosys")
    if not os.path.exists(MVAU):
        sys.exit("%s: missing (run from a lowbit checkout)" % MVAU)
    pts = [Point(s, p, 1, 1) for s, p in (QUICK_W1A1 if args.quick else POINTS_W1A1)]
    pts += [Point(s, p, w, a) for w, a, s, p in (QUICK_MULTI if args.quick else POINTS_MULTI)]
    rows = []
    t_all = time.time()
    for pt in pts:
        folder = os.path.join(args.work, pt.name)
        pt.write(folder, random.Random("%d/%s" % (args.seed, pt.name)))
        cells, secs = synthesize(pt, folder, args.family)
        c = counts(cells)
        feats, (mem_lut, mem_bram) = model_parts(pt, args.family)
        rows.append({"pt": pt, "counts": c, "secs": secs, "feats": feats, "mem_lut": mem_lut, "mem_bram": mem_bram,
                     "target": c["lut"] + c["lutram"]})
        print("%-22s %6.1f s  LUT %6d  LUTRAM %4d  FF %6d  RAMB18 %4d  DSP %d" %
              (pt.name, secs, c["lut"], c["lutram"], c["ff"], c["bram18"], c["dsp"]), flush=True)
    return report(rows, args, time.time() - t_all)


def refit_rows(path, family):
    """The rows of a sweep table (the CSV this script writes)."""
    rows = []
    with open(path) as f:
        head = f.readline().strip().split(",")
        for line in f:
            v = dict(zip(head, line.strip().split(",")))
            pt = Point(int(v["simd"]), int(v["pe"]), int(v["w"]), int(v["a"]),
                       sf=int(v["mw"]) // int(v["simd"]), nf=int(v["mh"]) // int(v["pe"]))
            c = {k: int(v[k]) for k in ("lut", "lutram", "ff", "bram18", "dsp")}
            feats, (mem_lut, mem_bram) = model_parts(pt, family)
            rows.append({"pt": pt, "counts": c, "secs": float(v["seconds"]), "feats": feats, "mem_lut": mem_lut,
                         "mem_bram": mem_bram, "target": c["lut"] + c["lutram"]})
    return rows


def report(rows, args, seconds):
    out_json = args.json or os.path.join(ROOT, "docs", "hw", "calibration-%s.json" % args.family)
    out_csv = args.csv or os.path.join(ROOT, "docs", "hw", "mvau-sweep-%s.csv" % args.family)
    coef = fit(rows)
    print("\nFit (LUT + LUTRAM sites = memories' LUTs + sum coefficient x feature), %d points, %.0f s of yosys:"
          % (len(rows), seconds or sum(r["secs"] for r in rows)))
    print("  " + ", ".join("%s %.4g" % (k, coef[k]) for k in KEYS))
    print("\n| point | W | A | SIMD | PE | MW | MH | yosys LUT | LUTRAM | FF | RAMB18 | model LUT | error | model RAMB18 | yosys s |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    worst = 0.0
    for r in rows:
        pt, c = r["pt"], r["counts"]
        pred = predict(coef, r)
        err = (pred - r["target"]) / r["target"]
        worst = max(worst, abs(err))
        print("| %s | %d | %d | %d | %d | %d | %d | %d | %d | %d | %d | %.0f | %+.1f%% | %d | %.0f |" %
              (pt.name, pt.w, pt.a, pt.simd, pt.pe, pt.mw, pt.mh, c["lut"], c["lutram"], c["ff"], c["bram18"], pred,
               100 * err, r["mem_bram"], r["secs"]))
    print("\nLargest relative error: %.1f%% (acceptance: 15%%)" % (100 * worst))
    os.makedirs(os.path.dirname(out_json), exist_ok=True)
    cal = {"source": "lowbit scripts/hw_synth_sweep.py: yosys 0.23 synth_xilinx -family %s, lb_mvau, %d points, "
                     "max error %.1f%%" % (args.family, len(rows), 100 * worst)}
    for k in KEYS:
        cal[k] = round(coef[k], 4)
    with open(out_json, "w") as f:
        json.dump(cal, f, indent=1)
        f.write("\n")
    with open(out_csv, "w") as f:
        f.write("w,a,simd,pe,mw,mh,acc_bits,thresholds,lut,lutram,ff,bram18,dsp,seconds\n")
        for r in rows:
            pt, c = r["pt"], r["counts"]
            f.write("%d,%d,%d,%d,%d,%d,%d,%d,%d,%d,%d,%d,%d,%.1f\n" % (pt.w, pt.a, pt.simd, pt.pe, pt.mw, pt.mh, pt.aw, pt.nt,
                                                                       c["lut"], c["lutram"], c["ff"], c["bram18"], c["dsp"], r["secs"]))
    print("Wrote %s and %s" % (out_json, out_csv))
    return 0 if worst <= 0.15 else 1


if __name__ == "__main__":
    sys.exit(main())
