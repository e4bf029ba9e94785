#!/usr/bin/env bash
# CI's arm64 stage (issue 27): catdog on an emulated Raspberry Pi 4 (Cortex-A72) and Pi 5 (Cortex-A76).
#   1. build or reuse the Debian bookworm arm64 userland (.ci/arm64-userland.sh: debootstrap, qemu-aarch64);
#   2. install this clone there as the README's "Raspberry Pi" section tells a Pi user
#      (`python3 -m venv --system-site-packages .venv && pip install .`). The README's
#      `sudo apt install python3-picamera2` is skipped: python3-picamera2 is in Raspberry Pi OS's apt
#      repository only, absent from Debian; tests/standins/picamera2 (a stand-in, named so) covers it;
#   3. record the aarch64 venv's size;
#   4. under BOTH cortex-a72 and cortex-a76: `catdog-run samples/ --format json` with every shipped model
#      file in runtime/models, compared with the same commands on this x86 host (issue 26's rules):
#        - .tflite and fp32 .onnx files: same labels as x86; |dP| <= 1e-4 (fp32), <= 0.01 (int8 TFLite);
#        - int8 .onnx files: onnxruntime's int8 kernels differ by CPU class, so each is compared with the
#          same CPU's fp32 ONNX file of its rung (same labels, |dP| <= 0.15); the 96 rung ships no fp32 ONNX
#          file, so its int8 ONNX is held to its int8 TFLite file on the same CPU, by the same rule;
#      then `catdog-bench` on the int8 TFLite file (emulated timings mean nothing: that it runs is the check),
#      and pytest on the Picamera2 stand-in path and the runtime's own tests, inside the userland.
# Host catdog: CATDOG_HOST_BIN (a bin folder with catdog-run), else ./.venv/bin (CI's stage 1 leaves it),
# else a fresh `python3 -m venv` + `pip install .` in a scratch folder.
# Needs root. Prints its wall time; about 8-11 minutes on the 2-core CI machine with the userland cached.
set -euo pipefail
cd "$(dirname "$0")/.."
clone=$(pwd)
started=$SECONDS
fail() { echo "ci: FAILED: arm64: $*" >&2; exit 1; }
step() { echo "ci: arm64: $1 ($((SECONDS - started)) s so far)"; }
userland=.ci/arm64-userland.sh
export CATDOG_ARM64_WORKDIR=${CATDOG_ARM64_WORKDIR:-/root/catdog}
workdir=$CATDOG_ARM64_WORKDIR
cpus=(cortex-a72 cortex-a76)
# The Picamera2 stand-in path on both; the runtime's own tests on the Pi 4 core (where the LSE gap is), and
# the engine-floor tests on both (they run litert-benchmark on A76 and must skip with the reason on A72).
declare -A tests=([cortex-a72]="tests/test_picamera.py tests/test_runtime.py tests/test_speed.py"
                  [cortex-a76]="tests/test_picamera.py tests/test_speed.py")
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
# Every shipped model file, by name (the stage fails if there is none).
mapfile -t models < <(cd runtime/models && ls -1 *.tflite *.onnx 2>/dev/null | sort)
[ "${#models[@]}" -gt 0 ] || fail "no .tflite or .onnx file in runtime/models"

step "userland"
t0=$SECONDS
root=$("$userland" build) || exit 1  # its own "arm64: cannot ..." line
build_seconds=$((SECONDS - t0))

step "install the clone as the README tells a Pi user"
t0=$SECONDS
"$userland" install "$clone" || exit 1
install_seconds=$((SECONDS - t0))
venv_mb=$(du -sm "$root$workdir/.venv" | cut -f1)  # before pytest joins it: the size a Pi user gets
echo "ci: arm64: aarch64 venv (catdog's base install): $venv_mb MB; install took $install_seconds s"
pip_out=$("$userland" run cortex-a76 pip install -q pytest 2>&1) || { echo "$pip_out" >&2; fail "pip install pytest in the arm64 venv"; }

step "x86 reference runs on the host"
host_bin=${CATDOG_HOST_BIN:-}
if [ -z "$host_bin" ] && [ -x .venv/bin/catdog-run ]; then host_bin=$clone/.venv/bin; fi
if [ -z "$host_bin" ]; then
  python3 -m venv "$scratch/host" && "$scratch/host/bin/pip" install -q . || fail "pip install . in a host venv"
  host_bin=$scratch/host/bin
fi
[ -x "$host_bin/catdog-run" ] || fail "no catdog-run in $host_bin (set CATDOG_HOST_BIN to a venv's bin folder)"
mkdir -p "$scratch/x86"
for model in "${models[@]}"; do
  "$host_bin/catdog-run" samples/ --model "runtime/models/$model" --format json > "$scratch/x86/$model.jsonl" \
    2> "$scratch/x86/$model.err" || fail "catdog-run samples/ --model runtime/models/$model on x86 exited non-zero"
done

