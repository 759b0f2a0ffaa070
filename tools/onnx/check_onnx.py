#!/usr/bin/python3
"""ONNX's own checker on each file: `onnx.checker.check_model(model, full_check=True)` (the
structure, every node against its operator schema, and strict shape inference). Prints
`OK FILE` or `FAIL FILE: the error` per file; exit status 1 when any file fails.

  /usr/bin/python3 tools/onnx/check_onnx.py FILE.onnx...

Custom-domain nodes (QONNX's qonnx.custom_op.general) have no schema here; the checker
accepts them when their domain is imported. Needs Debian's python3-onnx.
"""
import sys

try:
    import onnx
except ImportError:
    sys.exit("check_onnx.py: the Python package 'onnx' is missing (Debian: apt-get install python3-onnx; "
             "run with /usr/bin/python3)")


def check(path):
    model = onnx.load(path)
    onnx.checker.check_model(model, full_check=True)
    return model


def main(argv):
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__.strip())
        return 0 if argv else 2
    failed = 0
    for path in argv:
        try:
            m = check(path)
            opsets = ", ".join(f"{o.domain or 'ai.onnx'} {o.version}" for o in m.opset_import)
            print(f"OK {path} (onnx {onnx.__version__} checker, full_check; opsets: {opsets}; {len(m.graph.node)} nodes)")
        except Exception as e:  # the checker's, shape inference's, or a file that does not parse
            failed += 1
            msg = str(e).strip().replace("\n", " | ")
            print(f"FAIL {path}: {type(e).__name__}: {msg}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
