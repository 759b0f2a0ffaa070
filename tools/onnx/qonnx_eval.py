#!/usr/bin/python3
"""A small numpy evaluator of the ONNX graphs `lowbit export --format qonnx|onnx` writes
(docs/INTEROP.md), written from the operators' documentation, not from our writer: the ONNX
operator specs for the standard nodes and the QONNX custom-op docs (intquant_v1.md,
bipolarquant_v1.md, qonnx's MultiThreshold) for `qonnx.custom_op.general`. It is the
"code we did not write" side of scripts/interop_check.sh: FINN's own frontend executes
QONNX graphs the same way (node by node, numpy).

  /usr/bin/python3 tools/onnx/qonnx_eval.py MODEL.onnx --images IDX[.gz] [--limit N]
      [--batch B] --predictions OUT.txt [--scores OUT.txt] [--check]

Feeds the raw pixels 0..255 as float32 to `global_in` (smaller images centre-padded with
pixel 0; a flat input [1, F] gets each image flattened in (c, y, x) order) and writes one
predicted class per line: the first highest of `global_out` (std::max_element's rule).

Arithmetic: every op in float32 as ONNX defines it, element by element (so the score map's
Mul/Add/Sub round exactly as the runtime's), except the sums of Conv and MatMul, which are
done where they are exact in any order: in float32 when the data are integers and a bound
(max|x| times the largest row sum of |w|) keeps every partial sum below 2^24 (what our graphs
carry), else in float64 (exact for integers below 2^53). On integer data the result is the
exact integer that any correct float32 kernel must also produce; other data get the float64
sum rounded once to float32.

Operators: Add, Sub, Mul, Sum, MatMul, Conv (pads, strides, dilations, group), MaxPool, Pad
(constant), Flatten, Reshape, Unsqueeze, Slice, GreaterOrEqual, Equal, Cast, ReduceSum, ArgMax,
Constant, Identity; qonnx.custom_op.general Quant (IntQuant), BipolarQuant, MultiThreshold.
Any other node is an error naming it.

Needs Debian's python3-onnx and python3-numpy (/usr/bin/python3).
"""
import argparse
import gzip
import sys
import time

import numpy as np

try:
    import onnx
    from onnx import numpy_helper
except ImportError:  # pragma: no cover - a message instead of a traceback
    sys.exit("qonnx_eval.py: the Python package 'onnx' is missing (Debian: apt-get install python3-onnx; "
             "run with /usr/bin/python3)")

QONNX_DOMAINS = ("qonnx.custom_op.general", "finn.custom_op.general")


class EvalError(Exception):
    pass


# What onnx raises for a file that fails its checker or its shape inference.
ONNX_ERRORS = tuple(e for e in (getattr(onnx.checker, "ValidationError", None),
                                getattr(onnx.shape_inference, "InferenceError", None)) if isinstance(e, type))


# ---------------------------------------------------------------------------------------
# attributes and helpers

def attrs_of(node):
    out = {}
    for a in node.attribute:
        out[a.name] = onnx.helper.get_attribute_value(a)
    for k, v in list(out.items()):
        if isinstance(v, bytes):
            out[k] = v.decode("utf-8")
    return out


def np_dtype_of(tensor_type):
    if hasattr(onnx.helper, "tensor_dtype_to_np_dtype"):
        return onnx.helper.tensor_dtype_to_np_dtype(tensor_type)
    return onnx.mapping.TENSOR_TYPE_TO_NP_TYPE[tensor_type]


def optional_input(node, values, i):
    if len(node.input) > i and node.input[i] != "":
        return values[node.input[i]]
    return None


# ---------------------------------------------------------------------------------------
# standard operators (opset 13 semantics; older forms of Pad/Unsqueeze/ReduceSum accepted)

def op_binary(fn):
    def run(node, a, values):
        x, y = values[node.input[0]], values[node.input[1]]
        if x.dtype != y.dtype:
            raise EvalError(f"{node.op_type} '{node.name}': inputs of types {x.dtype} and {y.dtype} "
                            "(ONNX requires one type)")
        return [fn(x, y)]
    return run


