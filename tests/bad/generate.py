#!/usr/bin/env python3
"""Writes kiln's bad-input corpus: tests/bad/{onnx,kir,npy}/ and cases.txt.

Each case is a file (or none) and a kiln command with the exit status and a
part of the message it must give; tests/bad/run.sh runs one case and
CMakeLists.txt makes each a ctest test (bad/NAME). The files are committed;
run this again (it needs python3-onnx and python3-numpy, Debian packages)
after changing a case. Deterministic: the same files every run.

    tests/bad/generate.py [DIR]
"""
import os
import struct
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))
cases = []  # (name, status, message part, command)


def case(name, status, message, command):
    assert "\t" not in command and "\t" not in message
    cases.append((name, status, message, command))


def write(sub, name, data):
    os.makedirs(os.path.join(OUT, sub), exist_ok=True)
    with open(os.path.join(OUT, sub, name), "wb" if isinstance(data, bytes) else "w") as f:
        f.write(data)
    return f"$BAD/{sub}/{name}"


# --- ONNX --------------------------------------------------------------------

def model(nodes, inputs, outputs, inits=(), opset=13, opsets=True):
    g = helper.make_graph(nodes, "bad", inputs, outputs, initializer=list(inits))
    kw = {"opset_imports": [helper.make_opsetid("", opset)]} if opsets else {}
    m = helper.make_model(g, producer_name="kiln tests/bad", **kw)
    if not opsets:
        del m.opset_import[:]
    m.ir_version = 8
    return m.SerializeToString()


def vi(name, shape, dtype=TensorProto.FLOAT):
    return helper.make_tensor_value_info(name, dtype, shape)


def ints(name, values):
    return numpy_helper.from_array(np.array(values, dtype=np.int64), name)


def onnx_case(name, status, message, m, extra=""):
    path = write("onnx", name + ".onnx", m)
    case(name, status, message, f"$KILN dump {path} {extra}".strip())


X = vi("x", [1, 1, 4, 4])
Y = vi("y", None)
W3 = numpy_helper.from_array(np.ones((1, 1, 3, 3), np.float32), "w")

# Shape arithmetic that overflows or allocates past the limit.
onnx_case("tile_overflow", 1, "overflows 64 bits",
          model([helper.make_node("Tile", ["x", "r"], ["y"])], [X], [Y], [ints("r", [1 << 30, 1 << 32, 2, 2])]))
onnx_case("expand_100GB", 1, "memory limit",
          model([helper.make_node("Expand", ["x", "s"], ["y"])], [X], [Y], [ints("s", [1 << 16, 1 << 14, 4, 4])]))
onnx_case("concat_overflow", 1, "overflows 64 bits",
          model([helper.make_node("Expand", ["x", "s"], ["e"]), helper.make_node("Concat", ["e", "e"], ["y"], axis=0)],
                [X], [Y], [ints("s", [1 << 61, 1, 4, 4])]))
onnx_case("matmul_huge", 1, "memory limit",
          model([helper.make_node("MatMul", ["a", "b"], ["y"])], [vi("a", [1 << 20, 1]), vi("b", [1, 1 << 20])], [Y]))
big = TensorProto(name="big", data_type=TensorProto.FLOAT, dims=[1 << 32], raw_data=b"\0" * 8)
onnx_case("initializer_lies", 1, "needs 17179869184 bytes of data",
          model([helper.make_node("Add", ["x", "big"], ["y"])], [vi("x", [1 << 32])], [Y], [big]))
huge = TensorProto(name="big", data_type=TensorProto.FLOAT, dims=[1 << 41], raw_data=b"\0" * 8)
onnx_case("initializer_8TiB", 1, "memory limit",
          model([helper.make_node("Add", ["x", "big"], ["y"])], [vi("x", [1])], [Y], [huge]))
onnx_case("negative_dim", 1, "negative dim",
          model([helper.make_node("Add", ["x", "n"], ["y"])], [X], [Y],
                [TensorProto(name="n", data_type=TensorProto.FLOAT, dims=[-4], raw_data=b"")]))
onnx_case("conv_pads_1e9", 1, "more elements than kiln can address",
          model([helper.make_node("Conv", ["x", "w"], ["y"], pads=[10**9] * 4)], [X], [Y], [W3]))
onnx_case("conv_pads_2e18", 1, "at most 2^31",
          model([helper.make_node("Conv", ["x", "w"], ["y"], pads=[2 * 10**18] * 4)], [X], [Y], [W3]))
