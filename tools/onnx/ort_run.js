#!/usr/bin/env node
// ONNX Runtime (CPU, onnxruntime-node) on a standard ONNX graph of `lowbit export --format onnx`
// (docs/INTEROP.md): the peer implementation of scripts/interop_check.sh and the speed peer of
// bench/onnxruntime_vs_lowbit.sh.
//
//   node tools/onnx/ort_run.js MODEL.onnx --images IDX[.gz] [--limit N] [--batch B] [--threads T]
//        --predictions OUT.txt [--scores OUT.txt]
//   node tools/onnx/ort_run.js MODEL.onnx --bench [--batch B] [--threads T] [--seconds S] [--images IDX[.gz]]
//
// Classify: raw pixels 0..255 as float32 into `global_in` (smaller images centre-padded with
// pixel 0, offset (outer - inner) / 2; a flat input [N, F] gets each image in (c, y, x) order),
// one predicted class per line from the graph's `label` output, checked equal to the first
// highest of `global_out` (std::max_element's rule) on every image. --scores: each image's
// scores as the hex bit patterns of the float32s, one line per image (qonnx_eval.py writes the
// same), for bit-exact comparisons.
// Bench: repeated runs on one fixed batch (the first B images of --images, else pseudo-random
// pixels), after warm-up; prints one JSON object with frames_per_second.
// Sessions: intraOpNumThreads T (default 1), interOpNumThreads 1, graphOptimizationLevel 'all'
// (--optimization), the CPU execution provider. ORT's optimizations may reassociate float
// arithmetic (e.g. fold a Mul by a constant into the Conv before it): for float (not integer)
// graph parts, such as SYQ's scaled group sums, `--optimization disabled` runs the graph as
// written (docs/interop/acceptance.md). Install: cd tools/onnx && npm ci --ignore-scripts (or
// scripts/install-deps.sh).
'use strict';

const fs = require('fs');
const path = require('path');
const zlib = require('zlib');

function die(msg, code = 1) {
  process.stderr.write(`ort_run.js: ${msg}\n`);
  process.exit(code);
}

let ort;
try {
  ort = require('onnxruntime-node');
} catch (e) {
  die(`onnxruntime-node is not installed (cd ${path.relative(process.cwd(), __dirname) || '.'} && ` +
      `npm ci --ignore-scripts): ${e.message.split('\n')[0]}`);
}

const USAGE = `usage: node ort_run.js MODEL.onnx --images IDX[.gz] [--limit N (default: all)] [--batch B] [--threads T] --predictions OUT.txt [--scores OUT.txt]
       node ort_run.js MODEL.onnx --bench [--batch B] [--threads T] [--seconds S] [--images IDX[.gz]]
       either: [--optimization disabled|basic|extended|all]   (ORT's graphOptimizationLevel, default all)`;

function parseArgs(argv) {
  const a = { model: null, images: null, limit: 0, batch: null, threads: 1, predictions: null, scores: null,
              bench: false, seconds: 2, optimization: 'all' };
  const intOpt = { '--limit': 'limit', '--batch': 'batch', '--threads': 'threads' };
  for (let i = 0; i < argv.length; ++i) {
    const f = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) die(`${f} needs a value\n${USAGE}`, 2);
      return argv[++i];
    };
    if (f === '-h' || f === '--help') { console.log(USAGE); process.exit(0); }
    else if (f === '--bench') a.bench = true;
    else if (f === '--images') a.images = value();
    else if (f === '--predictions') a.predictions = value();
    else if (f === '--scores') a.scores = value();
    else if (f === '--optimization') {
      a.optimization = value();
      if (!['disabled', 'basic', 'extended', 'all'].includes(a.optimization))
        die(`--optimization must be disabled, basic, extended or all, got '${a.optimization}'`, 2);
    }
    else if (f === '--seconds') {
      a.seconds = Number(value());
      if (!(a.seconds > 0)) die(`--seconds must be a positive number`, 2);
    } else if (f in intOpt) {
      const v = value();
      if (!/^[0-9]+$/.test(v) || parseInt(v, 10) < 1) die(`${f} must be a whole number of at least 1, got '${v}'`, 2);
      a[intOpt[f]] = parseInt(v, 10);
    } else if (f.startsWith('-')) die(`unknown option ${f}\n${USAGE}`, 2);
    else if (a.model === null) a.model = f;
    else die(`unexpected argument ${f}\n${USAGE}`, 2);
  }
  if (a.model === null) die(`no model given\n${USAGE}`, 2);
  if (a.batch === null) a.batch = a.bench ? 1 : 100;
  if (a.batch < 1) die('--batch must be >= 1', 2);
  if (a.threads < 1) die('--threads must be >= 1', 2);
  if (!a.bench && (!a.images || !a.predictions)) die(`--images and --predictions are required\n${USAGE}`, 2);
  return a;
}

