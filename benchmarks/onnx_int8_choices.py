"""int8 ONNX choices: which `quantize_static` settings make the int8 file faster than fp32, and why.

Converts the shipped Keras model with `catdog-export --fp32 --format onnx` (a subprocess), calibrates
on the shipped calibration samples (`export/samples/calibration`, plus the 0..255 range anchor),
quantizes it once per choice below, and then, in one process:

  latency    batch-1 `session.run` on 1 thread (intra-op 1, no spinning, as `OnnxEngine` opens it),
             every file timed round-robin in short chunks (`catdog.measure.timing.run_interleaved`)
             so machine drift hits all of them alike; p50 / fp32 p50 is the figure of merit
  accuracy   on the shipped validation samples (`export/samples/validation`, 500 labelled photos),
             and label agreement with the fp32 file
  graph      the file's own op counts, and the op counts of the graph onnxruntime actually runs
             (`optimized_model_filepath` at ORT_ENABLE_ALL): what was fused into QLinear* kernels,
             how many Transposes and float Q/DQ pairs are left

Choices: QDQ vs QOperator; activations int8 (S8) vs uint8 (U8); weights S8 vs U8; per-channel
vs per-tensor; all ops vs only Conv/Gemm/MatMul; with and without `quant_pre_process`; and the
row `export: quantize_onnx_int8`, the function catdog-export calls, which must match the winner.
Results go to benchmarks/results/onnx_int8_choices.{json,md}. Needs the [train] extra (TensorFlow).

    .venv/bin/python benchmarks/onnx_int8_choices.py
"""

from __future__ import annotations

import collections
import importlib.util
import os
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import click
import numpy as np

from catdog.measure.machine import describe_machine
from catdog.measure.timing import run_interleaved, summarize
from results_io import write_results  # benchmarks/ is the script's own folder

try:
    from catdog.runtime.prediction import decide
except ImportError:  # before runtime/prediction.py lands: the same rule (argmax, ties to the later label)
    def decide(probabilities: np.ndarray) -> np.ndarray:
        """(N, K) probabilities -> (N,) label indices, ties broken toward the later index."""
        return probabilities.shape[1] - 1 - np.argmax(probabilities[:, ::-1], axis=1)

RESULTS = Path(__file__).resolve().parent / "results" / "onnx_int8_choices"


@dataclass(frozen=True)
class Choice:
    """One set of quantize_static settings."""

    name: str
    quant_format: str = "QDQ"        # QDQ | QOperator
    activation: str = "S8"           # S8 = QuantType.QInt8, U8 = QuantType.QUInt8
    weight: str = "S8"
    per_channel: bool = True
    op_types: tuple[str, ...] | None = None   # None: every op onnxruntime can quantize
    preprocess: bool = True          # quant_pre_process (shape inference + ORT basic fusions) first


CHOICES = (
    Choice("QDQ S8S8 per-channel (shipped)"),
    Choice("QDQ S8S8 per-tensor", per_channel=False),
    Choice("QDQ U8S8 per-channel", activation="U8"),
    Choice("QDQ U8S8 per-tensor", activation="U8", per_channel=False),
    Choice("QDQ U8U8 per-tensor", activation="U8", weight="U8", per_channel=False),
    Choice("QDQ S8S8 per-channel, Conv+Gemm+MatMul only", op_types=("Conv", "Gemm", "MatMul")),
    Choice("QDQ S8S8 per-channel, Conv+Add+Gemm+MatMul only", op_types=("Conv", "Add", "Gemm", "MatMul")),
    Choice("QDQ S8S8 per-channel, no pre-process", preprocess=False),
    Choice("QOperator U8S8 per-channel", quant_format="QOperator", activation="U8"),
    Choice("QOperator U8S8 per-tensor", quant_format="QOperator", activation="U8", per_channel=False),
    Choice("QOperator S8S8 per-channel", quant_format="QOperator"),
)


def quantize(fp32_path: Path, out_path: Path, choice: Choice, *, calibration_images: np.ndarray) -> None:
    """Quantize fp32_path into out_path with one choice's settings."""
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    from catdog.export.onnx_export import make_calibration_reader
    from catdog.export.quiet import captured_native_output

    types = {"S8": QuantType.QInt8, "U8": QuantType.QUInt8}
    source = fp32_path
    with captured_native_output():
        if choice.preprocess:
            source = out_path.with_suffix(".pre.onnx")
            quant_pre_process(str(fp32_path), str(source), skip_symbolic_shape=importlib.util.find_spec("sympy") is None)
        quantize_static(str(source), str(out_path), make_calibration_reader(calibration_images),
                        quant_format=QuantFormat.QDQ if choice.quant_format == "QDQ" else QuantFormat.QOperator,
                        per_channel=choice.per_channel, activation_type=types[choice.activation],
                        weight_type=types[choice.weight],
                        op_types_to_quantize=list(choice.op_types) if choice.op_types else None)