def integral(a):
    return bool(np.all(np.isfinite(a))) and bool(np.all(a == np.round(a)))


def sum_dtype(x, w, rows_axis, bias=None):
    """The dtype in which a sum of products of x and w is exact in any order: float32 when
    both hold integers and every partial sum stays below 2^24 in magnitude (bounded by
    max|x| times the largest row sum of |w|, plus |bias|), else float64 (exact for integers
    below 2^53; for other data the more accurate of the two)."""
    if x.size == 0 or w.size == 0 or not (integral(x) and integral(w)):
        return np.float64
    axes = tuple(i for i in range(w.ndim) if i != rows_axis)
    bound = float(np.max(np.abs(x))) * float(np.max(np.sum(np.abs(w.astype(np.float64)), axis=axes)))
    if bias is not None:
        if not integral(bias):
            return np.float64
        bound += float(np.max(np.abs(bias)))
    return np.float32 if bound < 2.0 ** 24 else np.float64


def op_sum(node, a, values):
    """Sum: the element-wise sum of all inputs (broadcast), added in input order."""
    xs = [values[n] for n in node.input]
    if any(x.dtype != xs[0].dtype for x in xs):
        raise EvalError(f"Sum '{node.name}': inputs of different types {[str(x.dtype) for x in xs]}")
    out = xs[0]
    for x in xs[1:]:
        out = np.add(out, x)
    return [out]


def op_matmul(node, a, values):
    x, w = values[node.input[0]], values[node.input[1]]
    if w.ndim != 2:
        raise EvalError(f"MatMul '{node.name}': only a 2-D right operand is supported, got {w.shape}")
    dt = sum_dtype(x, w, rows_axis=1)
    out = np.matmul(x.astype(dt), w.astype(dt))
    return [out.astype(x.dtype)]


def conv_out_size(size, k, stride, pad_begin, pad_end, dilation):
    return (size + pad_begin + pad_end - dilation * (k - 1) - 1) // stride + 1


def op_conv(node, a, values):
    x, w = values[node.input[0]], values[node.input[1]]
    b = optional_input(node, values, 2)
    if x.ndim != 4 or w.ndim != 4:
        raise EvalError(f"Conv '{node.name}': only 2-D convolutions (4-D tensors) are supported, got "
                        f"input {x.shape}, weights {w.shape}")
    if a.get("auto_pad", "NOTSET") not in ("NOTSET", ""):
        raise EvalError(f"Conv '{node.name}': auto_pad={a['auto_pad']} is not supported (explicit pads only)")
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    group = int(a.get("group", 1))
    if "kernel_shape" in a and list(a["kernel_shape"]) != [kh, kw]:
        raise EvalError(f"Conv '{node.name}': kernel_shape {a['kernel_shape']} differs from the weights {w.shape}")
    if c != cg * group or o % group:
        raise EvalError(f"Conv '{node.name}': input channels {c}, weights {w.shape}, group {group} do not fit")
    sh, sw = a.get("strides", [1, 1])
    dh, dw = a.get("dilations", [1, 1])
    pt, pl, pb, pr = a.get("pads", [0, 0, 0, 0])
    oh = conv_out_size(h, kh, sh, pt, pb, dh)
    ow = conv_out_size(wd, kw, sw, pl, pr, dw)
    og = o // group
    dt = sum_dtype(x, w, rows_axis=0, bias=b)
    # Channels first, then the batch: each kernel tap is one GEMM (G, Og, Cg) x (G, Cg, N*P).
    # Conv's padding is zeros (a non-zero pad value comes as a Pad node before it).
    xp = np.zeros((c, n, h + pt + pb, wd + pl + pr), dtype=dt)
    xp[:, :, pt:pt + h, pl:pl + wd] = x.transpose(1, 0, 2, 3)
    xg = xp.reshape(group, cg, n, xp.shape[2], xp.shape[3])
    wg = w.astype(dt).reshape(group, og, cg, kh, kw)
    acc = np.zeros((group, og, n * oh * ow), dtype=dt)
    for ky in range(kh):
        for kx in range(kw):
            y0, x0 = ky * dh, kx * dw
            tap = xg[:, :, :, y0:y0 + sh * (oh - 1) + 1:sh, x0:x0 + sw * (ow - 1) + 1:sw]
            tap = tap.reshape(group, cg, n * oh * ow)
            if cg == 1:  # depthwise: a broadcast product, no GEMM
                acc += wg[:, :, 0, ky, kx, None] * tap
            else:
                acc += np.matmul(np.ascontiguousarray(wg[:, :, :, ky, kx]), tap)
    acc = acc.reshape(o, n, oh, ow).transpose(1, 0, 2, 3)
    if b is not None:
        acc = acc + b.astype(dt).reshape(1, o, 1, 1)
    return [np.ascontiguousarray(acc, dtype=x.dtype)]


