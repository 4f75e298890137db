#!/usr/bin/env python3
"""Writes lenet5.onnx: LeNet-5 as torch.onnx.export would write it (Conv,
Relu, MaxPool, Flatten, Gemm with transB, Softmax; a symbolic batch "N";
opset 13), with seeded random weights. The C++ example and the tests run
its `kiln compile`d object. Needs python3-onnx and python3-numpy:

    /usr/bin/python3 examples/aot/make_lenet_onnx.py examples/aot/lenet5.onnx
"""
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

rng = np.random.default_rng(5)


def weight(name, *shape):
    fan_in = int(np.prod(shape[1:]))
    return numpy_helper.from_array((rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(np.float32), name)


inits = [weight("conv1.w", 6, 1, 5, 5), numpy_helper.from_array(np.zeros(6, np.float32), "conv1.b"),
         weight("conv2.w", 16, 6, 5, 5), numpy_helper.from_array(np.zeros(16, np.float32), "conv2.b"),
         weight("fc1.w", 120, 400), numpy_helper.from_array(np.full(120, 0.01, np.float32), "fc1.b"),
         weight("fc2.w", 84, 120), numpy_helper.from_array(np.full(84, 0.01, np.float32), "fc2.b"),
         weight("fc3.w", 10, 84), numpy_helper.from_array(np.zeros(10, np.float32), "fc3.b")]
nodes = [
    helper.make_node("Conv", ["input", "conv1.w", "conv1.b"], ["c1"], kernel_shape=[5, 5], pads=[2, 2, 2, 2]),
    helper.make_node("Relu", ["c1"], ["r1"]),
    helper.make_node("MaxPool", ["r1"], ["p1"], kernel_shape=[2, 2], strides=[2, 2]),
    helper.make_node("Conv", ["p1", "conv2.w", "conv2.b"], ["c2"], kernel_shape=[5, 5]),
    helper.make_node("Relu", ["c2"], ["r2"]),
    helper.make_node("MaxPool", ["r2"], ["p2"], kernel_shape=[2, 2], strides=[2, 2]),
    helper.make_node("Flatten", ["p2"], ["flat"], axis=1),
    helper.make_node("Gemm", ["flat", "fc1.w", "fc1.b"], ["g1"], transB=1),
    helper.make_node("Relu", ["g1"], ["h1"]),
    helper.make_node("Gemm", ["h1", "fc2.w", "fc2.b"], ["g2"], transB=1),
    helper.make_node("Relu", ["g2"], ["h2"]),
    helper.make_node("Gemm", ["h2", "fc3.w", "fc3.b"], ["logits"], transB=1),
    helper.make_node("Softmax", ["logits"], ["probs"], axis=1),
]
graph = helper.make_graph(nodes, "lenet5", [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 1, 28, 28])],
                          [helper.make_tensor_value_info("probs", TensorProto.FLOAT, ["N", 10])], inits)
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="kiln examples")
onnx.checker.check_model(model, full_check=True)
onnx.save(model, sys.argv[1])
