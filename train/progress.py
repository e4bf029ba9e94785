"""catdog-train's own progress: one line per epoch (issue 30 item 5), instead of Keras's bars,
and a few lines while the photos are decoded.

`epoch 3/30: loss 0.412, accuracy 81.2%, val accuracy 79.5% (4.1 s, ETA 1 min 50 s)` on stderr;
`training images: 4,096 of 7,200 decoded (57%, ETA 3 s)` at most every 5 s while decoding.
The ETA assumes every planned epoch runs; early stopping can only make it shorter. Keras's own
lines come back with `catdog-train --verbose`.
"""

from __future__ import annotations

import sys
import time


def format_duration(seconds: float) -> str:
    """`42 s`, `3 min 05 s` or `1 h 02 min`."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


def epoch_line(*, epoch: int, epochs: int, logs: dict, seconds: float, remaining_seconds: float) -> str:
    """One epoch's progress line from Keras's `logs` (loss, accuracy, val_loss, val_accuracy)."""
    parts = [f"loss {logs['loss']:.3f}"] if "loss" in logs else []
    parts += [f"accuracy {logs['accuracy']:.1%}"] if "accuracy" in logs else []
    parts += [f"val loss {logs['val_loss']:.3f}"] if "val_loss" in logs else []
    parts += [f"val accuracy {logs['val_accuracy']:.1%}"] if "val_accuracy" in logs else []
    eta = f", ETA {format_duration(remaining_seconds)}" if epoch < epochs else ""
    return f"epoch {epoch}/{epochs}: {', '.join(parts)} ({seconds:.1f} s{eta})"


def make_progress_callback(*, epochs: int, stream=None):
    """A Keras callback printing `epoch_line` after every epoch to `stream` (default stderr)."""
    import keras

    class EpochProgress(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.durations = []

        def on_epoch_begin(self, epoch, logs=None):
            self.started = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            seconds = time.perf_counter() - self.started
            self.durations.append(seconds)
            # The first epoch carries graph tracing; later ones say more about the pace.
            recent = self.durations[1:] or self.durations
            remaining = (epochs - epoch - 1) * sum(recent) / len(recent)
            print(epoch_line(epoch=epoch + 1, epochs=epochs, logs=dict(logs or {}), seconds=seconds,
                             remaining_seconds=remaining), file=stream or sys.stderr, flush=True)

    return EpochProgress()


class DecodeProgress:
    """Progress of decoding COUNT files: a line at most every `every` seconds, then one at the end."""

    def __init__(self, description: str, *, count: int, every: float = 5.0, stream=None):
        self.description, self.count, self.every, self.stream = description, count, every, stream
        self.started = self.last = time.perf_counter()
        self.done = 0

    def update(self, done: int) -> None:
        self.done = done
        now = time.perf_counter()
        if now - self.last >= self.every and done < self.count:
            self.last = now
            remaining = (now - self.started) / done * (self.count - done)
            print(f"{self.description}: {done:,} of {self.count:,} decoded ({done / self.count:.0%}, "
                  f"ETA {format_duration(remaining)})", file=self.stream or sys.stderr, flush=True)

    def finish(self) -> None:
        seconds = time.perf_counter() - self.started
        print(f"{self.description}: decoded {self.done:,} files in {seconds:.1f} s",
              file=self.stream or sys.stderr, flush=True)
