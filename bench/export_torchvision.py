#!/usr/bin/env python3
"""Exports torchvision's resnet18, mobilenet_v2, squeezenet1_1,
shufflenet_v2_x1_0 and efficientnet_b0 with seeded
random weights (no downloads) to ONNX (opset 13, a symbolic batch "N"), and
writes an input batch and torch's outputs for it, so bench/models.sh can
check kiln against torch before timing it (bench/peers/run.sh too).

    export_torchvision.py OUT_DIR [BATCH...]
Needs python3-torch and python3-torchvision (Debian's) or a PyPI torch.
"""
import sys

import numpy as np
import torch
import torchvision

MODELS = {
    "resnet18": torchvision.models.resnet18,
    "mobilenet_v2": torchvision.models.mobilenet_v2,
    "squeezenet1_1": torchvision.models.squeezenet1_1,
    "shufflenet_v2_x1_0": torchvision.models.shufflenet_v2_x1_0,
    "efficientnet_b0": torchvision.models.efficientnet_b0,
}


def main():
    out = sys.argv[1]
    batches = [int(b) for b in sys.argv[2:]] or [1, 32]
    for name, make in MODELS.items():
        torch.manual_seed(0)
        model = make(weights=None).eval()
        example = torch.randn(1, 3, 224, 224)
        torch.onnx.export(model, example, f"{out}/{name}.onnx", opset_version=13, input_names=["input"],
                          output_names=["logits"], dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}})
        for b in batches:
            torch.manual_seed(b)
            x = torch.randn(b, 3, 224, 224)
            with torch.no_grad():
                y = model(x)
            np.save(f"{out}/{name}_x{b}.npy", x.numpy())
            np.save(f"{out}/{name}_y{b}.npy", y.numpy())
        print(f"exported {name}")


if __name__ == "__main__":
    main()
