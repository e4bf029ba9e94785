"""Finding, loading and vetting the Keras model an export starts from."""

from __future__ import annotations

from pathlib import Path

from catdog.errors import CatdogError, require_tensorflow
from catdog.export.quiet import captured_native_output


def default_model_path() -> Path:
    """The shipped Keras baseline (`runtime/models/catdog.keras`)."""
    try:
        from catdog.runtime.models import keras_baseline_path
    except ImportError:
        import catdog.runtime

        return Path(catdog.runtime.__file__).parent / "models" / "catdog.keras"
    return Path(keras_baseline_path())


def load_keras_model(model_path: Path, *, image_size: tuple[int, int] = (64, 64)):
    """Load a .keras file and check it is a (H, W, 3) -> (1,) classifier; raise one line otherwise."""
    model_path = Path(model_path)
    if not model_path.is_file():
        raise CatdogError(f"model not found: {model_path}: pass the path of a .keras file "
                          "(with no MODEL, catdog-export uses the shipped runtime/models/catdog.keras)")
    try:
        # TensorFlow's import and first use print CUDA and oneDNN notices straight to fd 2.
        with captured_native_output():
            require_tensorflow()
            import keras

            model = keras.models.load_model(model_path, compile=False)
    except CatdogError:
        raise
    except Exception as error:  # noqa: BLE001 - any load failure is the same user-facing problem
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise CatdogError(f"cannot read model {model_path}: {reason[:200]}") from None
    height, width = image_size
    input_shape = tuple(getattr(model, "input_shape", ()) or ())
    output_shape = tuple(getattr(model, "output_shape", ()) or ())
    if input_shape[1:] != (height, width, 3) or output_shape[1:] != (1,):
        raise CatdogError(f"{model_path} is not a {height}x{width}x3 binary classifier: input {input_shape}, "
                          f"output {output_shape}; expected (None, {height}, {width}, 3) -> (None, 1)")
    return model
