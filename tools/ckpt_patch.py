#!/usr/bin/env python3
"""Set elements of tensors in a lowbit checkpoint (.ckpt), for experiments and fault checks.

    tools/ckpt_patch.py IN.ckpt OUT.ckpt NAME[INDEX]=VALUE ...
    e.g. tools/ckpt_patch.py best.ckpt tiny.ckpt 'param:batchnorm_1.gamma[0]=2e-38' 'param:batchnorm_1.beta[0]=0'

INDEX is the flat (row-major) element index; VALUE a float32. The layout is docs/FORMAT.md's
"Checkpoint": magic, version, flags, metadata JSON, tensors, CRC-32 of all bytes before it
(recomputed here). Standard library only; writes OUT atomically (temp file + rename).
"""
import os
import re
import struct
import sys
import tempfile
import zlib


def tensors(buf):
    """(name, data offset, element count) of every tensor; checks magic, version and CRC."""
    if buf[:8] != b"LOWBITCK":
        sys.exit("not a lowbit checkpoint (bad magic)")
    if zlib.crc32(buf[:-4]) & 0xFFFFFFFF != struct.unpack_from("<I", buf, len(buf) - 4)[0]:
        sys.exit("checkpoint is corrupted (CRC mismatch)")
    version, _flags, meta_len = struct.unpack_from("<IIQ", buf, 8)
    if version != 1:
        sys.exit(f"checkpoint version {version} is not supported")
    at = 24 + meta_len
    (count,) = struct.unpack_from("<I", buf, at)
    at += 4
    out = []
    for _ in range(count):
        (n,) = struct.unpack_from("<I", buf, at)
        name = buf[at + 4:at + 4 + n].decode()
        at += 4 + n
        (rank,) = struct.unpack_from("<I", buf, at)
        dims = struct.unpack_from(f"<{rank}q", buf, at + 4)
        at += 4 + 8 * rank
        numel = 1
        for d in dims:
            numel *= d
        out.append((name, at, numel))
        at += 4 * numel
    return out


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    src, dst, edits = sys.argv[1], sys.argv[2], sys.argv[3:]
    buf = bytearray(open(src, "rb").read())
    index = {name: (at, numel) for name, at, numel in tensors(buf)}
    for edit in edits:
        m = re.fullmatch(r"(.+)\[(\d+)\]=(.+)", edit)
        if not m:
            sys.exit(f"'{edit}': expected NAME[INDEX]=VALUE")
        name, i, value = m.group(1), int(m.group(2)), float(m.group(3))
        if name not in index:
            sys.exit(f"'{name}': no such tensor (have: {', '.join(sorted(index))})")
        at, numel = index[name]
        if i >= numel:
            sys.exit(f"'{name}': index {i} outside its {numel} elements")
        struct.pack_into("<f", buf, at + 4 * i, value)
    struct.pack_into("<I", buf, len(buf) - 4, zlib.crc32(bytes(buf[:-4])) & 0xFFFFFFFF)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(os.path.abspath(dst)))
    with os.fdopen(fd, "wb") as f:
        f.write(buf)
    os.replace(tmp, dst)


if __name__ == "__main__":
    main()