onnx_case("conv_stride0_same", 1, "strides [0,0] must be >= 1",
          model([helper.make_node("Conv", ["x", "w"], ["y"], auto_pad="SAME_UPPER", strides=[0, 0])], [X], [Y], [W3]))
onnx_case("conv_group0", 1, "groups must be >= 1",
          model([helper.make_node("Conv", ["x", "w"], ["y"], group=0)], [X], [Y], [W3]))
onnx_case("maxpool_kernel_huge", 1, "at most 2^31",
          model([helper.make_node("MaxPool", ["x"], ["y"], kernel_shape=[1 << 40, 1])], [X], [Y]))
onnx_case("maxpool_stride0", 1, "strides [0,1] must be >= 1",
          model([helper.make_node("MaxPool", ["x"], ["y"], kernel_shape=[2, 2], strides=[0, 1])], [X], [Y]))
onnx_case("kernel_shape_mismatch", 1, "kernel_shape [5,5] does not match the weight",
          model([helper.make_node("Conv", ["x", "w"], ["y"], kernel_shape=[5, 5])], [X], [Y], [W3]))
# Strict parsing against ONNX's schemas.
onnx_case("relu_three_inputs", 1, "does not match ONNX's schema of Relu",
          model([helper.make_node("Relu", ["x", "x", "x"], ["y"])], [X], [Y]))
onnx_case("concat_no_axis", 1, "does not match ONNX's schema of Concat",
          model([helper.make_node("Concat", ["x", "x"], ["y"])], [X], [Y]))
float_axis = helper.make_node("Softmax", ["x"], ["y"])
float_axis.attribute.append(helper.make_attribute("axis", 1.0))
onnx_case("softmax_float_axis", 1, "does not match ONNX's schema of Softmax", model([float_axis], [X], [Y]))
onnx_case("no_opset_import", 1, "imports no opset",
          model([helper.make_node("Relu", ["x"], ["y"])], [X], [Y], opsets=False))
onnx_case("opset_99", 1, "opset 99 is unsupported", model([helper.make_node("Relu", ["x"], ["y"])], [X], [Y], opset=99))
onnx_case("undefined_input", 1, "'ghost'", model([helper.make_node("Add", ["x", "ghost"], ["y"])], [X], [Y]))
onnx_case("cycle", 1, "cycle",
          model([helper.make_node("Add", ["x", "b"], ["a"]), helper.make_node("Relu", ["a"], ["b"]),
                 helper.make_node("Relu", ["a"], ["y"])], [X], [Y]))
onnx_case("duplicate_output", 1, "already defined",
          model([helper.make_node("Relu", ["x"], ["y"]), helper.make_node("Neg", ["x"], ["y"])], [X], [Y]))
onnx_case("unknown_op", 1, "Frobnicate",
          model([helper.make_node("Frobnicate", ["x"], ["y"])], [X], [Y]))
onnx_case("lrn_size_2e40", 0, "",
          model([helper.make_node("LRN", ["x"], ["y"], size=1 << 40)], [vi("x", [1, 3, 2, 2])], [Y]))
def damaged(blob):
    """Whether ONNX itself rejects the bytes (a flip in a name still reads)."""
    try:
        onnx.checker.check_model(onnx.load_from_string(blob))
        return False
    except Exception:
        return True

# Damaged files: truncated at several points, and one bit flipped in the first
# bytes whose flip ONNX's checker rejects; each must be one clear error (the file named).
good = model([helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]), helper.make_node("Relu", ["c"], ["y"])],
             [X], [vi("y", [1, 1, 4, 4])], [W3])