def op_maxpool(node, a, values):
    x = values[node.input[0]]
    if len(node.output) > 1 and node.output[1]:
        raise EvalError(f"MaxPool '{node.name}': the Indices output is not supported")
    if a.get("auto_pad", "NOTSET") not in ("NOTSET", ""):
        raise EvalError(f"MaxPool '{node.name}': auto_pad={a['auto_pad']} is not supported")
    if int(a.get("ceil_mode", 0)):
        raise EvalError(f"MaxPool '{node.name}': ceil_mode=1 is not supported")
    if x.ndim != 4:
        raise EvalError(f"MaxPool '{node.name}': only 2-D pooling (4-D input) is supported, got {x.shape}")
    kh, kw = a["kernel_shape"]
    sh, sw = a.get("strides", [1, 1])
    dh, dw = a.get("dilations", [1, 1])
    pt, pl, pb, pr = a.get("pads", [0, 0, 0, 0])
    n, c, h, w = x.shape
    oh = conv_out_size(h, kh, sh, pt, pb, dh)
    ow = conv_out_size(w, kw, sw, pl, pr, dw)
    xp = np.full((n, c, h + pt + pb, w + pl + pr), -np.inf, dtype=x.dtype)
    xp[:, :, pt:pt + h, pl:pl + w] = x
    out = None
    for ky in range(kh):
        for kx in range(kw):
            y0, x0 = ky * dh, kx * dw
            win = xp[:, :, y0:y0 + sh * (oh - 1) + 1:sh, x0:x0 + sw * (ow - 1) + 1:sw]
            out = win.copy() if out is None else np.maximum(out, win)
    return [out]


def op_pad(node, a, values):
    x = values[node.input[0]]
    mode = a.get("mode", "constant")
    if mode != "constant":
        raise EvalError(f"Pad '{node.name}': mode '{mode}' is not supported (constant only)")
    if len(node.input) > 1:  # opset >= 11: pads and constant_value are inputs
        pads = [int(p) for p in values[node.input[1]].reshape(-1)]
        cv = optional_input(node, values, 2)
        value = cv.reshape(-1)[0] if cv is not None and cv.size else 0
        if len(node.input) > 3 and node.input[3]:
            raise EvalError(f"Pad '{node.name}': the axes input (opset 18) is not supported")
    else:
        pads = list(a["pads"])
        value = a.get("value", 0.0)
    r = x.ndim
    if len(pads) != 2 * r:
        raise EvalError(f"Pad '{node.name}': {len(pads)} pads for a {r}-D input")
    if any(p < 0 for p in pads):
        raise EvalError(f"Pad '{node.name}': negative pads (cropping) are not supported")
    width = [(pads[i], pads[i + r]) for i in range(r)]
    return [np.pad(x, width, mode="constant", constant_values=np.array(value, dtype=x.dtype))]


def op_flatten(node, a, values):
    x = values[node.input[0]]
    axis = int(a.get("axis", 1))
    if axis < 0:
        axis += x.ndim
    lead = int(np.prod(x.shape[:axis], dtype=np.int64))
    return [x.reshape(lead, -1)]