def count_ops(model_path: Path) -> dict[str, int]:
    """Op type counts of an ONNX file."""
    import onnx

    return dict(collections.Counter(node.op_type for node in onnx.load(str(model_path)).graph.node))


def open_session(model_path: Path, *, optimized_path: Path | None = None):
    """A 1-thread CPU session opened as OnnxEngine opens it; optionally saving the graph ORT runs."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    if optimized_path is not None:
        options.optimized_model_filepath = str(optimized_path)
    return onnxruntime.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])


def predict(session, images: np.ndarray) -> np.ndarray:
    """(N, K) probabilities from a 1-unit sigmoid or K-unit softmax ONNX file, batch by batch."""
    name = session.get_inputs()[0].name
    outputs = [session.run(None, {name: images[start:start + 64].astype(np.float32)})[0]
               for start in range(0, len(images), 64)]
    values = np.concatenate(outputs).reshape(len(images), -1)
    return np.concatenate([1.0 - values, values], axis=1) if values.shape[1] == 1 else values


def summarize_graph(ops: dict[str, int]) -> str:
    """A short op summary: the kinds that matter for int8 speed."""
    keys = ("Conv", "QLinearConv", "NhwcQLinearConv", "QLinearAdd", "QGemm", "Gemm", "MatMul", "Transpose",
            "QuantizeLinear", "DequantizeLinear", "Mul", "Add")
    shown = [f"{key} {ops[key]}" for key in keys if ops.get(key)]
    other = sum(count for key, count in ops.items() if key not in keys)
    return ", ".join(shown + ([f"other {other}"] if other else []))


def write_markdown(report: dict, path: Path) -> None:
    """Write the table and the verdict."""
    machine = report["machine"]
    lines = ["# int8 ONNX: quantization choices", "",
             f"Machine: {machine['cpu']}, {machine['cores']} cores (1-minute load average {machine['load_average']} "
             f"at the start); onnxruntime {report['onnxruntime']}, 1 intra-op thread, batch 1, "
             f"{report['runs']} interleaved runs per file.",
             f"Model: `{report['model']}`; calibration: {report['calibration_images']} shipped samples; "
             f"accuracy: {report['validation_images']} shipped validation samples.", "",
             "| file | p50 ms | p90 ms | p50 / fp32 | accuracy | agreement with fp32 | Transposes in the file | "
             "ops onnxruntime runs (ORT_ENABLE_ALL) |",
             "|---|---|---|---|---|---|---|---|"]
    for row in report["rows"]:
        lines.append(f"| {row['name']} | {row['latency_ms']['p50']:.3f} | {row['latency_ms']['p90']:.3f} | "
                     f"{row['ratio_to_fp32']:.2f} | {row['accuracy']:.3f} | {row['agreement']:.3f} | "
                     f"{row['ops'].get('Transpose', 0)} | {row['optimized_summary']} |")
    lines += ["", "Through catdog's engine (uint8 pixels in, probabilities out), same run:", "",
              "| engine call | p50 ms | p90 ms |", "|---|---|---|"]
    lines += [f"| {name} | {value['p50']:.3f} | {value['p90']:.3f} |" for name, value in report["engine_rows"].items()]
    lines += ["", "Reading the table: a row is fast when onnxruntime fuses every DequantizeLinear -> op ->",
              "QuantizeLinear group into one integer kernel (QLinearConv, QLinearAdd, QGemm). The fp32 graph from",
              "tf2onnx keeps one NHWC->NCHW Transpose at the input and none around the convolutions; in the",
              "rows that stay slow, onnxruntime leaves Convs in float between Q/DQ pairs and its NHWC layout",
              "pass wraps the fused ones in Transposes that cannot cancel. That happens with int8 activations",
              "(S8S8): its S8S8 QLinearConv is the slow kernel on this CPU (QOperator S8S8, where every Conv is",
              "a QLinearConv, runs far slower than fp32). With uint8 activations and int8 weights (U8S8) QDQ and",
              "QOperator run the same fused graph at the same speed; U8U8 fuses too but is no faster than fp32.",
              "Per-channel weights cost no time and keep more labels of fp32 than per-tensor (agreement column).",
              "Caveat from onnxruntime's documentation: on x86 CPUs without VNNI, U8S8 uses VPMADDUBSW, which",
              "can saturate; catdog-export's verification against Keras would catch an accuracy drop there.", "",
              f"Target: int8 p50 at most 0.75x fp32 p50, accuracy within 1 point of fp32. "
              f"`quantize_onnx_int8`: {report['verdict']}", "", f"Command: `{report['command']}`", ""]
    path.write_text("\n".join(lines))


@click.command()
@click.option("--model", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="Keras model to convert; default: the shipped catdog.keras.")
@click.option("--runs", type=click.IntRange(min=50), default=3000, show_default=True,
              help="Timed batch-1 runs per file.")
@click.option("--out", type=click.Path(path_type=Path), default=RESULTS, show_default=True,
              help="Results path without suffix.")
def main(model, runs, out):
    """Quantize the model every way in CHOICES, time and score each, and write JSON and Markdown."""
    import onnx
    import onnxruntime

    from catdog.export.calibration import card_spec, load_calibration_images
    from catdog.export.loaders import default_model_path
    from catdog.export.onnx_export import quantize_onnx_int8
    from catdog.export.samples import VALIDATION_DIR
    from catdog.train.data import decode_images, list_labelled_files

    machine = describe_machine(threads=1)
    model_path = Path(model) if model else default_model_path()
    spec = card_spec(model_path)
    if spec is None:
        raise click.UsageError(f"{model_path} has no training card beside it to give its input size and labels")
    calibration = load_calibration_images(None, spec=spec)
    images, labels = decode_images(list_labelled_files(VALIDATION_DIR), spec=spec, description="validation")
    images, labels = np.asarray(images), np.asarray(labels).astype(int)
    rows, sessions = [], {}
    with tempfile.TemporaryDirectory(prefix="catdog-int8-") as folder:
        folder = Path(folder)
        # The fp32 file catdog-export writes (verified against Keras) is what its int8 export quantizes.
        subprocess.run([str(Path(sys.executable).with_name("catdog-export")), str(model_path), "--fp32", "--format",
                        "onnx", "--out", str(folder / "fp32")], check=True, stdout=subprocess.DEVNULL)
        fp32_path = next((folder / "fp32").glob("*_fp32.onnx"))
        files = {"fp32": (fp32_path, None)}
        for index, choice in enumerate(CHOICES):
            path = folder / f"choice{index}.onnx"
            quantize(fp32_path, path, choice, calibration_images=calibration)
            files[choice.name] = (path, choice)
            print(f"quantized: {choice.name}", file=sys.stderr)
        export_path = folder / "export.onnx"
        onnx.save(quantize_onnx_int8(onnx.load(str(fp32_path)), calibration_images=calibration), export_path)
        files["export: quantize_onnx_int8"] = (export_path, None)
        for name, (path, choice) in files.items():
            optimized = path.with_suffix(".optimized.onnx")
            session = open_session(path, optimized_path=optimized)
            sessions[name] = session
            rows.append({"name": name, "choice": asdict(choice) if choice else None, "size_bytes": path.stat().st_size,
                         "ops": count_ops(path), "optimized_ops": count_ops(optimized),
                         "probabilities": predict(session, images)})
        # What users call: catdog's OnnxEngine (uint8 in, float out) on the fp32 file and the export's.
        from catdog.runtime.engine import open_engine

        engines = {f"OnnxEngine.predict: {name}": open_engine(files[name][0], threads=1)
                   for name in ("fp32", "export: quantize_onnx_int8")}
    pixels = np.random.default_rng(0).integers(0, 256, size=(1, *spec.input_shape), dtype=np.uint8)
    one = pixels.astype(np.float32)
    calls = {name: (lambda session=session, name_=session.get_inputs()[0].name: session.run(None, {name_: one}))
             for name, session in sessions.items()}
    calls.update({name: (lambda engine=engine: engine.predict(pixels)) for name, engine in engines.items()})
    timings, _ = run_interleaved(calls, warmup=200, min_runs=runs)
    engine_rows = {name: summarize(timings[name]) for name in engines}
    reference = decide(rows[0]["probabilities"])
    for row in rows:
        decided = decide(row.pop("probabilities"))
        row.update(latency_ms=summarize(timings[row["name"]]), accuracy=float((decided == labels).mean()),
                   agreement=float((decided == reference).mean()), optimized_summary=summarize_graph(row["optimized_ops"]))
    fp32 = rows[0]
    for row in rows:
        row["ratio_to_fp32"] = row["latency_ms"]["p50"] / fp32["latency_ms"]["p50"]
        row["meets_target"] = bool(row["ratio_to_fp32"] <= 0.75 and fp32["accuracy"] - row["accuracy"] <= 0.01)
    export_row = rows[-1]
    engine_ratio = (engine_rows["OnnxEngine.predict: export: quantize_onnx_int8"]["p50"]
                    / engine_rows["OnnxEngine.predict: fp32"]["p50"])
    passed = export_row["meets_target"] and engine_ratio <= 0.75
    verdict = (f"session p50 {export_row['ratio_to_fp32']:.2f}x fp32, OnnxEngine.predict p50 {engine_ratio:.2f}x fp32, "
               f"accuracy {export_row['accuracy']:.3f} vs fp32 {fp32['accuracy']:.3f}: {'PASS' if passed else 'FAIL'}")
    report = {"machine": machine, "onnxruntime": onnxruntime.__version__, "model": str(model_path),
              "calibration_images": int(len(calibration)), "validation_images": int(len(labels)), "runs": runs,
              "rows": rows, "engine_rows": engine_rows, "verdict": verdict,
              "command": " ".join(["python benchmarks/onnx_int8_choices.py", *sys.argv[1:]])}
    write_results(report, out, write_markdown=write_markdown)
    print(out.with_suffix(".md").read_text())


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    main()
