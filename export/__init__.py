"""Export: `catdog-export` writes verified, self-describing TFLite and ONNX models. Needs the [train] extra."""
