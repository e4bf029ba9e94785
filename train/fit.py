"""`train`: the whole training run behind `catdog-train`, from a data folder to a model card.

The run checks the data before it creates `--out`, refuses to replace an earlier run unless
told (`--resume` continues it, `--force` starts over), and ends by saying what it saved and
which command comes next.
"""

from __future__ import annotations

import atexit
import math
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from catdog import __version__
from catdog.errors import CatdogError, ReportedInterrupt, Terminated, require_tensorflow
from catdog.folders import ensure_writable
from catdog.runtime.spec import ModelSpec
from catdog.train.augment import Augmentation, make_dataset
from catdog.train.card import curves_title, describe_validation, write_card, write_confusion, write_curves
from catdog.train.checkpoint import (fresh_state, load_resumable_state, load_state, make_checkpoint_callback,
                                     write_atomically, write_history)
from catdog.train.config import TrainConfig
from catdog.train.data import (LabelledFiles, cache_folder, class_counts, decode_splits, list_labelled_files,
                               split_files)
from catdog.train.distill import require_teacher_file, teacher_record
from catdog.train.distribute import (check_same_data, count_workers, distribute_dataset, fix_keras_distributed_fit,
                                     is_chief, make_strategy, per_replica_batch_size, wait_for_all_workers)
from catdog.measure.per_class import confusion_matrix, format_per_class, per_class_results
from catdog.runtime.prediction import decide
from catdog.train.evaluate import predict_probabilities, score
from catdog.train.init import init_model, require_init_file
from catdog.train.model import build_model
from catdog.train.progress import make_progress_callback
from catdog.train.objective import compile_model, register_rounded_accuracy
from catdog.provenance import describe_command, describe_path, hash_folder
from catdog.train.report import few_photos_warnings, found_message, next_command, saved_message
from catdog.train.schedule import run_schedule, warmup_epochs_for
from catdog.train.swa import (averaged_epochs, averaging_starts_after, check_resumed_average, check_swa_options,
                              load_average, make_averaging_callback, remove_stale_averages, use_average)

# The files of a run in --out; any of them means the folder already holds one.
# Below this many validation photos one photo moves val accuracy by over 2 points, and choosing the best
# of many epochs by it mostly picks noise: the run keeps its last epoch instead (issue 28 item 4).
MIN_SELECTION_PHOTOS = 50
RUN_FILES = ("model.keras", "checkpoint/state.json", "checkpoint/last.keras")
CHECKPOINT_FILES = ("state.json", "last.keras", "best.weights.h5")


def say(message: str) -> None:
    """Print one of catdog's own progress lines to stderr, where all of training's progress goes."""
    print(message, file=sys.stderr, flush=True)


def check_no_earlier_run(out: Path, *, resume: bool, force: bool) -> None:
    """Refuse, in one line, to replace a run already in `out` unless `resume` or `force` says so."""
    found = [name for name in RUN_FILES if (Path(out) / name).exists()]
    if found and not (resume or force):
        raise CatdogError(f"{out} already holds a training run ({found[0]}); add --resume to continue it, "
                          "--force to start over in it, or choose another --out")


def clear_checkpoint(folder: Path) -> None:
    """Delete an earlier run's checkpoint files (state first, so nothing looks resumable)."""
    for name in CHECKPOINT_FILES:
        (Path(folder) / name).unlink(missing_ok=True)
    if Path(folder).is_dir():
        remove_stale_averages(folder, keep=())


def data_identity(folder: Path) -> dict:
    """The data folder's image count and content hash: a card names the folder without its path."""
    images, sha256 = hash_folder(folder)
    return {"images": images, "sha256": sha256}


