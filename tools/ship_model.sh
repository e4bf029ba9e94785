#!/usr/bin/env bash
# Make a finished training run the package's shipped default, with the project's own commands:
# copy its model and card into runtime/models/, export the int8 TFLite, int8 ONNX and fp32 ONNX
# files next to it, and record their verification tables in runtime/models/verification.md.
#
#   tools/ship_model.sh runs/default        # run from the repository root, with the [train] extra
#   tools/ship_model.sh                     # re-export the model already shipped (after an export change)
#
# The ladder rungs that pay (runtime/models/catdogN/model.keras, copied there from their own runs) are re-exported too.
set -euo pipefail
run_dir=${1:-}
cd "$(dirname "$0")/.."
bin=$(dirname "$(command -v catdog-export || echo .venv/bin/catdog-export)")
models=runtime/models
if [ -n "$run_dir" ]; then
  test -f "$run_dir/model.keras" || { echo "Error: no model.keras in $run_dir" >&2; exit 2; }
  cp "$run_dir/model.keras" "$models/catdog.keras"
  cp "$run_dir/card.md" "$run_dir/card.json" "$run_dir/history.csv" "$run_dir/curves.png" "$models/"
else
  run_dir=$(python3 -c "import json; print(json.load(open('$models/card.json'))['config']['out'])")
fi
rm -f "$models"/catdog*_*.tflite "$models"/catdog*_*.onnx

commands=("catdog-export --int8 --out $models" "catdog-export --fp32 --format onnx --out $models")
# The accuracy-latency ladder: each rung is a training run copied to runtime/models/catdogN/ (model.keras and
# its card); its int8 files, named after that folder (catdogN_int8.*), sit beside the default's. Only the rungs
# that pay are exported: catdog128/ is kept as one of the default's distillation teachers, but its 128x128 rung
# matched the 96x96 rung's accuracy at 1.7x its latency (see docs/quality.md, the ladder), so it ships no int8 files.
for rung in catdog96; do
  commands+=("catdog-export $models/$rung/model.keras --int8 --force --out $models")
done
report=$(mktemp)
{
  echo "# Verification of the shipped exported models"
  echo
  echo "Source: \`$models/catdog.keras\` (SHA-256 \`$(sha256sum "$models/catdog.keras" | cut -d' ' -f1)\`), copied from"
  echo "\`$run_dir/model.keras\` by \`tools/ship_model.sh $run_dir\`; its training card is \`card.md\`."
  echo "Each file was run in catdog's own runtime engine (LiteRT / onnxruntime) on the model card's validation"
  echo "split, or the shipped validation samples when that folder is absent (never a test set), before it was"
  echo "written. Every file outputs one probability per label, in label order. Checks: fp32 needs >= 99.5% label"
  echo "agreement with Keras and max |dp| <= 1e-3; int8 needs accuracy within --max-drop (1.0) points of Keras."
  echo "Generated $(date -u +%Y-%m-%d) on $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores."
  for command in "${commands[@]}"; do
    echo
    echo "## \`$command\`"
    echo
    "$bin"/$command
  done
} > "$report"
chmod 644 "$report" && mv "$report" "$models/verification.md"
ls -l "$models"
