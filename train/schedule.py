"""The learning-rate schedule: linear warm-up to the peak rate, then cosine decay to zero.

With stochastic weight averaging (`constant_epochs` > 0, see `swa.py`) the cosine ends that many
epochs early at `final_rate` and the rate stays there: Izmailov et al. 2018's SWA schedule.

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


def learning_rate_schedule(*, peak: float, epochs: int, warmup_epochs: int, steps_per_epoch: int,
                           constant_epochs: int = 0, final_rate: float = 0.0):
    """A Keras schedule over `epochs * steps_per_epoch` optimizer steps.

    With warm-up the rate rises linearly from WARMUP_START * peak to `peak` over the capped
    warm-up epochs, then decays along a cosine to `final_rate` (default 0) at the start of the
    last `constant_epochs` epochs (default: at the last step) and stays there; without warm-up
    it starts at `peak` and decays at once. Keras's `CosineDecay` holds `alpha * peak` after its
    decay steps, which is the constant tail. Raises ValueError when `final_rate` exceeds `peak`.
    """
    import keras

    if not 0.0 <= final_rate <= peak:
        raise ValueError(f"the final learning rate {final_rate} must be between 0 and the peak {peak}")
    alpha = final_rate / peak if peak > 0 else 0.0
    total = max(1, (epochs - constant_epochs) * steps_per_epoch)
    warmup = warmup_epochs_for(epochs=epochs, warmup_epochs=warmup_epochs) * steps_per_epoch
    if not warmup:
        return keras.optimizers.schedules.CosineDecay(initial_learning_rate=peak, decay_steps=total, alpha=alpha)
    return keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=peak * WARMUP_START, decay_steps=max(1, total - warmup), alpha=alpha,
        warmup_target=peak, warmup_steps=warmup)


def run_schedule(config, *, steps_per_epoch: int):
    """The schedule of a run's `TrainConfig`: warm-up, cosine decay, and SWA's constant tail with --swa-epochs."""
    return learning_rate_schedule(peak=config.learning_rate, epochs=config.epochs, warmup_epochs=config.warmup_epochs,
                                  steps_per_epoch=steps_per_epoch, constant_epochs=config.swa_epochs,
                                  final_rate=config.swa_learning_rate if config.swa_epochs else 0.0)
