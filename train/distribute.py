"""Training on several devices or machines with tf.distribute: strategy, data sharding, chief.

`--strategy default` trains on one device, `mirrored` on all local GPUs, and `multiworker`
runs `MultiWorkerMirroredStrategy` over the machines listed in `TF_CONFIG`. `--batch-size` is
always the global batch: each of the N replicas gets `batch_size // N` images per step.

With several workers each worker decodes and augments only its own share of the images
(a fixed, equal-sized shard), so the input pipeline scales with the machines instead of
every worker reading the whole dataset and throwing most of it away.
"""

from __future__ import annotations

import json
import math
import os

import numpy as np

from catdog.errors import CatdogError

STRATEGIES = ("default", "mirrored", "multiworker")


def read_tf_config() -> dict:
    """Return the parsed `TF_CONFIG`, or {} when it is unset; one clear line when it is not JSON."""
    text = os.environ.get("TF_CONFIG") or ""
    if not text.strip():
        return {}
    try:
        config = json.loads(text)
    except json.JSONDecodeError as error:
        raise CatdogError(f"TF_CONFIG is not valid JSON ({error}); see docs/scaling.md, section 5") from None
    if not isinstance(config, dict):
        raise CatdogError("TF_CONFIG must be a JSON object with 'cluster' and 'task'; see docs/scaling.md, section 5")
    return config


def count_workers(name: str) -> int:
    """How many machines take part: the chief plus the workers in TF_CONFIG for multiworker, else 1."""
    if name != "multiworker":
        return 1
    cluster = read_tf_config().get("cluster", {})
    return max(1, len(cluster.get("chief", [])) + len(cluster.get("worker", [])))


def make_strategy(name: str):
    """Return the tf.distribute strategy for `--strategy` (multiworker reads TF_CONFIG)."""
    if name not in STRATEGIES:
        raise CatdogError(f"unknown strategy {name!r}; choose one of {', '.join(STRATEGIES)}")
    if name == "multiworker":
        config = read_tf_config()
        if not config.get("cluster") or not config.get("task"):
            raise CatdogError("--strategy multiworker needs TF_CONFIG with 'cluster' and 'task' "
                              "(see docs/scaling.md, section 5)")
    import tensorflow as tf

    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multiworker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    return tf.distribute.get_strategy()


def is_chief() -> bool:
    """True unless TF_CONFIG names this process as a non-chief worker."""
    config = read_tf_config()
    task = config.get("task", {})
    kind, index = task.get("type", "chief"), int(task.get("index", 0))
    has_chief = "chief" in config.get("cluster", {})
    return kind == "chief" or (kind == "worker" and index == 0 and not has_chief)


def per_replica_batch_size(batch_size: int, *, replicas: int) -> int:
    """Split the global batch over the replicas, or raise one line naming a batch size that fits."""
    if batch_size % replicas:
        fitting = max(replicas, batch_size // replicas * replicas)
        raise CatdogError(f"--batch-size {batch_size} does not divide over {replicas} replicas; "
                          f"use a multiple of {replicas}, e.g. --batch-size {fitting}")
    return batch_size // replicas


def shard_indices(count: int, *, workers: int, index: int) -> np.ndarray:
    """The image indices worker `index` of `workers` trains on: every workers-th image, equal sizes.

    Every worker must run the same number of steps or the collectives hang, so shorter shards
    are padded by repeating their first image: at most one duplicate per worker, none dropped.
    """
    if count < workers:
        raise CatdogError(f"only {count} images for {workers} workers: each worker needs at least one")
    shard = np.arange(index, count, workers)
    size = math.ceil(count / workers)
    return np.concatenate([shard, shard[: size - len(shard)]]) if len(shard) < size else shard


class ShardView:
    """A read-only view of some rows of an (N, H, W, 3) array, possibly memory-mapped.

    `make_dataset` gathers batches with `images[sorted indices]`; the view maps those to the
    shard's rows, keeping them sorted so a disk cache is still read front to back.
    """

    def __init__(self, images, indices: np.ndarray):
        self.images, self.indices = images, np.asarray(indices)
        self.shape = (len(self.indices), *images.shape[1:])
        self.dtype = images.dtype

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, order):
        rows = self.indices[order]
        ordering = np.argsort(rows, kind="stable")
        gathered = self.images[rows[ordering]]
        restored = np.empty_like(gathered)
        restored[ordering] = gathered
        return restored


