"""Real models exported by torch.onnx.export, checked against torch.

    torch_models.py KILN [MODEL...]

Exports each model at seeded random weights (no downloads) with a dynamic
batch (`dim_param` N), runs `kiln run` at batch 1 and 3, and compares with
torch's outputs: the largest difference must be within 1e-4 of the output's
scale (max |y| + 1). Batch-norm statistics are randomized so no layer is an
identity and the outputs are not vanishingly small. Prints one line per
model and batch; exits 1 if any model fails.
"""
import os, subprocess, sys, tempfile

import numpy as np
import torch
import torch.nn as nn
import torchvision

torch.manual_seed(0)


class Flatten(nn.Module):
    """A CNN that flattens with x.view(x.size(0), -1)."""

    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(3, 8, 3, padding=1)
        self.c2 = nn.Conv2d(8, 16, 3, stride=2, padding=1)
        self.fc = nn.Linear(16 * 8 * 8, 10)

    def forward(self, x):
        x = torch.relu(self.c2(torch.relu(self.c1(x))))
        x = nn.functional.max_pool2d(x, 2)
        return self.fc(x.view(x.size(0), -1))


class Recurrent(nn.Module):
    """A sequence classifier: a 2-layer LSTM (or GRU) over [N, T, 16], then a Linear."""

    def __init__(self, cell):
        super().__init__()
        self.rnn = cell(16, 24, num_layers=2, batch_first=True)
        self.fc = nn.Linear(24, 5)

    def forward(self, x):
        y, _ = self.rnn(x)
        return self.fc(y[:, -1])


class Interpolate(nn.Module):
    """A decoder-like CNN: bilinear and nearest F.interpolate between convolutions."""

    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(3, 8, 3, padding=1)
        self.c2 = nn.Conv2d(8, 4, 3, padding=1)

    def forward(self, x):
        x = nn.functional.interpolate(torch.relu(self.c1(x)), scale_factor=2, mode="bilinear", align_corners=False)
        return nn.functional.interpolate(self.c2(x), scale_factor=2, mode="nearest")


def randomize(m):
    for mod in m.modules():
        if isinstance(mod, nn.modules.batchnorm._BatchNorm):
            mod.running_mean.uniform_(-0.2, 0.2)
            mod.running_var.uniform_(0.5, 1.5)
            mod.weight.data.uniform_(0.5, 1.5)
            mod.bias.data.uniform_(-0.2, 0.2)
    return m.eval()


def tv(name):
    return lambda: (randomize(getattr(torchvision.models, name)(weights=None)), (3, 224, 224))


MODELS = {
    "resnet18": tv("resnet18"),
    "mobilenet_v2": tv("mobilenet_v2"),
    "squeezenet1_1": tv("squeezenet1_1"),
    "shufflenet_v2_x1_0": tv("shufflenet_v2_x1_0"),
    "efficientnet_b0": tv("efficientnet_b0"),
    "flatten_cnn": lambda: (Flatten().eval(), (3, 32, 32)),
    "transformer_encoder": lambda: (
        nn.TransformerEncoder(nn.TransformerEncoderLayer(32, 4, 64, dropout=0.0, batch_first=True), 2).eval(),
        (5, 32)),
    "interpolate": lambda: (Interpolate().eval(), (3, 12, 10)),
    "lstm_classifier": lambda: (Recurrent(nn.LSTM).eval(), (7, 16)),
    "gru_classifier": lambda: (Recurrent(nn.GRU).eval(), (7, 16)),
}


def main():
    kiln, names = sys.argv[1], sys.argv[2:] or list(MODELS)
    failed = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            model, shape = MODELS[name]()
            path = os.path.join(tmp, name + ".onnx")
            # Outside no_grad: PyTorch's fused encoder path there has no ONNX export.
            torch.onnx.export(model, torch.randn(2, *shape), path, input_names=["x"], output_names=["y"],
                              dynamic_axes={"x": {0: "N"}, "y": {0: "N"}}, opset_version=13)
            # kiln's own export of the imported model runs at batch 3 as well:
            # real models out of kiln again (checked by onnx.checker's full check).
            again = os.path.join(tmp, name + ".kiln.onnx")
            exp = subprocess.run([kiln, "export", path, "-o", again], capture_output=True, text=True)
            if exp.returncode != 0:
                print(f"FAIL {name} export: {exp.stderr.strip()[-500:]}")
                failed.append(name)
            else:
                import onnx
                onnx.checker.check_model(onnx.load(again), full_check=True)
            for batch, model_path in ((1, path), (3, path), (3, again)):
                if model_path == again and exp.returncode != 0:
                    continue
                x = torch.randn(batch, *shape)
                with torch.no_grad():
                    want = model(x).numpy()
                np.save(os.path.join(tmp, "x.npy"), x.numpy())
                out = os.path.join(tmp, "out")
                run = subprocess.run([kiln, "run", model_path, "--input", "x=" + os.path.join(tmp, "x.npy"),
                                      "--output-dir", out], capture_output=True, text=True)
                if run.returncode != 0:
                    print(f"FAIL {name} batch {batch}: {run.stderr.strip()[-500:]}")
                    failed.append(name)
                    continue
                got = np.load(os.path.join(out, "y.npy"))
                scale = float(np.abs(want).max()) + 1
                diff = float(np.abs(got - want).max()) if got.shape == want.shape else float("inf")
                ok = diff <= 1e-4 * scale
                what = "kiln's export" if model_path == again else "batch"
                print(f"{'ok' if ok else 'FAIL'} {name} {what} {batch}: {got.shape}, largest difference {diff:.2e}"
                      f" (scale {scale:.2f})")
                if not ok:
                    failed.append(name)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
