"""What training minimises and reports: the loss, the accuracy metric and the AdamW optimizer on the run's schedule.

Two classes train a sigmoid head on binary cross-entropy, more a softmax head on categorical
cross-entropy, both label-smoothed. Soft targets (distillation, mixup) get an accuracy that
rounds them, registered with Keras so the checkpoints that name it load again.
"""

from __future__ import annotations

from catdog.train.config import TrainConfig
from catdog.train.schedule import run_schedule


def rounded_binary_accuracy(targets, probabilities):
    """Per-example 1.0 where a (B, 1) target and probability fall on the same side of 0.5, else 0.0."""
    import keras

    return keras.ops.cast(keras.ops.equal(targets > 0.5, probabilities > 0.5), "float32")[:, 0]


def register_rounded_accuracy():
    """Register `rounded_binary_accuracy` with Keras (as catdog>rounded_binary_accuracy), so a
    checkpoint compiled with it loads again in this process; returns the function."""
    import keras

    return keras.saving.register_keras_serializable(package="catdog")(rounded_binary_accuracy)


def compile_model(model, config: TrainConfig, *, steps_per_epoch: int, num_classes: int) -> None:
    """AdamW on the warm-up + cosine schedule; binary cross-entropy for a sigmoid head, categorical
    cross-entropy for a softmax head, both with `config.label_smoothing`."""
    import keras

    schedule = run_schedule(config, steps_per_epoch=steps_per_epoch)
    if num_classes == 2:
        loss = keras.losses.BinaryCrossentropy(label_smoothing=config.label_smoothing)
        accuracy = keras.metrics.BinaryAccuracy(name="accuracy")
        if config.teacher or config.mixup > 0:
            # Distillation and mixup make the training targets soft; training accuracy rounds them,
            # as CategoricalAccuracy's argmax does for K classes.
            accuracy = keras.metrics.MeanMetricWrapper(register_rounded_accuracy(), name="accuracy")
    else:
        loss = keras.losses.CategoricalCrossentropy(label_smoothing=config.label_smoothing)
        accuracy = keras.metrics.CategoricalAccuracy(name="accuracy")
    # With `ema` the optimizer keeps a moving average of the trainable weights; SwapEMAWeights
    # (see `train`) swaps it in for validation and for saving the best weights.
    optimizer = keras.optimizers.AdamW(learning_rate=schedule, weight_decay=config.weight_decay,
                                       use_ema=config.ema, ema_momentum=config.ema_momentum)
    model.compile(optimizer=optimizer, loss=loss, metrics=[accuracy])
