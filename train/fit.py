"""`train`: the whole training run behind `catdog-train`, from a data folder to a model card."""

from __future__ import annotations

import atexit
import json
import math
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

from catdog import __version__
from catdog.errors import CatdogError, require_tensorflow
from catdog.runtime.spec import ModelSpec
from catdog.train.augment import Augmentation
from catdog.train.card import write_card, write_curves
from catdog.train.checkpoint import (fresh_state, load_state, make_checkpoint_callback, write_atomically,
                                     write_history)
from catdog.train.config import TrainConfig
from catdog.train.data import decode_images, list_labelled_files, split_files
from catdog.train.distribute import (check_same_data, count_workers, distribute_dataset, fix_keras_distributed_fit,
                                     is_chief, make_strategy, per_replica_batch_size, wait_for_all_workers)
from catdog.train.model import build_model


def check_writable(folder: Path) -> None:
    """Create `folder` if needed and prove it can be written, or raise one clear line."""
    try:
        Path(folder).mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder):
            pass
    except OSError as error:
        raise CatdogError(f"cannot write to output folder {folder}: {error.strerror or error}") from None


def compile_model(model, config: TrainConfig, *, steps_per_epoch: int) -> None:
    """AdamW with linear warm-up then cosine decay to zero over the planned epochs."""
    import keras

    total = max(1, config.epochs * steps_per_epoch)
    warmup = min(config.warmup_epochs * steps_per_epoch, total - 1)
    schedule = keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=config.learning_rate / 100, decay_steps=max(1, total - warmup), alpha=0.0,
        warmup_target=config.learning_rate if warmup else None, warmup_steps=warmup)
    model.compile(optimizer=keras.optimizers.AdamW(learning_rate=schedule, weight_decay=config.weight_decay),
                  loss=keras.losses.BinaryCrossentropy(label_smoothing=config.label_smoothing),
                  metrics=[keras.metrics.BinaryAccuracy(name="accuracy")])


def evaluate(model, images, labels) -> tuple[float, float]:
    """Accuracy and plain (unsmoothed) binary cross-entropy of `model` on cached arrays."""
    import numpy as np

    probabilities = np.concatenate([model.predict_on_batch(np.asarray(images[start:start + 256], np.float32))[:, 0]
                                    for start in range(0, len(labels), 256)])
    clipped = np.clip(probabilities, 1e-7, 1 - 1e-7)
    loss = -np.mean(labels * np.log(clipped) + (1 - labels) * np.log(1 - clipped))
    return float(np.mean((probabilities >= 0.5) == (labels >= 0.5))), float(loss)


def load_splits(config: TrainConfig, *, write_dir: Path):
    """Return ((train images, labels), (val images, labels), split record) for the config."""
    files = list_labelled_files(config.data)
    if config.val:
        train_files, val_files = files, list_labelled_files(config.val)
        split = {"method": "folder", "val": str(config.val)}
    else:
        train_files, val_files = split_files(files, val_fraction=config.val_split)
        split = {"method": "stratified by class, ordered by sha256 of the file name",
                 "val_fraction": config.val_split}
    cache_dir = None
    if config.cache == "disk":
        # Non-chief workers keep a default cache in their throwaway folder, not in --out.
        cache_dir = config.cache_dir or Path(write_dir) / "cache"
    # Decoding needs only the size, resize filter and draft flag; labels come from the folders.
    decode_spec = ModelSpec(image_size=config.image_size, labels=files.class_names,
                            output="sigmoid" if len(files.class_names) == 2 else "softmax")
    train = decode_images(train_files, spec=decode_spec, cache_dir=cache_dir, description="training images")
    val = decode_images(val_files, spec=decode_spec, cache_dir=cache_dir, description="validation images")
    split.update(classes=list(files.class_names), train_images=int(len(train[1])), val_images=int(len(val[1])))
    if len(set(train[1].tolist())) < 2:
        raise CatdogError("the training split holds only one class: both class folders need images")
    return train, val, split


