"""Training: the MiniResNet model, the cached and augmented data pipeline, and `catdog-train`. Needs the [train] extra."""
