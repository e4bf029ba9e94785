"""Vendored third-party code, unmodified.

`metadata_schema_py_generated.py` is the FlatBuffers compiler's Python output for the TFLite
Metadata schema (`metadata_schema.fbs`, namespace tflite), copied from the `mediapipe` 1.2.3
wheel (`mediapipe/tasks/metadata/`), Apache License 2.0 (see LICENSE.mediapipe). It is the
schema's own generated object API, which TFLite Support and MediaPipe use to write the same
metadata. It is vendored because neither package installs beside TensorFlow 2.21 in one venv:
`tflite-support` pins protobuf<4 and `mediapipe` pulls opencv-contrib-python, which clashes with
catdog's headless OpenCV. It needs only the `flatbuffers` package, a TensorFlow dependency.
"""
