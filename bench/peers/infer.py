"""One peer's inference latency on an ONNX model, as bench/peers/run.sh times them.

    infer.py ort|openvino MODEL.onnx X.npy RUNS THREADS

ONNX Runtime: CPU provider, graph optimizations on (ORT_ENABLE_ALL),
intra_op_num_threads=THREADS, inter_op 1. OpenVINO: the CPU device,
INFERENCE_NUM_THREADS=THREADS, latency hint. One warm-up run, then RUNS
timed runs; prints `latency median M ms` (and checks the output is finite).
"""
import sys
import time

import numpy as np


def main():
    peer, model, xfile, runs, threads = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
    x = np.load(xfile)
    if peer == "ort":
        import onnxruntime as ort
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        sess = ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])
        name = sess.get_inputs()[0].name
        run = lambda: sess.run(None, {name: x})[0]
    else:
        import openvino as ov
        core = ov.Core()
        compiled = core.compile_model(model, "CPU", {"INFERENCE_NUM_THREADS": threads, "PERFORMANCE_HINT": "LATENCY"})
        request = compiled.create_infer_request()
        run = lambda: request.infer({0: x})[compiled.output(0)]
    y = run()
    assert np.isfinite(y).all(), "non-finite output"
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        run()
        times.append(1000 * (time.perf_counter() - t0))
    times.sort()
    print(f"latency median {times[len(times) // 2]:.3f} ms")


if __name__ == "__main__":
    main()
