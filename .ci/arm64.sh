#!/usr/bin/env bash
# CI: catdog on a Raspberry Pi's userland. A Debian bookworm arm64 userland under qemu-aarch64
# (.ci/arm64-userland.sh: built once, cached outside the clone), catdog installed there from the
# clone exactly as the README's Raspberry Pi section says, then, as a Pi 4 (cortex-a72) and a Pi 5
# (cortex-a76):
#   - `catdog-run samples/` with every shipped model file, compared with the same command on x86:
#     fp32 ONNX and TFLite files must give the x86 labels and probabilities (fp32 |dP| <= 1e-4,
#     int8 TFLite |dP| <= 0.01); an int8 ONNX file must give the same class's fp32 labels (|dP| <= 0.15),
#     because int8 ONNX kernels differ by architecture (issue 26);
#   - `catdog-bench` on the int8 TFLite file (emulated timings mean nothing: that it runs is the check);
#   - the Picamera2 path, through tests/test_picamera.py and its stand-in module (no camera here);
#   - the runtime's own tests that need no TensorFlow.
# Then the CPU-class matrix (.ci/cpu-matrix.sh: benchmarks/cpu_matrix.py) on every shipped file and all four classes.
# Python 3 with catdog installed (for the x86 side) must be on PATH or in $CATDOG_HOST_VENV.
# Needs root. Any failure ends it with one "ci: FAILED: ..." or "arm64: cannot ..." line.
set -euo pipefail
cd "$(dirname "$0")/.."
started=$SECONDS
fail() { echo "ci: FAILED: $*" >&2; exit 1; }
host_bin=${CATDOG_HOST_VENV:-.venv}/bin
[ -x "$host_bin/catdog-run" ] || fail "no x86 catdog install at $host_bin (run the README's test command first, or set CATDOG_HOST_VENV)"
userland=.ci/arm64-userland.sh
bash "$userland" build > /dev/null
# The README's Raspberry Pi install (apt's python3-picamera2 exists on Raspberry Pi OS only, not on Debian;
# the Picamera2 stand-in in tests/standins covers that path below).
bash "$userland" install
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

models=(runtime/models/*.onnx runtime/models/*.tflite)
for model in "${models[@]}"; do
  "$host_bin/catdog-run" --model "$model" --format json samples/ > "$out/x86 $(basename "$model").jsonl" 2> "$out/x86.err" \
    || { cat "$out/x86.err" >&2; fail "catdog-run --model $model on x86 exited non-zero"; }
done
for cpu in cortex-a72 cortex-a76; do
  echo "arm64: $cpu: catdog-run samples/ with ${#models[@]} model files"
  for model in "${models[@]}"; do
    bash "$userland" run "$cpu" catdog-run --model "$model" --format json samples/ \
      > "$out/$cpu $(basename "$model").jsonl" 2> "$out/arm.err" \
      || { cat "$out/arm.err" >&2; fail "catdog-run --model $model as $cpu exited non-zero"; }
  done
  bash "$userland" run "$cpu" catdog-run samples/ > "$out/default.txt" 2> "$out/arm.err" \
    || { cat "$out/arm.err" >&2; fail "catdog-run samples/ (no --model) as $cpu exited non-zero"; }
  [ "$(wc -l < "$out/default.txt")" -eq 4 ] || fail "catdog-run samples/ as $cpu should print 4 lines"
  bash "$userland" run "$cpu" catdog-bench runtime/models/catdog_int8.tflite --runs 5 --warmup 1 \
    > "$out/bench.txt" 2> "$out/arm.err" || { cat "$out/arm.err" >&2; fail "catdog-bench as $cpu exited non-zero"; }
  grep -q "catdog_int8.tflite" "$out/bench.txt" || fail "catdog-bench as $cpu printed no row for catdog_int8.tflite"
done
"$host_bin/python" - "$out" <<'EOF' || fail "the arm64 answers differ from x86 (above)"
import json, sys
from pathlib import Path

out = Path(sys.argv[1])
def read(name):
    return {record["source"]: record for record in map(json.loads, (out / f"{name}.jsonl").read_text().splitlines())}
problems = []
for cpu in ("cortex-a72", "cortex-a76"):
    for path in sorted(out.glob(f"{cpu} *.jsonl")):
        model = path.stem.split(" ", 1)[1]
        int8_onnx = model.endswith("_int8.onnx")
        # int8 ONNX: the same class's fp32 file (shipped for the default model; the 96 rung ships none,
        # so its int8 ONNX is held to its own x86 labels here and to its fp32 twin in the matrix).
        reference_name = f"{cpu} {model.replace('_int8.onnx', '_fp32.onnx')}" if int8_onnx else f"x86 {model}"
        if not (out / f"{reference_name}.jsonl").exists():
            reference_name = f"x86 {model}"
        limit = 0.15 if int8_onnx else 1e-4 if "_fp32" in model else 0.01
        arm, reference = read(f"{cpu} {model}"), read(reference_name)
        for source, record in arm.items():
            expected = reference[source]
            worst = max(abs(record["probabilities"][label] - expected["probabilities"][label]) for label in expected["probabilities"])
            if record["label"] != expected["label"] or worst > limit:
                problems.append(f"{model} as {cpu} on {source}: {record['label']} vs {expected['label']} "
                                f"({reference_name}), max |dP| {worst:.2e} (limit {limit:g})")
        print(f"arm64: {model} as {cpu}: {len(arm)} samples against {reference_name}")
for problem in problems:
    print("arm64:", problem, file=sys.stderr)
sys.exit(1 if problems else 0)
EOF

echo "arm64: the runtime's tests and the Picamera2 stand-in, as cortex-a72"
bash "$userland" run cortex-a72 bash -c 'pip install -q pytest && pytest -q -p no:cacheprovider -m "not tf" tests/test_picamera.py tests/test_runtime.py tests/test_classifier.py' \
  > "$out/pytest.txt" 2>&1 || { tail -30 "$out/pytest.txt" >&2; fail "the runtime's tests failed in the arm64 userland (cortex-a72)"; }
tail -1 "$out/pytest.txt"

echo "arm64: the CPU-class matrix"
CATDOG_HOST_VENV=${CATDOG_HOST_VENV:-.venv} bash .ci/cpu-matrix.sh  # fails with its own one line
echo "arm64: done in $((SECONDS - started)) s"
