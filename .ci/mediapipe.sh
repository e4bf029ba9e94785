#!/usr/bin/env bash
# CI: MediaPipe Tasks reads catdog's exported TFLite files (standard TFLite Metadata).
#
# mediapipe pins opencv-contrib-python, which clashes with the headless OpenCV of catdog's
# [camera] and [dev] installs, so it gets its own venv: mediapipe plus catdog's runtime-only
# base install (non-editable), then tests/test_mediapipe.py, which compares MediaPipe's
# ImageClassifier with catdog's own engine on the shipped int8 TFLite file.
#
#   .ci/mediapipe.sh            # from anywhere; uses python3, leaves .venv-mediapipe behind
set -euo pipefail
cd "$(dirname "$0")/.."
venv=.venv-mediapipe
rm -rf "$venv"
python3 -m venv "$venv"
"$venv/bin/pip" install -q mediapipe pytest .
# The clone's root holds no catdog/ folder (the package lives in src/), so this imports the installed catdog.
"$venv/bin/pytest" -q -p no:cacheprovider tests/test_mediapipe.py