def op_reshape(node, a, values):
    x = values[node.input[0]]
    shape = [int(s) for s in values[node.input[1]].reshape(-1)]
    allowzero = int(a.get("allowzero", 0))
    target = [x.shape[i] if (s == 0 and not allowzero) else s for i, s in enumerate(shape)]
    # The graphs are evaluated with a batch larger than the declared one (QONNX: 1): a constant
    # target shape whose leading 1 is that batch dimension takes the actual batch.
    if target and target[0] == 1 and x.ndim >= 1 and x.shape[0] != 1 and -1 not in target[1:]:
        if int(np.prod(target[1:], dtype=np.int64)) * x.shape[0] == x.size:
            target[0] = x.shape[0]
    return [x.reshape(target)]


def op_unsqueeze(node, a, values):
    x = values[node.input[0]]
    if len(node.input) > 1:
        axes = [int(v) for v in values[node.input[1]].reshape(-1)]
    else:
        axes = list(a["axes"])
    rank = x.ndim + len(axes)
    axes = sorted(ax + rank if ax < 0 else ax for ax in axes)
    out = x
    for ax in axes:
        out = np.expand_dims(out, ax)
    return [out]


def op_slice(node, a, values):
    """ONNX Slice (opset 13): starts, ends, optional axes and steps as inputs; ends clamp to
    the dimension, negative indices count from the end."""
    x = values[node.input[0]]
    starts = [int(v) for v in values[node.input[1]].reshape(-1)]
    ends = [int(v) for v in values[node.input[2]].reshape(-1)]
    axes = [int(v) for v in values[node.input[3]].reshape(-1)] if len(node.input) > 3 and node.input[3] else list(range(len(starts)))
    steps = [int(v) for v in values[node.input[4]].reshape(-1)] if len(node.input) > 4 and node.input[4] else [1] * len(starts)
    index = [slice(None)] * x.ndim
    for st, en, ax, sp in zip(starts, ends, axes, steps):
        ax = ax + x.ndim if ax < 0 else ax
        index[ax] = slice(*slice(st, en, sp).indices(x.shape[ax]))
    return [x[tuple(index)]]


def op_cast(node, a, values):
    return [values[node.input[0]].astype(np_dtype_of(a["to"]))]


def op_reducesum(node, a, values):
    x = values[node.input[0]]
    keepdims = bool(int(a.get("keepdims", 1)))
    axes_in = optional_input(node, values, 1)
    if axes_in is not None:
        axes = [int(v) for v in axes_in.reshape(-1)]
    else:
        axes = list(a.get("axes", []))
    if not axes:
        if int(a.get("noop_with_empty_axes", 0)):
            return [x]
        axes = list(range(x.ndim))
    axes = tuple(ax + x.ndim if ax < 0 else ax for ax in axes)
    return [np.sum(x, axis=axes, keepdims=keepdims, dtype=x.dtype)]


def op_argmax(node, a, values):
    x = values[node.input[0]]
    axis = int(a.get("axis", 0))
    keepdims = bool(int(a.get("keepdims", 1)))
    if int(a.get("select_last_index", 0)):
        flipped = np.flip(x, axis=axis)
        idx = x.shape[axis] - 1 - np.argmax(flipped, axis=axis)
    else:
        idx = np.argmax(x, axis=axis)
    idx = idx.astype(np.int64)
    if keepdims:
        idx = np.expand_dims(idx, axis)
    return [idx]


def op_constant(node, a, values):
    if "value" not in a:
        raise EvalError(f"Constant '{node.name}': only the 'value' attribute is supported")
    return [numpy_helper.to_array(a["value"])]


def op_identity(node, a, values):
    return [values[node.input[0]]]


# ---------------------------------------------------------------------------------------
# QONNX custom operators (docs/qonnx-custom-ops of the qonnx repository)

