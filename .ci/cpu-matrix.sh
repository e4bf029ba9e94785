#!/usr/bin/env bash
# CI: the CPU-class matrix (issue 26). Every shipped int8 and fp32 file in runtime/models, and the 96x96
# rung's fp32 twin (exported here, not shipped), on the same validation photos as
#   native (this host's class), qemu-x86_64 -cpu Haswell (x86-64 avx2), and the arm64 userland as
#   cortex-a72 (aarch64, Pi 4) and cortex-a76 (aarch64 asimddp, Pi 5),
# through benchmarks/cpu_matrix.py, which exits non-zero when any file misses a target on any class.
# Expects `.ci/arm64-userland.sh build` and `install` to have run (as .ci/arm64.sh does before calling
# this); checks that and fails in one line if not. Needs root (the arm64 userland's chroot).
#   CATDOG_MATRIX_SAMPLE  photos per file (a seeded sample; default 200: the stage took 107 s on this 2-core
#                         host; all 500 took 13 min with --jobs 2 while the host was shared; 500 = all of them)
#   CATDOG_HOST_VENV      the x86 venv with catdog[train] installed (default .venv)
#   CATDOG_ARM64_ROOT / CATDOG_ARM64_WORKDIR  as in .ci/arm64-userland.sh
# Any failure ends it with one "ci: FAILED: ..." line on stderr.
set -euo pipefail
cd "$(dirname "$0")/.."
started=$SECONDS
fail() { echo "ci: FAILED: cpu-matrix: $*" >&2; exit 1; }
host_bin=${CATDOG_HOST_VENV:-.venv}/bin
root=${CATDOG_ARM64_ROOT:-/var/cache/catdog/arm64-bookworm}
workdir=${CATDOG_ARM64_WORKDIR:-/root/catdog}
sample=${CATDOG_MATRIX_SAMPLE:-200}

[ -x "$host_bin/catdog-export" ] || fail "no x86 catdog[train] install at $host_bin (set CATDOG_HOST_VENV)"
command -v qemu-x86_64-static > /dev/null || fail "no qemu-x86_64-static: apt install qemu-user-static"
[ -f "$root/.catdog-complete" ] || fail "no arm64 userland at $root: run .ci/arm64-userland.sh build first"
[ -x "$root$workdir/.venv/bin/catdog-run" ] \
  || fail "no catdog install in the arm64 userland at $root$workdir: run .ci/arm64-userland.sh install first"

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
# The 96x96 rung ships no fp32 file: export its twin, checked on the rung's own photos. The matrix
# needs it inside the clone (it copies what the userland's copy lacks), so under runs/ (git-ignored).
twin=runs/ci-cpu-matrix/catdog96_fp32.onnx
rm -rf "$(dirname "$twin")"
"$host_bin/catdog-export" runtime/models/catdog96/model.keras --fp32 --format onnx \
  --val benchmarks/samples96/validation --out "$(dirname "$twin")" > "$out/twin.log" 2>&1 \
  || { tail -5 "$out/twin.log" >&2; fail "exporting the 96x96 rung's fp32 twin failed (above)"; }
[ -f "$twin" ] || fail "catdog-export wrote no $twin"

echo "cpu-matrix: every shipped file on 4 CPU classes, $sample photos each"
status=0
"$host_bin/python" benchmarks/cpu_matrix.py --jobs 2 --twin "$twin" --sample "$sample" --out "$out/cpu_matrix" \
  2> "$out/matrix.err" || status=$?
cat "$out/matrix.err" >&2
[ -f "$out/cpu_matrix.md" ] || fail "benchmarks/cpu_matrix.py wrote no table (exit $status; above)"
cat "$out/cpu_matrix.md"
[ "$status" -eq 0 ] || fail "a shipped file missed a CPU-class target (MISSED lines above; exit $status)"
grep -q "aarch64 asimddp" "$out/cpu_matrix.md" || fail "the matrix names no aarch64 asimddp class: the arm64 runs did not happen"
echo "cpu-matrix: done in $((SECONDS - started)) s"
