"""The learning-rate schedule: linear warm-up to the peak rate, then cosine decay to zero.

Warm-up is capped at a third of the run (rounded down), so a short run still reaches its peak
rate: `--epochs 3` warms up for 1 epoch, not the default 3 (which would end the run before the
peak), and runs of 1 or 2 epochs start at the peak. Cosine decay with warm-up follows Loshchilov
and Hutter (2017, SGDR) and Goyal et al. (2017); Keras's `CosineDecay` implements both.
"""

from __future__ import annotations

# Warm-up may take at most this fraction of the planned epochs (rounded down).
WARMUP_FRACTION_DENOMINATOR = 3
# Warm-up starts from this fraction of the peak rate.
WARMUP_START = 0.01


def warmup_epochs_for(*, epochs: int, warmup_epochs: int) -> int:
    """The warm-up epochs a run really uses: `warmup_epochs`, at most epochs // 3."""
    return max(0, min(warmup_epochs, epochs // WARMUP_FRACTION_DENOMINATOR))


def learning_rate_schedule(*, peak: float, epochs: int, warmup_epochs: int, steps_per_epoch: int):
    """A Keras schedule over `epochs * steps_per_epoch` optimizer steps.

    With warm-up the rate rises linearly from WARMUP_START * peak to `peak` over the capped
    warm-up epochs, then decays along a cosine to 0 at the last step; without, it starts at
    `peak` and decays at once.
    """
    import keras

    total = max(1, epochs * steps_per_epoch)
    warmup = warmup_epochs_for(epochs=epochs, warmup_epochs=warmup_epochs) * steps_per_epoch
    if not warmup:
        return keras.optimizers.schedules.CosineDecay(initial_learning_rate=peak, decay_steps=total, alpha=0.0)
    return keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=peak * WARMUP_START, decay_steps=max(1, total - warmup), alpha=0.0,
        warmup_target=peak, warmup_steps=warmup)