def op_quant(node, a, values):
    """IntQuant / Quant: y = (clamp(x / scale + zeropt) rounded - zeropt) * scale."""
    x = values[node.input[0]]
    scale, zeropt, bitwidth = (values[node.input[i]] for i in (1, 2, 3))
    if bitwidth.size != 1:
        raise EvalError(f"{node.op_type} '{node.name}': bitwidth must be a scalar, got shape {bitwidth.shape}")
    bits = float(bitwidth.reshape(-1)[0])
    if bits != int(bits) or bits < 1:
        raise EvalError(f"{node.op_type} '{node.name}': bitwidth {bits} is not a positive integer")
    bits = int(bits)
    signed = int(a.get("signed", 1))
    narrow = int(a.get("narrow", 0))
    mode = str(a.get("rounding_mode", "ROUND")).upper()
    y = x / scale.astype(x.dtype)
    y = y + zeropt.astype(x.dtype)
    if bits == 1 and signed:
        # the QONNX reference treats a signed 1-bit IntQuant as bipolar
        y = np.where(y >= 0, np.ones_like(y), -np.ones_like(y))
    else:
        if signed:
            lo = -(2 ** (bits - 1)) + (1 if narrow else 0)
            hi = 2 ** (bits - 1) - 1
        else:
            lo = 0
            hi = 2 ** bits - 1 - (1 if narrow else 0)
        y = np.where(y > hi, np.array(hi, dtype=y.dtype), y)
        y = np.where(y < lo, np.array(lo, dtype=y.dtype), y)
        rounders = {"ROUND": np.round, "HALF_EVEN": np.round, "CEIL": np.ceil, "FLOOR": np.floor,
                    "UP": lambda v: np.sign(v) * np.ceil(np.abs(v)),
                    "DOWN": np.trunc,
                    "HALF_UP": lambda v: np.sign(v) * np.floor(np.abs(v) + 0.5),
                    "HALF_DOWN": lambda v: np.sign(v) * np.ceil(np.abs(v) - 0.5)}
        if mode not in rounders:
            raise EvalError(f"{node.op_type} '{node.name}': unknown rounding_mode '{mode}'")
        y = rounders[mode](y).astype(x.dtype)
    y = y - zeropt.astype(x.dtype)
    return [(y * scale.astype(x.dtype)).astype(x.dtype)]


def op_bipolarquant(node, a, values):
    x = values[node.input[0]]
    scale = values[node.input[1]].astype(x.dtype)
    y = np.where(x >= 0, np.ones_like(x), -np.ones_like(x))
    return [(y * scale).astype(x.dtype)]


def op_multithreshold(node, a, values):
    """level = #{l : x >= T[c, l]} per channel c (T[1, L]: one set for all), then
    out_scale * level + out_bias. Channels on axis 1, or last for a layout ending in C."""
    x, t = values[node.input[0]], values[node.input[1]]
    if "out_dtype" not in a:
        raise EvalError(f"MultiThreshold '{node.name}': the required attribute out_dtype is missing")
    layout = a.get("data_layout", "NCHW")
    channels_last = layout[-1] == "C"
    axis = x.ndim - 1 if channels_last else 1
    if t.ndim != 2 or (t.shape[0] != 1 and t.shape[0] != x.shape[axis]):
        raise EvalError(f"MultiThreshold '{node.name}': thresholds {t.shape} do not fit input {x.shape} "
                        f"(layout {layout})")
    xm = np.moveaxis(x, axis, -1)[..., None]  # (..., C, 1) against T (C, L)
    level = np.count_nonzero(xm >= t, axis=-1).astype(x.dtype)
    level = np.moveaxis(level, -1, axis)
    out_scale = np.array(a.get("out_scale", 1.0), dtype=x.dtype)
    out_bias = np.array(a.get("out_bias", 0.0), dtype=x.dtype)
    return [out_scale * level + out_bias]


STANDARD_OPS = {
    "Add": op_binary(np.add),
    "Sub": op_binary(np.subtract),
    "Mul": op_binary(np.multiply),
    "MatMul": op_matmul,
    "Conv": op_conv,
    "MaxPool": op_maxpool,
    "Pad": op_pad,
    "Flatten": op_flatten,
    "Reshape": op_reshape,
    "Unsqueeze": op_unsqueeze,
    "Slice": op_slice,
    "GreaterOrEqual": op_binary(np.greater_equal),
    "Equal": op_binary(np.equal),
    "Sum": op_sum,
    "Cast": op_cast,
    "ReduceSum": op_reducesum,
    "ArgMax": op_argmax,
    "Constant": op_constant,
    "Identity": op_identity,
}