assert not damaged(good)
for cut in (3, len(good) // 3, len(good) // 2, len(good) - 5):
    onnx_case(f"truncated_{cut}", 1, "truncated_", good[:cut])
flips = 0
for at in range(0, len(good), 7):
    flipped = bytearray(good)
    flipped[at] ^= 0x80
    if flips < 8 and damaged(bytes(flipped)):
        onnx_case(f"bitflip_{at}", 1, "bitflip_", bytes(flipped))
        flips += 1
case("not_a_file", 1, "no such file", "$KILN dump $BAD/onnx/does_not_exist.onnx")
case("directory", 1, "is a directory", "$KILN dump $BAD/onnx")
case("dev_zero", 1, "past the limit", "ln -s /dev/zero $TMP/zero.onnx && $KILN --max-memory 8M dump $TMP/zero.onnx")

# --- .kir ----------------------------------------------------------------------

def kir_case(name, status, message, text, command="dump"):
    path = write("kir", name + ".kir", text)
    case(name, status, message, f"$KILN {command} {path}")

kir_case("param_100GB", 1, "more than the limit", "graph @g {\n  param %w : f32[25000000000] = zeros\n  output %w\n}\n")
kir_case("shape_wraps", 1, "overflows 64 bits",
         "graph @g {\n  input %x : f32[1073741824,4294967296,8,8]\n  output %x\n}\n")
kir_case("float_out_of_range", 1, "out of the range of f64",
         "graph @g {\n  const %c : f32[1] = [1e99999]\n  output %c\n}\n")
kir_case("i8_out_of_range", 1, "does not fit in i8", "graph @g {\n  const %c : i8[1] = [300]\n  output %c\n}\n")
kir_case("u8_negative", 1, "does not fit in u8", "graph @g {\n  const %c : u8[1] = [-1]\n  output %c\n}\n")
kir_case("float_in_int_data", 1, "is not an integer", "graph @g {\n  const %c : i32[1] = [1.5]\n  output %c\n}\n")
kir_case("unknown_escape", 1, "unknown escape", 'graph @g {\n  input %"a\\q" : f32[1]\n  output %"a\\q"\n}\n')
kir_case("zero_stride", 1, "stride entries must be >= 1",
         "graph @g {\n  input %x : f32[1,1,4,4]\n  %y = max_pool(%x) {kernel=[2,2], stride=[0,1]} : f32[1,1,3,3]\n"
         "  output %y\n}\n")
nested = ["graph @g {", "  input %x : f32[4]", '  %y = fused(%x) {kind="elementwise"} : f32[4] {', "  arg %a0 : f32[4]"]
for d in range(1, 1000):
    nested += [f'  %r{d} = fused(%a{d - 1}) {{kind="elementwise"}} : f32[4] {{', f"  arg %a{d} : f32[4]"]
nested += ["  %e = exp(%a999) : f32[4]", "  yield %e"]
for d in range(999, 0, -1):
    nested += ["  }", f"  yield %r{d}"]
nested += ["  }", "  output %y", "}"]
kir_case("regions_nested_1000", 1, "nest deeper than 16", "\n".join(nested) + "\n")
selus = ["graph @g {", "  input %x : f32[4]"] + [f"  %v{i} = selu(%{'x' if i == 0 else f'v{i - 1}'}) : f32[4]"
                                                    for i in range(40)] + ["  output %v39", "}"]
kir_case("selu_chain_40_kernels", 0, "", "\n".join(selus) + "\n", "dump --stage kernels")
region = ["graph @g {", "  input %x : f32[4]", '  %y = fused(%x) {kind="elementwise"} : f32[4] {', "  arg %v0 : f32[4]"]
region += [f"  %v{i + 1} = {'neg' if i % 2 else 'exp'}(%v{i}) : f32[4]" for i in range(8000)]
region += ["  yield %v8000", "  }", "  output %y", "}"]
kir_case("region_chain_8000_kernels", 0, "", "\n".join(region) + "\n", "dump --stage kernels -O0")
kir_case("nul_in_name", 1, "byte 0x00", "graph @g {\n  input %x\0 : f32[1]\n  output %x\n}\n")

# --- .npy inputs of kiln run ------------------------------------------------------

relu = write("kir", "relu.kir", "graph @relu {\n  input %x : f32[N,3]\n  %y = relu(%x) : f32[N,3]\n  output %y\n}\n")


def npy(header, data=b"", version=1):
    h = header.encode("latin1")
    pad = (64 - (10 + len(h) + 1) % 64) % 64
    h = h + b" " * pad + b"\n"
    return b"\x93NUMPY" + bytes([version, 0]) + struct.pack("<H", len(h)) + h + data


def npy_case(name, status, message, data):
    path = write("npy", name + ".npy", data)
    case(name, status, message, f"$KILN run {relu} -i x={path} -o $TMP/out")

f32 = np.arange(6, dtype=np.float32).tobytes()
npy_case("npy_fortran_maybe", 1, "'fortran_order' is 'Maybe'",
         npy("{'descr': '<f4', 'fortran_order': Maybe, 'shape': (2, 3), }", f32))
npy_case("npy_empty_shape_entry", 1, "has an empty entry",
         npy("{'descr': '<f4', 'fortran_order': False, 'shape': (3,, 4), }", f32))
npy_case("npy_nul_in_header", 1, "byte 0x00",
         npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }\0", f32))
npy_case("npy_truncated_data", 1, "truncated", npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", f32[:8]))
npy_case("npy_trailing_bytes", 1, "more after them",
         npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", f32 + b"junk"))
npy_case("npy_shape_overflow", 1, "overflows 64 bits",
         npy("{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296, 3), }", f32))
npy_case("npy_wrong_rank", 1, "rank 2 was expected", npy("{'descr': '<f4', 'fortran_order': False, 'shape': (6,), }", f32))
npy_case("npy_bad_magic", 1, "npy_bad_magic", b"\x93NUMPX" + f32)

# Valid edge cases: exit 0 and the right answer (tests/bad/check.py).
def valid_npy(name, array, expected):
    path = write("npy", name + ".npy", npy_bytes(array))
    want = write("npy", name + ".want.npy", npy_bytes(expected))
    case(name, 0, "", f"$KILN run {relu} -i x={path} -o $TMP/out && $PYTHON $BAD/check.py $TMP/out/y.npy {want}")


def npy_bytes(array):
    import io
    b = io.BytesIO()
    np.save(b, array)
    return b.getvalue()

valid_npy("zero_size_batch", np.zeros((0, 3), np.float32), np.zeros((0, 3), np.float32))
nan_in = np.array([[np.nan, -1, 2], [np.inf, -np.inf, -0.5]], np.float32)
valid_npy("nan_inputs", nan_in, np.maximum(nan_in, 0))
scalar = write("kir", "scalar.kir", "graph @s {\n  input %x : f32[]\n  %y = neg(%x) : f32[]\n  output %y\n}\n")
zero_d = write("npy", "zero_d.npy", npy_bytes(np.array(2.5, np.float32)))
zero_d_want = write("npy", "zero_d.want.npy", npy_bytes(np.array(-2.5, np.float32)))
case("zero_d_tensor", 0, "", f"$KILN run {scalar} -i x={zero_d} -o $TMP/out && $PYTHON $BAD/check.py $TMP/out/y.npy {zero_d_want}")
conv0 = write("kir", "conv_zero_batch.kir", "graph @c {\n  input %x : f32[0,1,4,4]\n  param %w : f32[2,1,3,3] = zeros\n"
              "  %y = conv(%x, %w) {pad=[1,1,1,1]} : f32[0,2,4,4]\n  output %y\n}\n")
case("conv_zero_batch_kernels", 0, "", f"$KILN dump {conv0} --stage kernels")
k0 = write("kir", "matmul_k0.kir", "graph @m {\n  input %a : f32[4,0]\n  input %b : f32[0,3]\n"
           "  %y = matmul(%a, %b) : f32[4,3]\n  output %y\n}\n")
case("matmul_k0_kernels", 0, "", f"$KILN dump {k0} --stage kernels")
a40 = write("npy", "a40.npy", npy_bytes(np.zeros((4, 0), np.float32)))
b03 = write("npy", "b03.npy", npy_bytes(np.zeros((0, 3), np.float32)))
zeros43 = write("npy", "zeros43.want.npy", npy_bytes(np.zeros((4, 3), np.float32)))
case("matmul_k0_run", 0, "", f"$KILN run {k0} -i a={a40} -i b={b03} -o $TMP/out && $PYTHON $BAD/check.py $TMP/out/y.npy {zeros43}")
symc = write("kir", "conv_symbolic_channels.kir", "graph @g {\n  input %x : f32[N,C,8,8]\n  param %w : f32[4,3,3,3] = zeros\n"
             "  %c = conv(%x, %w) {pad=[1,1,1,1]} : f32[N,4,8,8]\n  output %c\n}\n")
x2 = write("npy", "x_2_channels.npy", npy_bytes(np.ones((1, 2, 8, 8), np.float32)))
case("symbol_bound_against_rule", 1, "at these sizes", f"$KILN run {symc} -i x={x2} -o $TMP/out")
collide = write("kir", "collide.kir", 'graph @c {\n  input %x : f32[1]\n  %"a/b" = neg(%x) : f32[1]\n'
                '  %"a:b" = exp(%x) : f32[1]\n  output %"a/b", %"a:b"\n}\n')
one = write("npy", "one.npy", npy_bytes(np.array([1.0], np.float32)))
case("output_names_collide", 1, "would both be written to a_b.npy", f"$KILN run {collide} -i x={one} -o $TMP/out")

# --- Writes that cannot lie ---------------------------------------------------------

case("output_dir_is_a_file", 1, "cannot create the output directory",
     f"touch $TMP/file && $KILN run {relu} -i x=$BAD/npy/nan_inputs.npy -o $TMP/file/out")
case("full_disk_npy", 1, "No space left on device",
     f"$BAD/with_full_disk.sh $TMP/full $KILN run {relu} -i x=$BAD/npy/nan_inputs.npy -o $TMP/full")
case("full_disk_dump_dir", 1, "No space left on device",
     f"$BAD/with_full_disk.sh $TMP/full $KILN dump {relu} --stage optimized --dump-dir $TMP/full/dumps")
case("dump_kernels_to_full_device", 1, "No space left on device",
     "$KILN train --model mlp --limit 64 --test-limit 64 --output-dir $TMP/o --dump-kernels /dev/full")
case("train_output_dir_is_a_file", 1, "--output-dir",
     "touch $TMP/f && $KILN train --model mlp --limit 64 --test-limit 64 --output-dir $TMP/f/o")

# --- Training arguments and checkpoints ---------------------------------------------

TRAIN = "$KILN train --model mlp --limit 64 --test-limit 64 --output-dir $TMP/o"
case("lr_nan", 1, "--lr nan", f"{TRAIN} --lr nan")
case("lr_negative", 1, "--lr -0.1", f"{TRAIN} --lr -0.1")
case("momentum_one", 1, "--momentum", f"{TRAIN} --momentum 1")
case("limit_zero", 1, "--limit", f"{TRAIN} --limit 0")
case("limit_negative", 1, "--limit", f"{TRAIN} --limit -5")
case("loss_becomes_nan", 1, "the training loss is NaN",
     "$KILN train --model mlp --limit 256 --test-limit 64 --output-dir $TMP/o --lr 1e30")
for name, edit, message in (
    ("resume_epochs_negative", "epochs:-5", "epochs_done is \"-5\""),
    ("resume_epochs_abc", "epochs:abc", "epochs_done is \"abc\""),
    ("resume_bit_flipped", "flip", "does not match its checksum"),
    ("resume_nan_weights", "nan", "checksum"),
    ("resume_truncated", "truncate", "not a valid safetensors checkpoint"),
):
    case(name, 1, message, f"{TRAIN} --checkpoint $TMP/c.safetensors >/dev/null && "
                           f"$PYTHON $BAD/edit_checkpoint.py $TMP/c.safetensors {edit} && "
                           f"{TRAIN} --resume $TMP/c.safetensors")
case("resume_nan_weights_resummed", 1, "non-finite value",
     f"{TRAIN} --checkpoint $TMP/c.safetensors >/dev/null && $PYTHON $BAD/edit_checkpoint.py $TMP/c.safetensors nan-resum"
     f" && {TRAIN} --resume $TMP/c.safetensors")
def idx(kind, dims, data=b""):
    return bytes([0, 0, 8, len(dims)]) + b"".join(struct.pack(">I", d) for d in dims) + data

# Datasets as (images claimed, image bytes held, labels claimed, label bytes held).
datasets = {"empty": (0, 0, 0, 0), "mismatch": (2, 2 * 784, 3, 3), "lying": (60000, 784, 60000, 1)}
for name, (images, image_bytes, labels, label_bytes) in datasets.items():
    for split in ("train", "t10k"):  # IDX files, uncompressed (zlib reads them as they are)
        write(f"data/{name}", f"{split}-images-idx3-ubyte.gz", idx(3, [images, 28, 28], bytes(image_bytes)))
        write(f"data/{name}", f"{split}-labels-idx1-ubyte.gz", idx(1, [labels], bytes(label_bytes)))
case("dataset_of_no_images", 1, "train-images-idx3-ubyte.gz holds no images", "$KILN train --model mlp --data $BAD/data/empty --output-dir $TMP/o")
case("dataset_counts_differ", 1, "do not hold images [N, rows, cols] and N labels",
     "$KILN train --model mlp --data $BAD/data/mismatch --output-dir $TMP/o")
case("dataset_truncated", 1, "needs 47040000 bytes of data",
     "$KILN train --model mlp --data $BAD/data/lying --output-dir $TMP/o")
case("missing_dataset", 1, "no-such-dir", "$KILN train --model mlp --data $TMP/no-such-dir --output-dir $TMP/o")
case("max_memory_bad", 1, "max_memory", "KILN_FLAGS=max_memory=lots $KILN ops")

with open(os.path.join(OUT, "cases.txt"), "w") as f:
    f.write("# name<TAB>exit status<TAB>part of the message<TAB>command ($KILN, $BAD, $TMP); written by generate.py\n")
    for c in cases:
        f.write("\t".join(str(x) for x in c) + "\n")
print(f"{len(cases)} cases in {OUT}/cases.txt")