def distribute_dataset(strategy, images, labels, *, batch_size: int, seed: int, augmentation, workers: int,
                       num_classes: int = 2, output_size: tuple[int, int] | None = None, distillation=None):
    """Return (dataset for model.fit, steps per epoch) for a global batch of `batch_size`.

    On one machine this is the plain `make_dataset` pipeline: Keras splits each global batch
    over the local replicas. With several workers each builds the pipeline over its own shard
    with per-replica batches, through `distribute_datasets_from_function`, and folds its
    worker index into the seed so workers do not draw identical augmentations.
    """
    import tensorflow as tf

    from catdog.train.augment import make_dataset

    replicas = strategy.num_replicas_in_sync
    per_replica = per_replica_batch_size(batch_size, replicas=replicas)
    if workers <= 1:
        dataset = make_dataset(images, labels, batch_size=batch_size, seed=seed, augmentation=augmentation,
                               num_classes=num_classes, output_size=output_size, distillation=distillation)
        return dataset, math.ceil(len(labels) / batch_size)
    labels = np.asarray(labels)

    def build(context: tf.distribute.InputContext):
        indices = shard_indices(len(labels), workers=context.num_input_pipelines, index=context.input_pipeline_id)
        dataset = make_dataset(ShardView(images, indices), labels[indices],
                               batch_size=context.get_per_replica_batch_size(batch_size),
                               seed=seed + 1000003 * context.input_pipeline_id, augmentation=augmentation,
                               num_classes=num_classes, output_size=output_size, distillation=distillation)
        # The shard is already this worker's own: tf.data must not shard it a second time.
        options = tf.data.Options()
        options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.OFF
        return dataset.with_options(options)

    steps = math.ceil(math.ceil(len(labels) / workers) / per_replica / max(1, replicas // workers))
    return strategy.distribute_datasets_from_function(build), steps


def fix_keras_distributed_fit(model, strategy, *, workers: int) -> None:
    """Work around two Keras 3 bugs that stop `fit` under MultiWorkerMirroredStrategy.

    First, before the first step Keras reduces the whole first (x, y) batch with one
    `strategy.reduce` call, which cannot take a tuple across workers ("Attempt to convert a
    value (PerReplica...)"; keras-team/keras#20585). The model only needs the batch's shapes
    and dtypes there, so this hands it one replica's local part. Second, across workers Keras
    averages each step's logs with `reduce(..., axis=0)`, which fails on the scalar losses and
    metrics ("Invalid reduction dimension 0"); giving them shape (1,) makes that reduce the
    mean over all replicas that Keras meant. One machine is left untouched: Keras handles it
    (checked with MirroredStrategy over two CPU devices).
    """
    import tensorflow as tf

    if workers <= 1 or not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return
    if not hasattr(model, "_maybe_symbolic_build"):
        return  # a Keras without this private hook builds differently; nothing to patch

    original = model._maybe_symbolic_build

    def local_part(value):
        if isinstance(value, tf.distribute.DistributedValues):
            return strategy.experimental_local_results(value)[0]
        return value

    def symbolic_build(iterator=None, data_batch=None):
        if data_batch is None and iterator is not None:
            for _, _, batches in iterator:
                data_batch = tf.nest.map_structure(local_part, next(batches))
                break
        return original(data_batch=data_batch)

    model._maybe_symbolic_build = symbolic_build

    def as_vector(value):
        value = tf.convert_to_tensor(value)
        return tf.reshape(value, [1]) if value.shape.rank == 0 else value

    def with_vector_logs(step):
        return lambda data: tf.nest.map_structure(as_vector, step(data))

    model.train_step = with_vector_logs(model.train_step)
    model.test_step = with_vector_logs(model.test_step)


def check_same_data(strategy, *, counts: list[int]) -> None:
    """Stop every worker with one clear line when they found different numbers of images.

    Workers with different data would run different numbers of steps and hang in the first
    collective that one of them skips; the sums of the counts and of their squares over all
    replicas match only when every worker's counts are equal.
    """
    import tensorflow as tf

    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return
    values = tf.constant([*counts, *(count * count for count in counts)], dtype=tf.float64)

    @tf.function
    def total():
        return strategy.reduce("SUM", strategy.run(lambda: tf.identity(values)), axis=None)

    sums = total().numpy()
    replicas = strategy.num_replicas_in_sync
    if any(sums[len(counts) + i] * replicas != sums[i] ** 2 for i in range(len(counts))):
        raise CatdogError(f"the workers found different images (this one: {counts} training/validation); "
                          "give every worker the same --data files")


def wait_for_all_workers(strategy) -> None:
    """Block until every worker gets here, so the first worker, which hosts the cluster's
    coordination service, does not exit while the others are still finishing."""
    import tensorflow as tf

    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return

    @tf.function
    def barrier():
        return strategy.reduce("SUM", strategy.run(lambda: tf.constant(1.0)), axis=None)

    barrier()