// idx file of unsigned bytes (raw or gzip): { n, c, h, w, pixels: Uint8Array }.
function readIdx(file) {
  let data = fs.readFileSync(file);
  if (data.length >= 2 && data[0] === 0x1f && data[1] === 0x8b) data = zlib.gunzipSync(data);
  if (data.length < 4 || data[0] !== 0 || data[1] !== 0 || data[2] !== 0x08)
    die(`${file}: not an idx file of unsigned bytes`);
  const ndim = data[3];
  if (ndim !== 3 && ndim !== 4) die(`${file}: idx file with ${ndim} dimensions; images need 3 (n, h, w) or 4 (n, c, h, w)`);
  const dims = [];
  for (let i = 0; i < ndim; ++i) dims.push(data.readUInt32BE(4 + 4 * i));
  const [n, c, h, w] = ndim === 3 ? [dims[0], 1, dims[1], dims[2]] : dims;
  const offset = 4 + 4 * ndim;
  if (data.length < offset + n * c * h * w) die(`${file}: fewer pixels than the header's ${dims.join('x')}`);
  return { n, c, h, w, pixels: new Uint8Array(data.buffer, data.byteOffset + offset, n * c * h * w) };
}

// The model's input geometry from the session: { flat, c, h, w, features }.
function inputGeometry(session) {
  if (!session.inputNames.includes('global_in')) die(`the model has no input 'global_in' (inputs: ${session.inputNames})`);
  for (const o of ['global_out', 'label'])
    if (!session.outputNames.includes(o)) die(`the model has no output '${o}' (outputs: ${session.outputNames}); ` +
                                               `is it a --format onnx export?`);
  const meta = (session.inputMetadata || []).find((m) => m.name === 'global_in');
  if (!meta || !meta.shape || meta.shape.length === 0) die(`this onnxruntime-node gives no input shape metadata`);
  const s = meta.shape.slice(1);
  if (s.some((d) => typeof d !== 'number')) die(`global_in has symbolic non-batch dimensions: [${meta.shape}]`);
  if (s.length === 1) return { flat: true, c: 1, h: 1, w: s[0], features: s[0] };
  if (s.length === 3) return { flat: false, c: s[0], h: s[1], w: s[2], features: s[0] * s[1] * s[2] };
  die(`global_in has shape [${meta.shape}], neither [N, C, H, W] nor [N, F]`);
}

// Images [first, first + count) as float32 in the model's layout.
function modelBatch(img, geo, first, count) {
  const out = new Float32Array(count * geo.features);
  const size = img.c * img.h * img.w;
  if (geo.flat) {
    if (size !== geo.features) die(`a flat input of ${geo.features} features, the images have ${img.c}x${img.h}x${img.w}`);
    for (let i = 0; i < count * size; ++i) out[i] = img.pixels[first * size + i];
    return out;
  }
  if (img.c !== geo.c || img.h > geo.h || img.w > geo.w)
    die(`images ${img.c}x${img.h}x${img.w} do not fit the input ${geo.c}x${geo.h}x${geo.w}`);
  const top = Math.floor((geo.h - img.h) / 2), left = Math.floor((geo.w - img.w) / 2);
  for (let i = 0; i < count; ++i)
    for (let c = 0; c < img.c; ++c)
      for (let y = 0; y < img.h; ++y) {
        const src = (((first + i) * img.c + c) * img.h + y) * img.w;
        const dst = ((i * geo.c + c) * geo.h + top + y) * geo.w + left;
        for (let x = 0; x < img.w; ++x) out[dst + x] = img.pixels[src + x];
      }
  return out;
}

// std::max_element's first highest (a NaN never replaces an earlier value).
function argmaxFirst(scores, row, k) {
  let best = 0;
  for (let c = 1; c < k; ++c) if (scores[row * k + best] < scores[row * k + c]) best = c;
  return best;
}

