"""LiteRT engine overhead: where catdog's batch-1 time goes beyond LiteRT's own, and the 1.15x target.

In one process, on 1 thread, batch 1, every row below has its own interpreter and is timed
round-robin in short chunks (`catdog.measure.timing.run_interleaved`), so drift hits all alike:

  invoke only                    `interpreter.invoke()` on a filled input: the in-process floor
  CompiledModel.run_by_index     the API litert-benchmark times, on preallocated buffers
  set_tensor+invoke+get_tensor   the plain interpreter loop
  engine before (set/get_tensor) catdog's previous `LiteRTEngine._run` (quantize, set_tensor,
                                 invoke, get_tensor, dequantize) behind the same `Engine.predict`
  engine.predict (tensor views)  catdog's engine as it is now: input written into the
                                 interpreter's tensor view, output dequantized from its view
  engine._run (tensor views)     the same without `Engine.predict`'s shape checks

and, as separate micro-timings, the pieces: set_tensor alone, get_tensor alone, dequantize,
writing the view. `litert-benchmark` itself (`catdog.measure.floor.measure_engine_floor`) runs
before and after the in-process timing; the target compares the engine's p50 with the mean of
those two medians. Results go to benchmarks/results/litert_overhead.{json,md}.

    .venv/bin/python benchmarks/litert_overhead.py
"""

from __future__ import annotations

import sys
import types
from pathlib import Path

import click
import numpy as np

from catdog.measure.floor import measure_engine_floor, measure_throughput
from catdog.measure.machine import describe_machine, idle_percent
from catdog.measure.timing import run_interleaved, summarize
from catdog.runtime.engine import dequantize, open_engine, quantize
from catdog.runtime.models import default_model_path
from results_io import write_results  # benchmarks/ is the script's own folder

RESULTS = Path(__file__).resolve().parent / "results" / "litert_overhead"
TARGET_RATIO = 1.15


def previous_run(self, batch: np.ndarray) -> np.ndarray:
    """`LiteRTEngine._run` before the tensor views (catdog 0.1), for the A/B row."""
    scale, zero_point = self.input["quantization"]
    self.interpreter.set_tensor(self.input["index"], quantize(
        batch, dtype=self.input["dtype"], scale=scale, zero_point=zero_point))
    self.interpreter.invoke()
    scale, zero_point = self.output["quantization"]
    return dequantize(self.interpreter.get_tensor(self.output["index"]), scale=scale, zero_point=zero_point)


def make_calls(model: Path, image: np.ndarray) -> dict:
    """The timed rows, each on its own interpreter."""
    from ai_edge_litert.compiled_model import CompiledModel

    def fresh_interpreter():
        engine = open_engine(model, threads=1)
        return engine, engine.interpreter, engine.input["index"], engine.output["index"]

    _, bare, bare_in, _ = fresh_interpreter()
    bare.set_tensor(bare_in, image)
    _, plain, plain_in, plain_out = fresh_interpreter()
    compiled = CompiledModel.from_file(str(model))
    inputs, outputs = compiled.create_input_buffers(0), compiled.create_output_buffers(0)
    inputs[0].write(image)
    before = open_engine(model, threads=1)
    before._run = types.MethodType(previous_run, before)
    now = open_engine(model, threads=1)
    return {
        "invoke only": bare.invoke,
        "CompiledModel.run_by_index": lambda: compiled.run_by_index(0, inputs, outputs),
        "set_tensor+invoke+get_tensor": lambda: (plain.set_tensor(plain_in, image), plain.invoke(),
                                                 plain.get_tensor(plain_out)),
        "engine before (set/get_tensor)": lambda: before.predict(image),
        "engine.predict (tensor views)": lambda: now.predict(image),
        "engine._run (tensor views)": lambda: now._run(image),
    }