for cpu in "${cpus[@]}"; do
  step "$cpu: catdog-run on each model, catdog-bench, pytest"
  t0=$SECONDS
  out=arm64-out/$cpu
  # One emulated shell per CPU: each python start under qemu costs seconds.
  "$userland" run "$cpu" bash -c '
    set -euo pipefail
    out=$1; tests=$2; shift 2
    rm -rf "$out" && mkdir -p "$out"
    begun=$SECONDS
    for model in "$@"; do
      catdog-run samples/ --model "runtime/models/$model" --format json > "$out/$model.jsonl" 2> "$out/$model.err" \
        || { cat "$out/$model.err" >&2; echo "catdog-run samples/ --model runtime/models/$model exited non-zero"; exit 1; }
    done
    echo "catdog-run x $#: $((SECONDS - begun)) s" > "$out/times.txt"; begun=$SECONDS
    catdog-bench runtime/models/catdog_int8.tflite --runs 5 --warmup 1 > "$out/bench.txt" 2> "$out/bench.err" \
      || { tail -5 "$out/bench.err" >&2; echo "catdog-bench runtime/models/catdog_int8.tflite exited non-zero"; exit 1; }
    echo "catdog-bench: $((SECONDS - begun)) s" >> "$out/times.txt"; begun=$SECONDS
    # TensorFlow tests (-m tf) need the [train] extra, which a device does not get.
    python -m pytest -q -p no:cacheprovider -m "not tf and not ray" -rs $tests > "$out/pytest.txt" 2>&1 \
      || { tail -30 "$out/pytest.txt" >&2; echo "pytest $tests in the userland failed (above)"; exit 1; }
    echo "pytest: $((SECONDS - begun)) s" >> "$out/times.txt"
  ' arm64-run "$out" "${tests[$cpu]}" "${models[@]}" > "$scratch/$cpu.log" 2>&1 \
    || { cat "$scratch/$cpu.log" >&2; fail "$cpu: $(tail -1 "$scratch/$cpu.log")"; }
  echo "ci: arm64: $cpu: pytest ${tests[$cpu]}: $(tail -1 "$root$workdir/$out/pytest.txt"); catdog-bench ran; $((SECONDS - t0)) s ($(paste -sd, "$root$workdir/$out/times.txt"))"
  grep -E "floor ms: -|^CPU class" "$root$workdir/$out/bench.txt" | sed "s/^/ci: arm64: $cpu: bench: /" || true
  cp -r "$root$workdir/$out" "$scratch/$cpu"
done

step "compare with x86"
python3 - "$scratch" "${cpus[@]}" <<'EOF' || fail "arm64 answers differ from x86 beyond the tolerances above"
"""Compare each arm64 CPU's catdog-run records with x86's (issue 26's tolerances), one line per file."""
import json
import sys
from pathlib import Path

scratch, cpus = Path(sys.argv[1]), sys.argv[2:]
FP32, INT8_TFLITE, INT8_ONNX = 1e-4, 0.01, 0.15


def load(path):
    records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    if len(records) != 4 or any(record.get("error") for record in records):
        raise SystemExit(f"ci: arm64: {path}: expected 4 records without errors, got {records}")
    return {record["source"]: record for record in records}


def compare(ours, theirs):
    """(labels equal on every sample, max |dP| over samples and labels)."""
    same = all(ours[s]["label"] == theirs[s]["label"] for s in theirs) and set(ours) == set(theirs)
    worst = max(abs(ours[s]["probabilities"][k] - theirs[s]["probabilities"][k]) for s in theirs
                for k in theirs[s]["probabilities"])
    return same, worst


failed = False
models = sorted(path.name[:-len(".jsonl")] for path in (scratch / "x86").glob("*.jsonl"))
for cpu in cpus:
    for model in models:
        ours = load(scratch / cpu / f"{model}.jsonl")
        if model.endswith("_int8.onnx"):  # against the same CPU's fp32 file of its rung (issue 15)
            rung = model[:-len("_int8.onnx")]
            reference = f"{rung}_fp32.onnx" if (scratch / cpu / f"{rung}_fp32.onnx.jsonl").exists() else f"{rung}_int8.tflite"
            same, worst = compare(ours, load(scratch / cpu / f"{reference}.jsonl"))
            limit, against = INT8_ONNX, f"{cpu}'s {reference}"
            x86_same, x86_worst = compare(ours, load(scratch / "x86" / f"{model}.jsonl"))
            extra = f" (vs x86's int8 ONNX, not gated: labels {'equal' if x86_same else 'DIFFER'}, max |dP| {x86_worst:.6f})"
        else:
            same, worst = compare(ours, load(scratch / "x86" / f"{model}.jsonl"))
            limit = INT8_TFLITE if "int8" in model else FP32
            against, extra = "x86", ""
        ok = same and worst <= limit
        failed |= not ok
        print(f"ci: arm64: {cpu} {model} vs {against}: labels {'equal' if same else 'DIFFER'}, "
              f"max |dP| {worst:.6f} (limit {limit}){extra}: {'ok' if ok else 'FAILED'}")
sys.exit(1 if failed else 0)
EOF
echo "ci: arm64: passed in $((SECONDS - started)) s (userland $build_seconds s, install $install_seconds s, venv $venv_mb MB)"
