"""Keras to ONNX: fp32 through tf2onnx, int8 through onnxruntime's static QDQ quantization.

(Named onnx_export, not onnx, so that `import onnx` inside this package finds the real one.)

* fp32: opset 17, input "input" float32 (N, H, W, 3) raw 0..255 pixels with a dynamic
  batch dimension, output float32 (N, K) probabilities in label order.
* int8: the fp32 graph, pre-processed (`quant_pre_process`: shape inference and graph
  optimization), then statically quantized in QDQ format with per-channel int8 weights in
  7-bit range (`reduce_range`, so x86 CPUs without VNNI give the same answers, `INT8_RECIPE`) and
  uint8 activations calibrated (MinMax) on the same images as TFLite. Input and output stay
  float32, so callers feed raw pixels as floats. The head (last dense layer to the output)
  stays float, so probabilities are not clipped to the range calibration saw (`find_head_nodes`).
* fp16 and dynamic are TFLite-only: onnxruntime's CPU kernels gain nothing from fp16
  weights, and dynamic quantization of convolutions (ConvInteger) is slower than fp32 there.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from catdog.errors import CatdogError
from catdog.export.quiet import captured_native_output
from catdog.export.tflite import range_anchor_image

OPSET = 17
INPUT_NAME = "input"
ONNX_PRECISIONS = ("fp32", "int8")
CALIBRATION_BATCH = 32


def convert_to_onnx(function):
    """Return the fp32 ONNX ModelProto of a probability `tf.function` (dynamic batch, opset 17).

    tf2onnx converts the function's graph frozen by `freeze_function` (`from_graph_def`), which
    also avoids its Keras path's failures on Keras 3 models (e.g. `KeyError: 'keras_tensor_5'`
    for a Sequential). The input is named "input" and the output "probabilities", as traced.
    """
    import tf2onnx

    graph_def, renames = freeze_function(function)
    with captured_native_output():
        proto, _ = tf2onnx.convert.from_graph_def(graph_def, input_names=list(renames["inputs"]),
                                                  output_names=list(renames["outputs"]), opset=OPSET,
                                                  tensors_to_rename={**renames["inputs"], **renames["outputs"]})
    return proto


def freeze_function(function):
    """The GraphDef of a `tf.function` with every captured value folded in as a constant, and its tensor names.

    Returns (graph_def, {"inputs": {graph name: ONNX name}, "outputs": {...}}). Variables AND captured
    tensors become Const nodes. tf2onnx's own `from_function` freezes only variables and takes every
    other captured tensor for a graph input: an adapted `keras.layers.Normalization` (Keras 3 keeps
    its mean and variance as tensors) then left two inputs (`.../normalization/Sub/y:0`,
    `.../Sqrt/x:0`) that no caller feeds, and the fp32 check failed with "Required inputs ... are
    missing". Freezing first, as the TFLite path does, folds them into the graph.
    """
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    concrete = function.get_concrete_function()
    frozen = convert_variables_to_constants_v2(concrete, lower_control_flow=False, aggressive_inlining=True)
    signature = function.input_signature
    inputs = {tensor.name: (spec.name or tensor.name.split(":")[0])
              for tensor, spec in zip(frozen.inputs, signature)}
    # The frozen function's outputs are a flat list in tf.nest order (sorted keys for a dict): name them as traced.
    structured = concrete.structured_outputs
    names = sorted(structured) if isinstance(structured, dict) else range(len(frozen.outputs))
    outputs = {tensor.name: str(name) for name, tensor in zip(names, frozen.outputs)}
    return frozen.graph.as_graph_def(add_shapes=True), {"inputs": inputs, "outputs": outputs}


def make_calibration_reader(calibration_images: np.ndarray):
    """An onnxruntime CalibrationDataReader yielding the range anchor, then the images in batches."""
    from onnxruntime.quantization import CalibrationDataReader

    images = calibration_images.astype(np.float32)
    batches = [range_anchor_image(images.shape[1:3])]
    batches += [images[start:start + CALIBRATION_BATCH] for start in range(0, len(images), CALIBRATION_BATCH)]

    class CalibrationReader(CalibrationDataReader):
        """One pass over the batches is all MinMax calibration needs."""

        def __init__(self):
            self.remaining = iter(batches)

        def get_next(self):
            batch = next(self.remaining, None)
            return None if batch is None else {INPUT_NAME: batch}

    return CalibrationReader()


@dataclass(frozen=True)
class Int8Recipe:
    """The `quantize_static` settings of an int8 ONNX file; recorded in the file's metadata as `quantization`.

    activation / weight: "U8" (QuantType.QUInt8) or "S8" (QuantType.QInt8). reduce_range: 7-bit
    weights (onnxruntime's documented fix for U8S8 saturation on x86 without VNNI). float_head: the
    nodes from the last dense layer to the output stay float (`find_head_nodes`). float_first_conv:
    the first convolution, which sees raw 0..255 pixels, stays float too.
    """

    activation: str = "U8"
    weight: str = "S8"
    per_channel: bool = True
    reduce_range: bool = False
    float_head: bool = True
    float_first_conv: bool = False

    def to_dict(self) -> dict:
        """JSON-ready fields, plus the quantizer's name, for the file's metadata."""
        return {"quantizer": "onnxruntime.quantization.quantize_static", "format": "QDQ",
                "calibration": "MinMax", **dataclasses.asdict(self)}

    def describe(self) -> str:
        """A short human name, e.g. 'U8S8 per-channel reduce_range, head float'."""
        parts = [f"{self.activation}{self.weight}", "per-channel" if self.per_channel else "per-tensor"]
        parts += ["reduce_range"] if self.reduce_range else []
        floats = [name for name, kept in (("head", self.float_head), ("first Conv", self.float_first_conv)) if kept]
        return " ".join(parts) + (f", {' and '.join(floats)} float" if floats else ", all quantized")


# Chosen by measurement on the shipped model (benchmarks/onnx_int8_recipes.py, results in
# benchmarks/results/onnx_int8_recipes.md; docs/cpu-classes.md): the answers must hold on every CPU class.
# Plain U8S8 flipped 22 of 500 labels under qemu Haswell (AVX2, no VNNI; max |dP| 0.70); with
# reduce_range (7-bit weights, no 16-bit overflow in vpmaddubsw) the same 2 of 500 flip on AVX2 and
# AVX-512 VNNI alike (max |dP| 0.069) at the same speed (0.52-0.55x fp32 on VNNI). U8U8 also held its
# answers but ran no faster than fp32; per-tensor weights and a float first Conv missed the targets.
INT8_RECIPE = Int8Recipe(reduce_range=True)


def quantize_onnx_int8(fp32_model, *, calibration_images: np.ndarray, recipe: Int8Recipe = INT8_RECIPE):
    """Return the statically quantized (QDQ) ModelProto of an fp32 ONNX model, quantized as `recipe` says.

    The default, INT8_RECIPE, is U8S8 per-channel with reduce_range and a float head.

    uint8 activations with int8 weights (U8S8) are what onnxruntime's CPU kernels are built for:
    every Conv, the residual Adds and the Gemm fuse into QLinearConv/QLinearAdd/QGemm, leaving one
    Transpose. With int8 activations (S8S8) onnxruntime 1.32 fused only half the Convs and kept 13
    layout Transposes around float ones, so int8 ran at 1.45x the fp32 latency instead of 0.56x
    (benchmarks/onnx_int8_choices.py, results in benchmarks/results/onnx_int8_choices.md).
    On x86 without VNNI, U8S8 sums pairs of products in 16 bits and saturates; which recipe keeps
    the answers on every CPU class is measured by benchmarks/onnx_int8_recipes.py.
    """
    import onnx
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    if calibration_images is None or len(calibration_images) == 0:
        raise CatdogError("int8 calibration needs calibration images, got none: pass --calib DIR")
    types = {"U8": QuantType.QUInt8, "S8": QuantType.QInt8}
    reader = make_calibration_reader(calibration_images)
    with tempfile.TemporaryDirectory(prefix="catdog-onnx-") as folder:
        fp32_path, prepared_path, int8_path = (Path(folder) / name for name in ("fp32.onnx", "pre.onnx", "int8.onnx"))
        onnx.save(fp32_model, fp32_path)
        # Symbolic shape inference needs sympy; without it onnx's own shape inference is enough here.
        skip_symbolic = importlib.util.find_spec("sympy") is None
        with captured_native_output():
            quant_pre_process(str(fp32_path), str(prepared_path), skip_symbolic_shape=skip_symbolic)
        prepared = onnx.load(prepared_path)
        head_nodes = find_head_nodes(prepared.graph)  # also names unnamed nodes: exclusion is by name
        excluded = list(head_nodes) if recipe.float_head else []
        if recipe.float_first_conv:
            excluded += [node.name for node in prepared.graph.node if node.op_type == "Conv"][:1]
        onnx.save(prepared, prepared_path)  # with the node names find_head_nodes gave unnamed nodes
        with captured_native_output():
            quantize_static(str(prepared_path), str(int8_path), reader, quant_format=QuantFormat.QDQ,
                            per_channel=recipe.per_channel, reduce_range=recipe.reduce_range,
                            activation_type=types[recipe.activation], weight_type=types[recipe.weight],
                            nodes_to_exclude=excluded)
        return onnx.load(int8_path)


# Ops that can sit between the last dense layer and the output: the head (sigmoid, [1 - p, p],
# softmax, logits arithmetic) and reshapes.
HEAD_OPS = {"Sigmoid", "Softmax", "Sub", "Concat", "Split", "Identity", "Reshape", "Squeeze", "Unsqueeze", "Flatten",
            "Mul", "Add", "Div", "Exp", "Neg", "ReduceSum", "ReduceMax", "Cast", "Transpose"}
DENSE_OPS = {"MatMul", "Gemm"}


def find_head_nodes(graph) -> list[str]:
    """Names of the nodes from the last dense layer (MatMul/Gemm, inclusive) to the graph's output.

    These stay float32 in the int8 ONNX file. Quantized, their outputs would be clipped to the
    range calibration saw: a uint8 sigmoid calibrated on [0.01, 0.99] can never say more than
    0.99, however sure the model is, and the logit before it is clipped the same way. In float
    they cost one (1, C) x (C, K) product and a few element-wise ops per image. Walks back from
    the output through HEAD_OPS and stops at a dense op or any other op (a conv, a pool).
    Unnamed nodes get a name here, because quantize_static excludes nodes by name.
    """
    producers = {}
    for index, node in enumerate(graph.node):
        if not node.name:
            node.name = f"catdog_head_candidate_{index}"
        for output in node.output:
            producers[output] = node
    names, pending, seen = [], [graph.output[0].name], set()
    while pending:
        node = producers.get(pending.pop())
        if node is None or node.name in seen or node.op_type not in HEAD_OPS | DENSE_OPS:
            continue
        seen.add(node.name)
        names.append(node.name)
        if node.op_type not in DENSE_OPS:
            pending.extend(node.input)
    return names


def describe_onnx_tensors(model_bytes: bytes) -> dict[str, dict]:
    """Name and dtype of the model's input and output, from onnxruntime itself (floats: no quantization)."""
    session = make_onnx_session(model_bytes)
    dtypes = {"tensor(float)": "float32", "tensor(uint8)": "uint8", "tensor(int8)": "int8"}
    return {role: {"name": node.name, "dtype": dtypes.get(node.type, node.type), "quantization": None}
            for role, node in (("input", session.get_inputs()[0]), ("output", session.get_outputs()[0]))}


def make_onnx_session(model_bytes: bytes, *, threads: int | None = None):
    """An onnxruntime CPU session over in-memory model bytes."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
    return onnxruntime.InferenceSession(model_bytes, options, providers=["CPUExecutionProvider"])
