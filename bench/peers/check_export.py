#!/usr/bin/env python3
"""Runs kiln's exported ONNX models on ONNX Runtime and compares them with
kiln's reference interpreter: a check, by a runtime kiln did not write, that
each op's export means what the op means (a round trip through kiln alone
would miss a mistake the exporter and the importer share).

    KILN_EXPORT_DIR=/tmp/export build/kiln-unit "[export]"
    bench/.venv/bin/python bench/peers/check_export.py /tmp/export

Each DIR/CASE/ holds model.onnx, input_I.npy and output_I.npy (the reference
interpreter's outputs at batch 3). Prints one line per case; exits 1 if any
output differs beyond tolerance or ONNX Runtime refuses a model.
"""
import pathlib
import sys

import numpy as np
import onnxruntime as ort


def main(root):
    failed = []
    cases = sorted(p for p in pathlib.Path(root).iterdir() if (p / "model.onnx").exists())
    for case in cases:
        try:
            opts = ort.SessionOptions()
            opts.intra_op_num_threads = 2
            sess = ort.InferenceSession(str(case / "model.onnx"), opts, providers=["CPUExecutionProvider"])
            feeds = {i.name: np.load(case / f"input_{n}.npy") for n, i in enumerate(sess.get_inputs())}
            got = sess.run(None, feeds)
        except Exception as e:  # ORT's refusal is a finding, not a crash of the check
            print(f"FAIL {case.name}: ONNX Runtime: {str(e).splitlines()[0]}")
            failed.append(case.name)
            continue
        worst = 0.0
        ok = True
        for n, g in enumerate(got):
            want = np.load(case / f"output_{n}.npy")
            if case.name == "roundtrip_dropout" and n == 0:
                # The mask is the runtime's: where both keep an element, it is x / (1 - ratio).
                keep = np.load(case / "output_1.npy") & got[1]
                g, want = g[keep], want[keep]
            if case.name == "roundtrip_dropout" and n == 1:
                continue
            if g.shape != want.shape:
                ok = False
                worst = float("inf")
                continue
            d = float(np.max(np.abs(g.astype(np.float64) - want) / (1 + np.abs(want)))) if want.size else 0.0
            worst = max(worst, d)
            ok = ok and d <= 1e-4
        print(f"{'ok  ' if ok else 'FAIL'} {case.name}: max relative difference {worst:.2e}")
        if not ok:
            failed.append(case.name)
    print(f"{len(cases) - len(failed)} of {len(cases)} exported models agree with ONNX Runtime {ort.__version__}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "/tmp/kiln-export"))