def time_pieces(model: Path, image: np.ndarray, *, runs: int) -> dict[str, float]:
    """p50 microseconds of each piece of the old and new paths, without invoke."""
    engine = open_engine(model, threads=1)
    interpreter, input_index, output_index = engine.interpreter, engine.input["index"], engine.output["index"]
    view_in, view_out = interpreter.tensor(input_index), interpreter.tensor(output_index)
    interpreter.set_tensor(input_index, image)
    interpreter.invoke()
    output = interpreter.get_tensor(output_index)
    scale, zero_point = engine.output["quantization"]

    def write_view():
        view_in()[...] = image

    pieces = {
        "set_tensor": lambda: interpreter.set_tensor(input_index, image),
        "write input view": write_view,
        "get_tensor": lambda: interpreter.get_tensor(output_index),
        "dequantize(get_tensor copy)": lambda: dequantize(output, scale=scale, zero_point=zero_point),
        "dequantize(output view)": lambda: dequantize(view_out(), scale=scale, zero_point=zero_point),
        "Engine.predict checks (np.asarray, ascontiguousarray, reshape)": lambda: np.asarray(
            np.ascontiguousarray(np.asarray(image), dtype=np.uint8), dtype=np.float32).reshape(-1),
    }
    timings, _ = run_interleaved(pieces, warmup=100, min_runs=runs)
    return {name: float(np.median(samples) * 1e6) for name, samples in timings.items()}


def write_markdown(report: dict, path: Path) -> None:
    """The table, the pieces and the verdict."""
    machine = report["machine"]
    floors = ", ".join(f"{value:.2f}" for value in report["litert_benchmark_medians_ms"])
    lines = ["# LiteRT engine overhead (int8 TFLite, batch 1, 1 thread)", "",
             f"Machine: {machine['cpu']}, {machine['cores']} cores; CPUs {report['idle_percent_at_start']}% idle at "
             f"the start. Model: `{report['model']}`. {report['runs']} interleaved runs per row.", "",
             "| row | p50 ms | p90 ms | p50 / litert-benchmark |", "|---|---|---|---|"]
    for name, row in report["rows"].items():
        lines.append(f"| {name} | {row['p50']:.4f} | {row['p90']:.4f} | {row['ratio_to_floor']:.2f} |")
    lines += ["", f"litert-benchmark median (before, after): {floors} ms (it reports 0.01 ms steps).", "",
              "Pieces (p50 microseconds, no invoke):", "", "| piece | us |", "|---|---|"]
    lines += [f"| {name} | {value:.2f} |" for name, value in report["pieces_us"].items()]
    lines += ["", "Throughput of engine.predict at batch 1 / 32: "
              + " / ".join(f"{value:.0f}" for value in report["throughput_ips"].values()) + " images/s.", "",
              f"Target: engine.predict p50 at most {TARGET_RATIO}x litert-benchmark's median: {report['verdict']}", "",
              f"Command: `{report['command']}`", ""]
    path.write_text("\n".join(lines))


@click.command()
@click.option("--model", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="A .tflite model; default: the shipped int8 TFLite.")
@click.option("--runs", type=click.IntRange(min=100), default=5000, show_default=True,
              help="Timed batch-1 runs per row.")
@click.option("--out", type=click.Path(path_type=Path), default=RESULTS, show_default=True,
              help="Results path without suffix.")
def main(model, runs, out):
    """Time catdog's LiteRT engine against LiteRT's own loops and tool, and write JSON and Markdown."""
    model = Path(model or default_model_path())
    idle = idle_percent()
    machine = describe_machine(threads=1)
    engine = open_engine(model, threads=1)
    image = np.random.default_rng(0).integers(0, 256, size=(1, *engine.spec.input_shape), dtype=np.uint8)
    floors = [measure_engine_floor(model, threads=1, runs=runs)]
    timings, _ = run_interleaved(make_calls(model, image), warmup=200, min_runs=runs)
    floors.append(measure_engine_floor(model, threads=1, runs=runs))
    medians = [floor.median_ms for floor in floors if floor is not None]
    floor_ms = float(np.mean(medians)) if medians else float("nan")
    rows = {name: {**summarize(samples), "ratio_to_floor": float(np.median(samples) * 1000 / floor_ms)}
            for name, samples in timings.items()}
    ratio = rows["engine.predict (tensor views)"]["ratio_to_floor"]
    report = {"machine": machine, "idle_percent_at_start": idle, "model": str(model), "runs": runs,
              "litert_benchmark_medians_ms": medians, "rows": rows,
              "pieces_us": time_pieces(model, image, runs=runs),
              "throughput_ips": {str(size): value for size, value in measure_throughput(
                  engine.predict, image_shape=engine.spec.input_shape, batch_sizes=[1, 32]).items()},
              "verdict": f"{ratio:.2f}x: {'PASS' if ratio <= TARGET_RATIO else 'FAIL'}",
              "command": " ".join(["python benchmarks/litert_overhead.py", *sys.argv[1:]])}
    write_results(report, out, write_markdown=write_markdown)
    print(out.with_suffix(".md").read_text())


if __name__ == "__main__":
    main()
