"""MediaPipe Tasks' ImageClassifier reads catdog's exported int8 TFLite through its standard TFLite Metadata.

Runs in its own venv (`.ci/mediapipe.sh`: mediapipe pins opencv-contrib-python, which clashes
with catdog's headless OpenCV); skipped wherever mediapipe is not installed. The file under test
is the shipped `catdog_int8.tflite`, written by `catdog-export --int8` (tools/ship_model.sh), so
no TensorFlow is needed here. The images are already at the model's size, so MediaPipe's
resize is the identity and its scores must match catdog's own engine within one output step.
"""

from __future__ import annotations

import numpy as np
import pytest

mediapipe = pytest.importorskip("mediapipe")

from catdog.export.verify import file_probabilities  # noqa: E402 - after the skip
from catdog.runtime.metadata import read_metadata, read_standard_labels  # noqa: E402
from catdog.runtime.models import shipped_model_path  # noqa: E402


def classify_with_mediapipe(model_path, pixels: np.ndarray, *, count: int):
    """MediaPipe's categories for one (H, W, 3) uint8 RGB image, as {category_name: score} and the index order."""
    from mediapipe.tasks import python as tasks
    from mediapipe.tasks.python import vision

    options = vision.ImageClassifierOptions(base_options=tasks.BaseOptions(model_asset_path=str(model_path)),
                                            max_results=count)
    with vision.ImageClassifier.create_from_options(options) as classifier:
        image = mediapipe.Image(image_format=mediapipe.ImageFormat.SRGB, data=np.ascontiguousarray(pixels))
        categories = classifier.classify(image).classifications[0].categories
    return {category.category_name: category.score for category in categories}, \
        [category.category_name for category in sorted(categories, key=lambda category: category.index)]


def test_mediapipe_names_catdogs_labels_and_matches_catdog_run_scores():
    model_path = shipped_model_path("catdog_int8.tflite")
    metadata = read_metadata(model_path)
    labels = metadata["model_spec"]["labels"]
    assert read_standard_labels(model_path.read_bytes()) == labels
    height, width = metadata["model_spec"]["image_size"]
    rng = np.random.default_rng(0)
    for seed in range(4):
        # Smooth colour fields with noise: varied inputs that give varied probabilities.
        ramp = np.linspace(0, 255, width, dtype=np.float32)[None, :, None]
        tint = rng.integers(0, 256, size=(1, 1, 3)).astype(np.float32)
        pixels = np.clip(0.5 * ramp + 0.5 * tint + rng.normal(0, 20 + 10 * seed, (height, width, 3)), 0, 255)
        pixels = pixels.astype(np.uint8)
        scores, order = classify_with_mediapipe(model_path, pixels, count=len(labels))
        assert order == labels
        catdog = file_probabilities(model_path, pixels[None])[0]
        for index, label in enumerate(labels):
            assert abs(scores[label] - float(catdog[index])) <= 1 / 256 + 1e-6, (label, scores, catdog)
