"""Write the four tiny ONNX files `test_model_that_cannot_take_an_rgb_image_is_refused_at_load` opens.

They are committed (a few hundred bytes each) so the runtime's own tests pass on a runtime-only install,
which has onnxruntime but not the `onnx` package that builds them (issue 27: the install a device gets).
Run once, from the clone's root, with the [dev] extra installed:

    python tests/data/make_refused_onnx.py
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # conftest's builders

from onnx import TensorProto  # noqa: E402

from conftest import FRUIT_SPEC, build_softmax_onnx, spec_metadata  # noqa: E402

build_softmax_onnx(HERE / "refused_grey.onnx", input_shape=[None, 48, 48, 1])
build_softmax_onnx(HERE / "refused_grey_spec.onnx", input_shape=[None, 48, 48, 1], metadata=spec_metadata(FRUIT_SPEC))
build_softmax_onnx(HERE / "refused_int64.onnx", element=TensorProto.INT64)
build_softmax_onnx(HERE / "refused_any_size.onnx", input_shape=[None, None, None, 3])
print("wrote", ", ".join(sorted(path.name for path in HERE.glob("refused_*.onnx"))))