// A float32's bit pattern as 8 hex digits (--scores: bit-exact comparisons across tools).
function hex8(u) { return u.toString(16).padStart(8, '0'); }

function sessionOptions(a) {
  return { executionProviders: ['cpu'], intraOpNumThreads: a.threads, interOpNumThreads: 1,
           graphOptimizationLevel: a.optimization, executionMode: 'sequential' };
}

function dims(geo, n) { return geo.flat ? [n, geo.features] : [n, geo.c, geo.h, geo.w]; }

async function classify(a) {
  const session = await ort.InferenceSession.create(a.model, sessionOptions(a));
  const geo = inputGeometry(session);
  const img = readIdx(a.images);
  const n = a.limit > 0 ? Math.min(a.limit, img.n) : img.n;
  const preds = [], scoreLines = [];
  const t0 = process.hrtime.bigint();
  for (let first = 0; first < n; first += a.batch) {
    const count = Math.min(a.batch, n - first);
    const x = new ort.Tensor('float32', modelBatch(img, geo, first, count), dims(geo, count));
    const out = await session.run({ global_in: x });
    const scores = out.global_out, label = out.label;
    if (scores.dims.length !== 2 || scores.dims[0] !== count) die(`global_out has shape [${scores.dims}] for ${count} images`);
    const k = scores.dims[1];
    const bits = new Uint32Array(scores.data.buffer, scores.data.byteOffset, count * k);
    for (let i = 0; i < count; ++i) {
      const l = Number(label.data[i]);
      const m = argmaxFirst(scores.data, i, k);
      if (l !== m) die(`image ${first + i}: label output ${l} but the first highest score is class ${m}`);
      preds.push(l);
      if (a.scores) scoreLines.push(Array.from(bits.subarray(i * k, (i + 1) * k), hex8).join(' '));
    }
  }
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  fs.writeFileSync(a.predictions, preds.map((p) => `${p}\n`).join(''));
  if (a.scores) fs.writeFileSync(a.scores, scoreLines.map((l) => `${l}\n`).join(''));
  process.stderr.write(`ort_run: ${a.model}: ${n} images in ${seconds.toFixed(1)} s (onnxruntime-node ` +
                       `${ort.env.versions.node}, ${a.threads} thread(s), optimization ${a.optimization}) -> ${a.predictions}\n`);
}

async function bench(a) {
  const session = await ort.InferenceSession.create(a.model, sessionOptions(a));
  const geo = inputGeometry(session);
  let data;
  if (a.images) {
    const img = readIdx(a.images);
    if (img.n < a.batch) die(`--bench --batch ${a.batch}: ${a.images} has only ${img.n} images`);
    data = modelBatch(img, geo, 0, a.batch);
  } else {  // pseudo-random pixels (a fixed LCG): the speed of float kernels does not depend on them
    data = new Float32Array(a.batch * geo.features);
    let s = 12345;
    for (let i = 0; i < data.length; ++i) { s = (Math.imul(s, 1103515245) + 12345) >>> 0; data[i] = (s >>> 16) & 255; }
  }
  const feeds = { global_in: new ort.Tensor('float32', data, dims(geo, a.batch)) };
  const warm = process.hrtime.bigint();  // warm-up: 3 calls or 10% of the time
  for (let i = 0; i < 3 || Number(process.hrtime.bigint() - warm) / 1e9 < a.seconds * 0.1; ++i) await session.run(feeds);
  const lat = [];
  const t0 = process.hrtime.bigint();
  let now = t0;
  do {
    const t = process.hrtime.bigint();
    await session.run(feeds);
    now = process.hrtime.bigint();
    lat.push(Number(now - t) / 1e3);
  } while (Number(now - t0) / 1e9 < a.seconds);
  const seconds = Number(now - t0) / 1e9;
  lat.sort((x, y) => x - y);
  const pct = (p) => lat[Math.min(lat.length - 1, Math.floor(p * lat.length))];
  console.log(JSON.stringify({
    frames_per_second: (lat.length * a.batch) / seconds, batch: a.batch, threads: a.threads,
    calls: lat.length, seconds, latency_us_p50: pct(0.5), latency_us_p99: pct(0.99),
    ort_version: ort.env.versions.node, optimization: a.optimization, model: a.model,
  }));
}

const args = parseArgs(process.argv.slice(2));
(args.bench ? bench(args) : classify(args)).catch((e) => die(e && e.message ? e.message : String(e)));
