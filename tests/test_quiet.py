"""Quiet by default: library start-up lines stay off stderr unless --verbose (catdog.quiet)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import pytest

from catdog import quiet

ROOT = Path(__file__).resolve().parents[1]


def clean_environment() -> dict[str, str]:
    """This process's environment without the switches an earlier in-process quiet call may have set."""
    return {name: value for name, value in os.environ.items() if name not in quiet.QUIET_ENVIRONMENT}


def write_noisy_package(folder: Path, *, fail: bool = False) -> None:
    """A package that writes to file descriptor 2 while it is imported, as TensorFlow's C++ start-up does."""
    package = folder / "noisy_fake"
    package.mkdir()
    (package / "__init__.py").write_text(textwrap.dedent(f"""
        import os
        os.write(2, b"I0000 port.cc:153] native start-up chatter\\n")
        if {fail}:
            raise ImportError("broken native library")
    """))


@pytest.mark.parametrize("fail", [False, True])
def test_noisy_import_is_captured_and_replayed_only_on_failure(tmp_path, fail):
    write_noisy_package(tmp_path, fail=fail)
    script = textwrap.dedent("""
        import sys
        from catdog import quiet
        quiet.NOISY_IMPORTS = frozenset({"noisy_fake"})
        quiet.configure_logging()
        try:
            import noisy_fake
        except ImportError as error:
            print("import failed:", error)
        print("loader restored:", type(sys.modules.get("noisy_fake", None).__loader__).__name__
              if "noisy_fake" in sys.modules else None)
    """)
    result = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True,
                            env={**clean_environment(), "PYTHONPATH": str(tmp_path)}, timeout=60)
    if fail:
        assert "import failed: broken native library" in result.stdout
        assert "native start-up chatter" in result.stderr  # the diagnostics are not lost
    else:
        assert result.stderr == ""
        assert "loader restored: SourceFileLoader" in result.stdout


def test_verbose_undoes_what_the_quiet_call_set(monkeypatch):
    for name in quiet.QUIET_ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OPENCV_LOG_LEVEL", "DEBUG")  # the user's own choice is never overwritten
    monkeypatch.setattr(sys, "meta_path", list(sys.meta_path))
    monkeypatch.setattr(quiet, "_environment_set", {})
    monkeypatch.setattr(quiet, "_warning_filter", False)
    with warnings.catch_warnings(record=True) as caught:
        quiet.configure_logging()
        assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "3" and os.environ["OPENCV_LOG_LEVEL"] == "DEBUG"
        assert "tensorflow" in sys.modules or any(isinstance(finder, quiet.QuietImportFinder) for finder in sys.meta_path)
        warnings.warn_explicit("hidden", UserWarning, "epoch_iterator.py", 74, module="keras.src.trainers")
        quiet.configure_logging(verbose=True)
        warnings.warn_explicit("shown", UserWarning, "epoch_iterator.py", 75, module="keras.src.trainers")
    assert [str(warning.message) for warning in caught] == ["shown"]
    assert "TF_CPP_MIN_LOG_LEVEL" not in os.environ and os.environ["OPENCV_LOG_LEVEL"] == "DEBUG"
    assert not any(isinstance(finder, quiet.QuietImportFinder) for finder in sys.meta_path)


def test_run_prints_only_its_summary_on_stderr():
    """LiteRT's "INFO: Created TensorFlow Lite XNNPACK delegate" must not reach the terminal."""
    script = Path(sys.executable).with_name("catdog-run")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "catdog.runtime.cli"]
    result = subprocess.run([*command, str(ROOT / "samples" / "cat_or_dog_1.jpg")],
                            capture_output=True, text=True, env=clean_environment(), timeout=120)
    assert result.returncode == 0, result.stderr
    assert len(result.stderr.splitlines()) == 1 and "1 input" in result.stderr, result.stderr


@pytest.mark.tf
def test_tensorflow_and_keras_start_up_is_silent_by_default():
    """The issue's lines: absl's pre-init banner, oneDNN/CUDA notices, cuInit, Keras UserWarnings."""
    script = textwrap.dedent("""
        from catdog.quiet import configure_logging
        configure_logging()
        import keras
        import tensorflow as tf
        tf.constant([1.0]) + 1  # the first op probes for CUDA ("failed call to cuInit")
        model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
        model.compile(optimizer="sgd", loss="mse")
        data = tf.data.Dataset.from_tensor_slices((tf.zeros((4, 2)), tf.zeros((4, 1)))).batch(2)
        model.fit(data, shuffle=True, verbose=0)  # Keras warns that shuffle is ignored for a Dataset
        print("done")
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            env=clean_environment(), timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "done"
    assert result.stderr == ""
