"""Tests for the Python API: `Classifier(model_path).predict(...)` on every kind of input."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from catdog.runtime.classifier import Classifier, Prediction
from conftest import (COLOURS, FRUIT, FRUIT_SPEC, build_onnx_model, build_softmax_onnx, catdog_metadata,
                      expected_probability, spec_metadata)


@pytest.fixture
def classifier(tmp_path) -> Classifier:
    return Classifier(build_onnx_model(tmp_path / "tiny.onnx", metadata=catdog_metadata()), threads=1)


def blue_image() -> Image.Image:
    return Image.new("RGB", (50, 40), (10, 20, 220))


def test_one_path_gives_one_prediction(classifier, tmp_path):
    path = tmp_path / "blue.png"
    blue_image().save(path)
    prediction = classifier.predict(path)
    assert isinstance(prediction, Prediction)
    assert prediction.label == "dog" and prediction.source == str(path)
    assert prediction.probabilities["dog"] == pytest.approx(expected_probability(np.asarray(blue_image())), abs=1e-4)
    assert prediction.probabilities["cat"] + prediction.probabilities["dog"] == pytest.approx(1.0)
    assert prediction.latency_ms > 0 and prediction.error is None


def test_pil_array_and_bytes_inputs_agree(classifier):
    image = blue_image()
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    answers = [classifier.predict(source).probabilities["dog"]
               for source in (image, np.asarray(image), buffer.getvalue(), str_free(buffer))]
    assert answers == pytest.approx([answers[0]] * 4)


def str_free(buffer: io.BytesIO) -> io.BytesIO:
    """A fresh file object over the same bytes."""
    return io.BytesIO(buffer.getvalue())


def test_lists_and_4d_arrays_give_one_prediction_each(classifier):
    red = np.zeros((64, 64, 3), np.uint8)
    red[..., 0] = 230
    blue = np.zeros((64, 64, 3), np.uint8)
    blue[..., 2] = 230
    labels = [prediction.label for prediction in classifier.predict([red, blue, red])]
    assert labels == ["cat", "dog", "cat"]
    assert [prediction.label for prediction in classifier.predict(np.stack([blue, red]))] == ["dog", "cat"]
    assert classifier.predict([]) == []


def test_a_list_gives_error_records_in_place_and_a_single_image_raises(classifier, tmp_path):
    (tmp_path / "empty.jpg").write_bytes(b"")
    (tmp_path / "notes.txt").write_text("not an image")
    first, failed, text, last = classifier.predict([blue_image(), tmp_path / "empty.jpg", tmp_path / "notes.txt",
                                                    blue_image()])
    assert first.label == last.label == "dog" and first.probabilities == last.probabilities
    assert failed.label is None and failed.source == str(tmp_path / "empty.jpg") and "empty" in failed.error
    assert text.label is None and text.source == str(tmp_path / "notes.txt") and text.error
    with pytest.raises(Exception, match="cannot identify|empty"):
        classifier.predict(tmp_path / "empty.jpg")
    with pytest.raises(Exception, match="cannot identify|empty"):
        classifier.predict([blue_image(), tmp_path / "empty.jpg"], raise_on_error=True)
    assert classifier.predict(tmp_path / "empty.jpg", raise_on_error=False).error == failed.error


def test_prediction_record_uses_error_instead_of_label():
    from catdog.runtime.classifier import make_error

    record = make_error(OSError("truncated"), source="x.jpg").to_dict()
    assert record == {"source": "x.jpg", "error": "OSError: truncated", "latency_ms": 0.0}


def test_package_exposes_the_api_lazily():
    import catdog.runtime

    assert catdog.runtime.Classifier is Classifier
    with pytest.raises(AttributeError):
        catdog.runtime.no_such_name


def test_three_class_classifier_returns_its_labels_and_top_k(tmp_path):

    classifier = Classifier(build_softmax_onnx(tmp_path / "fruit.onnx", metadata=spec_metadata(FRUIT_SPEC)))
    assert classifier.labels == FRUIT
    predictions = classifier.predict([Image.new("RGB", (30, 30), colour) for colour in COLOURS])
    assert [prediction.label for prediction in predictions] == list(FRUIT)
    for prediction in predictions:
        assert list(prediction.probabilities) == list(FRUIT)
        assert prediction.top_k(1) == [(prediction.label, prediction.confidence)]
        assert len(prediction.top_k(3)) == 3


def test_model_without_metadata_warns_through_python_warnings(tmp_path):

    with pytest.warns(UserWarning, match="no catdog metadata") as caught:
        classifier = Classifier(build_softmax_onnx(tmp_path / "bare.onnx", size=96, classes=4))
    assert len(caught) == 1
    assert classifier.labels == ("class_0", "class_1", "class_2", "class_3")
    assert classifier.engine.spec.image_size == (96, 96)
    assert classifier.predict(Image.new("RGB", (200, 100), (0, 0, 255))).label == "class_2"


def test_prediction_lives_in_its_own_module():
    from catdog.runtime import prediction

    assert Prediction is prediction.Prediction