CUSTOM_OPS = {
    "Quant": op_quant,
    "IntQuant": op_quant,
    "BipolarQuant": op_bipolarquant,
    "MultiThreshold": op_multithreshold,
}


# ---------------------------------------------------------------------------------------
# the graph

class Graph:
    def __init__(self, model):
        g = model.graph
        self.model = model
        self.constants = {init.name: numpy_helper.to_array(init) for init in g.initializer}
        self.inputs = [i for i in g.input if i.name not in self.constants]
        self.outputs = [o.name for o in g.output]
        self.nodes = self._topological(g)
        for i, node in enumerate(self.nodes):
            self._op(node, i)  # unknown ops fail before any image is read

    @staticmethod
    def _label(node, i):
        return f"node {i} '{node.name or '(unnamed)'}' ({node.domain + '::' if node.domain else ''}{node.op_type})"

    def _op(self, node, i):
        if node.domain in ("", "ai.onnx"):
            fn = STANDARD_OPS.get(node.op_type)
        elif node.domain in QONNX_DOMAINS:
            fn = CUSTOM_OPS.get(node.op_type)
        else:
            fn = None
        if fn is None:
            raise EvalError(f"{self._label(node, i)}: operator not supported by qonnx_eval.py")
        return fn

    def _topological(self, g):
        available = set(self.constants) | {i.name for i in g.input} | {""}
        pending = list(g.node)
        order = []
        while pending:
            rest = []
            for node in pending:
                if all(n in available for n in node.input):
                    order.append(node)
                    available.update(node.output)
                else:
                    rest.append(node)
            if len(rest) == len(pending):
                missing = sorted({n for node in rest for n in node.input if n not in available})
                raise EvalError(f"graph: nodes {[n.name for n in rest][:5]} wait for tensors nobody produces "
                                f"or a cycle: {missing[:5]}")
            pending = rest
        return order

    def run(self, feeds):
        values = dict(self.constants)
        values.update(feeds)
        for i, node in enumerate(self.nodes):
            fn = self._op(node, i)
            try:
                outs = fn(node, attrs_of(node), values)
            except EvalError:
                raise
            except Exception as e:  # numpy shape errors etc.: name the node
                raise EvalError(f"{self._label(node, i)}: {type(e).__name__}: {e}") from e
            for name, v in zip(node.output, outs):
                if name:
                    values[name] = v
        return {name: values[name] for name in self.outputs}


def tensor_shape(value_info):
    dims = []
    for d in value_info.type.tensor_type.shape.dim:
        dims.append(d.dim_value if d.HasField("dim_value") else (d.dim_param or None))
    return dims


# ---------------------------------------------------------------------------------------
# images

def read_idx(path):
    with open(path, "rb") as f:
        data = f.read()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise EvalError(f"{path}: not an idx file of unsigned bytes (magic {data[:4].hex()})")
    ndim = data[3]
    if ndim not in (3, 4):
        raise EvalError(f"{path}: idx file with {ndim} dimensions; images need 3 (n, h, w) or 4 (n, c, h, w)")
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    body = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    count = int(np.prod(dims, dtype=np.int64))
    if body.size < count:
        raise EvalError(f"{path}: {body.size} bytes of pixels, the header says {dims}")
    images = body[:count].reshape(dims)
    if ndim == 3:
        images = images[:, None, :, :]
    return images  # (n, c, h, w) uint8


def model_batch(images, input_shape, name):
    """Raw pixels as float32 in the model's input layout, centre-padded with pixel 0."""
    n, c, h, w = images.shape
    if len(input_shape) == 2:
        f = input_shape[1]
        if c * h * w != f:
            raise EvalError(f"{name}: a flat input of {f} features, the images have {c}x{h}x{w} = {c * h * w}")
        return images.reshape(n, f).astype(np.float32)
    if len(input_shape) != 4:
        raise EvalError(f"{name}: input shape {input_shape} is neither [N, C, H, W] nor [N, F]")
    _, mc, mh, mw = input_shape
    if c != mc or h > mh or w > mw:
        raise EvalError(f"{name}: images {c}x{h}x{w} do not fit the input {mc}x{mh}x{mw}")
    out = np.zeros((n, mc, mh, mw), dtype=np.float32)
    top, left = (mh - h) // 2, (mw - w) // 2
    out[:, :, top:top + h, left:left + w] = images
    return out