def train(config: TrainConfig, *, command: str) -> dict:
    """Train the MiniResNet as `config` says; write model.keras, history, curves and card to `config.out`.

    Returns the card as a dict. On Ctrl-C the last finished epoch stays in `out/checkpoint`,
    and rerunning with `resume=True` continues from there.
    """
    tf = require_tensorflow()
    import keras

    if config.cache not in ("memory", "disk"):
        raise CatdogError(f"--cache must be memory or disk, got {config.cache!r}")
    if config.resume and config.strategy == "multiworker":
        raise CatdogError("--resume is not supported with --strategy multiworker; start a fresh run")
    # MultiWorkerMirroredStrategy should exist before other TensorFlow work, and connecting the
    # workers first means a missing worker shows up before minutes of decoding.
    strategy = make_strategy(config.strategy)
    replicas, workers = strategy.num_replicas_in_sync, count_workers(config.strategy)
    per_replica = per_replica_batch_size(config.batch_size, replicas=replicas)
    out = Path(config.out)
    chief = is_chief()
    # Non-chief workers run the same code but write into a throwaway folder, removed at exit
    # even when training fails or is interrupted.
    write_dir = out if chief else Path(tempfile.mkdtemp(prefix="catdog-worker-"))
    if not chief:
        atexit.register(shutil.rmtree, write_dir, ignore_errors=True)
    check_writable(write_dir)
    checkpoint_dir = write_dir / "checkpoint"
    state = load_state(checkpoint_dir) if config.resume else None
    if config.resume and state is None:
        raise CatdogError(f"--resume: no checkpoint in {checkpoint_dir}; run once without --resume first")

    keras.utils.set_random_seed(config.seed)
    tf.config.experimental.enable_op_determinism()
    (train_x, train_y), (val_x, val_y), split = load_splits(config, write_dir=write_dir)
    spec = ModelSpec(image_size=config.image_size, labels=tuple(split["classes"]), output="sigmoid")
    check_same_data(strategy, counts=[len(train_y), len(val_y)])
    print(f"strategy {config.strategy}: {workers} worker(s), {replicas} replica(s), global batch "
          f"{config.batch_size}, per-replica batch {per_replica}", file=sys.stderr)

    augmentation = Augmentation() if config.augment else None
    train_data, steps_per_epoch = distribute_dataset(
        strategy, train_x, train_y, batch_size=config.batch_size, seed=config.seed,
        augmentation=augmentation, workers=workers)
    # The validation batch only needs to split evenly over the replicas.
    val_batch_size = math.ceil(256 / replicas) * replicas
    val_data, _ = distribute_dataset(strategy, val_x, val_y, batch_size=val_batch_size, seed=config.seed,
                                     augmentation=None, workers=workers)

    with strategy.scope():
        if state is not None:
            model = keras.models.load_model(checkpoint_dir / "last.keras")
            print(f"resuming after epoch {state['epoch']} from {checkpoint_dir}", file=sys.stderr)
        else:
            state = fresh_state()
            model = build_model(image_size=config.image_size, seed=config.seed)
            compile_model(model, config, steps_per_epoch=steps_per_epoch)
    fix_keras_distributed_fit(model, strategy, workers=workers)
    # A resumed run records every command that contributed to it, the first one first.
    state.setdefault("commands", []).append(command)
    callback = make_checkpoint_callback(checkpoint_dir, state=state, patience=config.patience, writer=True)
    started = time.perf_counter()
    try:
        if state["epoch"] < config.epochs and state["wait"] < config.patience:
            model.fit(train_data, validation_data=val_data, epochs=config.epochs, initial_epoch=state["epoch"],
                      callbacks=[callback], verbose=1 if sys.stdout.isatty() else 2)
    except KeyboardInterrupt:
        # The file, not the in-memory state, says which epoch is safe: Ctrl-C may land mid-write.
        saved = (load_state(checkpoint_dir) or {}).get("epoch", 0)
        print(f"\nInterrupted; the checkpoint holds epoch {saved}; continue with the same command plus --resume "
              f"(checkpoint in {checkpoint_dir}).", file=sys.stderr)
        raise
    if state["best_epoch"] is None:
        raise CatdogError("no epoch finished, so there is no model to write")

    # The shipped file holds the best epoch's weights in a fresh, uncompiled model: no optimizer
    # state, so it stays about 1 MB.
    model.load_weights(checkpoint_dir / "best.weights.h5")
    final = build_model(image_size=config.image_size)
    final.set_weights(model.get_weights())
    val_accuracy, val_loss = evaluate(final, val_x, val_y)
    write_atomically(write_dir / "model.keras", final.save)
    write_history(write_dir / "history.csv", state["history"])
    write_curves(write_dir / "curves.png", state["history"])
    card = {
        "model": "model.keras", "architecture": "MiniResNet (catdog.train.model)",
        "parameters": int(final.count_params()), "command": state["commands"][0], "commands": state["commands"],
        "config": config.to_dict(),
        "data": {"folder": str(config.data), **split}, "model_spec": spec.to_dict(),
        "epochs_run": state["epoch"], "best_epoch": state["best_epoch"],
        "wall_seconds": round(state["seconds"], 1), "training_seconds_this_session": round(time.perf_counter() - started, 1),
        "val_accuracy": round(float(val_accuracy), 4), "val_loss_unsmoothed": round(float(val_loss), 4),
        "strategy": config.strategy, "workers": workers, "replicas": replicas,
        "per_replica_batch_size": per_replica,
        "versions": {"catdog": __version__, "tensorflow": tf.__version__, "keras": keras.__version__,
                     "python": platform.python_version()},
        "machine": f"{platform.machine()} {platform.system()}, {__import__('os').cpu_count()} cores",
    }
    write_card(write_dir, card=card)
    wait_for_all_workers(strategy)
    if not chief:
        shutil.rmtree(write_dir, ignore_errors=True)
    print(json.dumps({"val_accuracy": card["val_accuracy"], "best_epoch": card["best_epoch"],
                      "out": str(out) if chief else None}), file=sys.stderr)
    return card
