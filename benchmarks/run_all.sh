#!/usr/bin/env bash
# Rerun every benchmark behind the README's figures, one after another on a quiet machine,
# and rewrite benchmarks/results/. Needs the [dev] extra and ../shared/datasets/cats_and_dogs.
#
#   bash benchmarks/run_all.sh            # about 25 minutes on 2 cores
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-.venv/bin/python}
export PATH="$(dirname "$python"):$PATH"
"$python" benchmarks/latency.py
"$python" benchmarks/cold_start.py
"$python" benchmarks/folder_throughput.py
"$python" benchmarks/draft_fidelity.py
"$python" benchmarks/decode_fidelity.py
"$python" benchmarks/onnx_int8_choices.py
"$python" benchmarks/onnx_int8_recipes.py
"$python" benchmarks/speed_by_class.py
"$python" benchmarks/quick_start_avx2.py
"$python" benchmarks/litert_overhead.py
"$python" benchmarks/threads.py
"$python" benchmarks/video_throughput.py --repeats 3
"$python" benchmarks/export_speed.py --repeats 3
"$python" benchmarks/ladder.py
"$python" benchmarks/teacher_ensemble.py --data ../shared/datasets/cats_and_dogs
"$python" benchmarks/sharpness_mismatch.py --data ../shared/datasets/cats_and_dogs
"$python" benchmarks/train_speed.py --minutes 10
"$python" benchmarks/train_speed.py --minutes 10 --out benchmarks/results/train_speed_shipped.json -- \
  --cache-scale 2 --crop-area 0.6 --mixup 0.2 --ema --teacher runtime/models/catdog96/model.keras \
  --teacher runtime/models/catdog128/model.keras