def list_splits(config: TrainConfig) -> tuple[LabelledFiles, LabelledFiles, dict]:
    """List and split the files, without decoding them; raise one line for unusable data."""
    files = list_labelled_files(config.data)
    if config.val:
        train_files, val_files = files, list_labelled_files(config.val)
        if val_files.class_names != files.class_names:
            raise CatdogError(f"--val {config.val} has classes {', '.join(val_files.class_names)} but --data has "
                              f"{', '.join(files.class_names)}: both need the same class folders")
        split = {"method": "folder", "val": describe_path(config.val)}
    else:
        train_files, val_files = split_files(files, val_fraction=config.val_split)
        split = {"method": "stratified by class, ordered by sha256 of the file name",
                 "val_fraction": config.val_split}
    missing = [name for name, count in class_counts(train_files).items() if count == 0]
    if missing:
        raise CatdogError(f"no training images left for {', '.join(missing)} after the validation split: "
                          "add photos to that class or lower --val-split")
    split.update(classes=list(files.class_names),
                 class_counts={"train": class_counts(train_files), "val": class_counts(val_files)})
    return train_files, val_files, split


def train(config: TrainConfig, *, command: str, verbose: bool = False) -> dict:
    """Train the MiniResNet as `config` says; write model.keras, history, curves and card to `config.out`.

    Returns the card as a dict. On Ctrl-C the last finished epoch stays in `out/checkpoint`,
    and rerunning with `resume=True` continues from there. Raises CatdogError (one line, exit 2)
    for unusable data, an earlier run in `out` without `resume`/`force`, or bad options.
    """
    if config.cache not in ("memory", "disk"):
        raise CatdogError(f"--cache must be memory or disk, got {config.cache!r}")
    if config.cache_scale != 1.0 and not config.augment:
        raise CatdogError("--cache-scale needs augmentation to bring the cached photos to --image-size; "
                          "drop --no-augment or --cache-scale")
    if config.antialias and config.cache_size == config.image_size:
        raise CatdogError("--antialias shrinks crops from a larger cache; add --cache-scale above 1 (2 is usual)")
    if config.mixup > 0 and not config.augment:
        raise CatdogError("--mixup is part of augmentation; drop --no-augment or --mixup")
    if config.teacher and not config.augment:
        raise CatdogError("--teacher needs augmentation, which draws the crops both models see; drop --no-augment")
    for teacher in config.teacher:
        require_teacher_file(teacher)
    if config.init is not None:
        require_init_file(config.init)
    check_swa_options(epochs=config.epochs, swa_epochs=config.swa_epochs, swa_learning_rate=config.swa_learning_rate,
                      learning_rate=config.learning_rate)
    if config.resume and config.force:
        raise CatdogError("--resume continues the run in --out and --force starts it over: give only one")
    if config.resume and config.strategy == "multiworker":
        raise CatdogError("--resume is not supported with --strategy multiworker; start a fresh run")
    # Everything that can be checked without writing is checked first, so a mistake never
    # leaves an empty --out folder behind.
    train_files, val_files, split = list_splits(config)
    labels = tuple(split["classes"])
    spec = ModelSpec(image_size=config.image_size, labels=labels, output="sigmoid" if len(labels) == 2 else "softmax")
    out = Path(config.out)
    chief = is_chief()
    checkpoint_dir = out / "checkpoint"
    if chief:
        check_no_earlier_run(out, resume=config.resume, force=config.force)
    state = load_resumable_state(checkpoint_dir, spec=spec) if config.resume else None
    if state is not None:
        check_resumed_average(state, swa_epochs=config.swa_epochs,
                              start_after=averaging_starts_after(epochs=config.epochs, swa_epochs=config.swa_epochs))

    # TensorFlow is imported only now, so the checks above answer at once, in one line.
    tf = require_tensorflow()
    import keras

    # MultiWorkerMirroredStrategy should exist before other TensorFlow work, and connecting the
    # workers first means a missing worker shows up before minutes of decoding.
    strategy = make_strategy(config.strategy)
    replicas, workers = strategy.num_replicas_in_sync, count_workers(config.strategy)
    per_replica = per_replica_batch_size(config.batch_size, replicas=replicas)
    initialised = None
    if config.init is not None and state is None:
        # Loaded (and refused, in one line) before minutes of decoding.
        with strategy.scope():
            initialised = init_model(config.init, image_size=spec.image_size, labels=labels, seed=config.seed)
        say(f"starting from {config.init}: its backbone, "
            + ("and its head (same labels)" if initialised[1]["head"] == "kept" else "with a new head for these labels"))
    # Non-chief workers run the same code but write into a throwaway folder, removed at exit
    # even when training fails or is interrupted.
    write_dir = out if chief else Path(tempfile.mkdtemp(prefix="catdog-worker-"))
    if not chief:
        atexit.register(shutil.rmtree, write_dir, ignore_errors=True)
    created = not write_dir.exists()
    ensure_writable(write_dir)
    checkpoint_dir = write_dir / "checkpoint"
    if config.force:
        clear_checkpoint(checkpoint_dir)

    say(found_message(split["class_counts"]["train"], split["class_counts"]["val"], val_folder=config.val))
    for line in few_photos_warnings(split["class_counts"]["train"], split["class_counts"]["val"]):
        say(line)
    if config.strategy != "default":
        say(f"strategy {config.strategy}: {workers} worker(s), {replicas} replica(s), global batch "
            f"{config.batch_size}, per-replica batch {per_replica}")
    keras.utils.set_random_seed(config.seed)
    tf.config.experimental.enable_op_determinism()
    try:
        (train_x, train_y), (val_x, val_y) = decode_splits(
            train_files, val_files, spec=spec, cache_dir=cache_folder(config, write_dir=write_dir),
            train_size=config.cache_size, own_cache=not config.cache_dir)
    except BaseException:
        if created and chief:
            shutil.rmtree(write_dir, ignore_errors=True)  # the folder this run made, and nothing else
        raise
    split.update(train_images=int(len(train_y)), val_images=int(len(val_y)))
    validation = describe_validation(split)  # "validation split", or the --val folder's name
    check_same_data(strategy, counts=[len(train_y), len(val_y)])

    augmentation = (Augmentation(crop_area=config.crop_area, mixup=config.mixup, antialias=config.antialias)
                    if config.augment else None)
    distillation = None
    if config.teacher:
        from catdog.train.distill import load_teachers

        distillation = load_teachers(config.teacher, labels=labels, weight=config.distill_weight)
        teachers = ", ".join(f"{path} ({height}x{width})"
                             for path, (height, width) in zip(config.teacher, distillation.image_sizes))
        say(f"distilling from {teachers}, weight {config.distill_weight}")
    train_data, steps_per_epoch = distribute_dataset(
        strategy, train_x, train_y, batch_size=config.batch_size, seed=config.seed,
        augmentation=augmentation, workers=workers, num_classes=spec.num_classes, output_size=spec.image_size,
        distillation=distillation)
    # The validation batch only needs to split evenly over the replicas.
    val_batch_size = math.ceil(256 / replicas) * replicas
    val_data, _ = distribute_dataset(strategy, val_x, val_y, batch_size=val_batch_size, seed=config.seed,
                                     augmentation=None, workers=workers, num_classes=spec.num_classes)

    with strategy.scope():
        if state is not None:
            # Checkpoints of soft-target runs name the registered metric (older ones the bare function).
            model = keras.models.load_model(checkpoint_dir / "last.keras",
                                            custom_objects={"rounded_binary_accuracy": register_rounded_accuracy()})
            # The saved schedule ends at the first run's last epoch; a longer --epochs would train
            # on a rate of 0, so the schedule is rebuilt for this command's epochs (the same one
            # when --epochs is unchanged). It reads the optimizer's step count, which resumes too.
            model.optimizer.learning_rate = run_schedule(config, steps_per_epoch=steps_per_epoch)
            say(f"resuming after epoch {state['epoch']} from {checkpoint_dir}")
        else:
            state = fresh_state()
            state["model_spec"] = spec.to_dict()
            model = (initialised[0] if initialised else
                     build_model(image_size=spec.image_size, num_classes=spec.num_classes, seed=config.seed))
            state["init"] = initialised[1] if initialised else None
            compile_model(model, config, steps_per_epoch=steps_per_epoch, num_classes=spec.num_classes)
    fix_keras_distributed_fit(model, strategy, workers=workers)
    # A resumed run records every command that contributed to it, the first one first.
    state.setdefault("commands", []).append(describe_command(command))  # machine-free: cards travel
    # The card names the data folder without its path; this machine's own path stays in the checkpoint
    # (never shipped), so `catdog-export` can still find the run's calibration and validation photos.
    state["data_folder"] = str(Path(config.data).resolve())
    state["val_folder"] = str(Path(config.val).resolve()) if config.val else None
    # SwapEMAWeights (a library callback) puts the weight average in the model for validation;
    # the checkpoint uses it again to save the average as the best weights.
    ema_swap = keras.callbacks.SwapEMAWeights(swap_on_epoch=False) if config.ema else None
    callbacks = [ema_swap] if ema_swap else []
    averager, stop_until = None, averaging_starts_after(epochs=config.epochs, swa_epochs=config.swa_epochs)
    if config.swa_epochs:
        # Before the checkpoint callback, which writes the state naming the average's file.
        averager = make_averaging_callback(checkpoint_dir, state=state, writer=True, ema_swap=ema_swap,
                                           average=load_average(checkpoint_dir, state=state), start_after=stop_until)
        callbacks.append(averager)
    warmup = warmup_epochs_for(epochs=config.epochs, warmup_epochs=config.warmup_epochs)
    keep_last = len(val_y) < MIN_SELECTION_PHOTOS
    if keep_last:
        say(f"the {validation} has {len(val_y)} photos, too few to choose an epoch by (one photo moves its "
            f"accuracy {100 / max(1, len(val_y)):.0f} points): keeping the last epoch's weights")
    # From random weights the warm-up epochs are never kept (issue 28: an 80-photo split's loss was
    # lowest at epoch 2); a run started with --init may well be best early.
    skip_epochs = 0 if config.init else warmup
    callbacks.append(make_checkpoint_callback(checkpoint_dir, state=state, patience=config.patience, writer=True,
                                              ema_swap=ema_swap, stop_until=stop_until, skip_epochs=skip_epochs,
                                              keep_last=keep_last))
    say(f"training up to {config.epochs} epoch{'s' * (config.epochs != 1)} of {steps_per_epoch:,} "
        f"step{'s' * (steps_per_epoch != 1)} (batch {config.batch_size}), keeping "
        + ("the last epoch" if keep_last else
           "the epoch with the best val accuracy (val loss breaks ties"
           + (f"; none of the {skip_epochs} warm-up epochs" if skip_epochs else "") + ")")
        + ("" if keep_last else f"; stopping after {config.patience} epochs without a better one")
        + (f" before the last {config.swa_epochs}, whose weights are averaged (SWA)" if config.swa_epochs else ""))
    started = time.perf_counter()
    try:
        if state["epoch"] < config.epochs and (state["wait"] < config.patience or state["epoch"] > stop_until):
            # shuffle=False: the tf.data pipeline shuffles itself; Keras's flag would only warn.
            fit_options = dict(validation_data=val_data, shuffle=False,
                               callbacks=[*callbacks, make_progress_callback(epochs=config.epochs)],
                               verbose=(1 if sys.stdout.isatty() else 2) if verbose else 0)
            model.fit(train_data, epochs=config.epochs, initial_epoch=state["epoch"], **fit_options)
    except KeyboardInterrupt as error:
        # The file, not the in-memory state, says which epoch is safe: Ctrl-C may land mid-write.
        saved = (load_state(checkpoint_dir) or {}).get("epoch", 0)
        say(f"\nInterrupted; the checkpoint holds epoch {saved}; continue with the same command plus --resume "
            f"(checkpoint in {checkpoint_dir}).")
        if isinstance(error, Terminated):
            raise
        raise ReportedInterrupt() from error
    if state["best_epoch"] is None:
        raise CatdogError("no epoch finished, so there is no model to write")

    # The shipped file holds the best epoch's weights in a fresh, uncompiled model: no optimizer
    # state, so it stays about 1 MB.
    model.load_weights(checkpoint_dir / "best.weights.h5")
    final = build_model(image_size=spec.image_size, num_classes=spec.num_classes)
    final.set_weights(model.get_weights())
    if averager is not None:
        use_average(final, averager.average, state=state, batches=lambda: make_dataset(
            train_x, train_y, batch_size=config.batch_size, seed=config.seed, augmentation=augmentation,
            num_classes=spec.num_classes, output_size=spec.image_size))
    probabilities = predict_probabilities(final, val_x)
    val_accuracy, val_loss = score(probabilities, val_y)
    val_truth = np.asarray(val_y).astype(int)
    per_class = per_class_results(val_truth, decide(probabilities), labels=labels)
    confusion = confusion_matrix(val_truth, decide(probabilities), num_classes=spec.num_classes)
    write_atomically(write_dir / "model.keras", final.save)
    write_history(write_dir / "history.csv", state["history"])
    averaged = averaged_epochs(state) if averager is not None else None
    write_curves(write_dir / "curves.png", state["history"], title=curves_title(out.name or str(out), labels),
                 best_epoch=state["best_epoch"], averaged=averaged)
    card = {
        "run": describe_path(out), "model": "model.keras", "architecture": "MiniResNet (catdog.train.model)",
        "parameters": int(final.count_params()), "command": state["commands"][0], "commands": state["commands"],
        "config": config.to_dict(),
        "data": {"folder": describe_path(config.data), **data_identity(config.data), **split}, "model_spec": spec.to_dict(),
        "loss": "binary cross-entropy" if spec.num_classes == 2 else "categorical cross-entropy",
        "teachers": [teacher_record(path) for path in config.teacher],
        "init": state.get("init"),
        "swa": state.get("swa"),
        "warmup_epochs": warmup_epochs_for(epochs=config.epochs, warmup_epochs=config.warmup_epochs),
        "selection": (f"last epoch (only {len(val_y)} validation photos)" if keep_last else
                      "best val accuracy, val loss breaking ties" + (f", not in the {skip_epochs} warm-up epochs"
                                                                     if skip_epochs else "")),
        "epochs_run": state["epoch"], "best_epoch": state["best_epoch"],
        "wall_seconds": round(state["seconds"], 1), "training_seconds_this_session": round(time.perf_counter() - started, 1),
        "val_accuracy": round(float(val_accuracy), 4), "val_loss_unsmoothed": round(float(val_loss), 4),
        "per_class": per_class, "confusion": {"rows": "true class", "columns": "decided class",
                                              "labels": list(labels), "counts": confusion.tolist()},
        "strategy": config.strategy, "workers": workers, "replicas": replicas,
        "per_replica_batch_size": per_replica,
        "versions": {"catdog": __version__, "tensorflow": tf.__version__, "keras": keras.__version__,
                     "python": platform.python_version()},
        "machine": f"{platform.machine()} {platform.system()}, {__import__('os').cpu_count()} cores",
    }
    write_confusion(write_dir / "confusion.png", confusion, labels=labels,
                    title=f"{out.name or out}: {validation}, {len(val_truth):,} photos")
    write_card(write_dir, card=card)
    wait_for_all_workers(strategy)
    if not chief:
        shutil.rmtree(write_dir, ignore_errors=True)
        return card
    say(f"{validation}, per class:")
    for line in format_per_class(per_class):
        say("  " + line)
    say(saved_message(out / "model.keras", val_accuracy=val_accuracy, best_epoch=state["best_epoch"],
                      epochs_run=state["epoch"], averaged=averaged, kept_last=keep_last))
    say(next_command(out / "model.keras"))
    return card