def argmax_first(scores):
    """std::max_element's first highest per row (a NaN never replaces an earlier value)."""
    best = scores[:, 0].copy()
    idx = np.zeros(scores.shape[0], dtype=np.int64)
    for c in range(1, scores.shape[1]):
        better = best < scores[:, c]
        idx[better] = c
        best[better] = scores[better, c]
    return idx


def main(argv=None):
    def positive(text):
        v = int(text)
        if v < 1:
            raise argparse.ArgumentTypeError(f"must be at least 1, got {v}")
        return v

    p = argparse.ArgumentParser(
        description="Evaluate a lowbit QONNX/ONNX graph with numpy on idx images. The graph input "
                    "'global_in' receives the raw 8-bit pixels 0..255 as float32, [N, C, H, W] (or "
                    "[N, features] for a flat input, in (c, y, x) order); images smaller than the model "
                    "input are centre-padded with pixel 0 (docs/INTEROP.md).")
    p.add_argument("model", help="the .onnx file (lowbit export --format qonnx, onnx or onnx-int8)")
    p.add_argument("--images", required=True, help="idx image file (raw or .gz)")
    p.add_argument("--limit", type=positive, default=0, help="only the first N images (default: all)")
    p.add_argument("--batch", type=positive, default=100, help="images per evaluation (default 100)")
    p.add_argument("--predictions", required=True, help="output: one predicted class per line")
    p.add_argument("--scores", help="output: each image's scores as float32 bit patterns (8 hex digits), "
                   "one line per image (ort_run.js --scores writes the same)")
    p.add_argument("--check", action="store_true", help="run onnx.checker.check_model(full_check=True) first")
    args = p.parse_args(argv)
    if args.batch < 1:
        p.error("--batch must be >= 1")
    try:
        model = onnx.load(args.model)
        if args.check:
            onnx.checker.check_model(model, full_check=True)
        graph = Graph(model)
        ins = {i.name: tensor_shape(i) for i in graph.inputs}
        if "global_in" not in ins or "global_out" not in graph.outputs:
            raise EvalError(f"{args.model}: expected input 'global_in' and output 'global_out', got inputs "
                            f"{list(ins)} and outputs {graph.outputs}")
        if len(ins) != 1:
            raise EvalError(f"{args.model}: more than one graph input: {list(ins)}")
        shape = ins["global_in"]
        images = read_idx(args.images)
        if args.limit > 0:
            images = images[:args.limit]
        t0 = time.time()
        preds, score_lines = [], []
        for s in range(0, images.shape[0], args.batch):
            x = model_batch(images[s:s + args.batch], shape, args.model)
            out = graph.run({"global_in": x})
            scores = out["global_out"]
            if scores.ndim != 2 or scores.shape[0] != x.shape[0]:
                raise EvalError(f"{args.model}: global_out has shape {scores.shape} for a batch of {x.shape[0]}")
            preds.append(argmax_first(scores))
            if args.scores:
                bits = np.ascontiguousarray(scores, dtype=np.float32).view(np.uint32)
                score_lines.extend(" ".join(f"{int(b):08x}" for b in row) + "\n" for row in bits)
        preds = np.concatenate(preds) if preds else np.zeros(0, dtype=np.int64)
        with open(args.predictions, "w") as f:
            f.write("".join(f"{int(v)}\n" for v in preds))
        if args.scores:
            with open(args.scores, "w") as f:
                f.write("".join(score_lines))
        print(f"qonnx_eval: {args.model}: {len(preds)} images in {time.time() - t0:.1f} s -> {args.predictions}",
              file=sys.stderr)
    except (EvalError, OSError) + ONNX_ERRORS as e:
        print(f"qonnx_eval.py: error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
