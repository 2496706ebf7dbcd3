"""ONNX Runtime peer of `tilelab bench import` (not run by CI; needs `pip install onnxruntime`).

Usage: python3 -c "$(cat tests/onnxruntime_bench.py)" MODEL.onnx NAME=INPUT.npy ...

Loads MODEL with 2 intra-op threads (the reference machine's cores), runs it once to warm up and
prints one JSON line with the version. Then, for every line read on stdin, runs the model once on
the same inputs and prints the seconds it took: `tilelab bench import` interleaves these runs
with its own, so both sides see the same load.
"""

import json
import sys
import time

import numpy
import onnxruntime

options = onnxruntime.SessionOptions()
options.intra_op_num_threads = 2
session = onnxruntime.InferenceSession(sys.argv[1], options, providers=["CPUExecutionProvider"])
feeds = {}
for argument in sys.argv[2:]:
    name, path = argument.split("=", 1)
    feeds[name] = numpy.load(path)
session.run(None, feeds)
print(json.dumps({"onnxruntime": onnxruntime.__version__}), flush=True)
for _ in sys.stdin:
    start = time.perf_counter()
    session.run(None, feeds)
    print(time.perf_counter() - start, flush=True)
