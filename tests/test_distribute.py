"""tf.distribute training: strategy choice, TF_CONFIG, the global batch, worker shards, and two
real worker processes on 127.0.0.1 training one short epoch together."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from catdog.errors import CatdogError
from catdog.train import distribute
from catdog.train.cli import main as train_main


def cluster_config(*, task_type: str, index: int, workers: int = 2, chief: bool = False) -> str:
    cluster = {"worker": [f"127.0.0.1:{20000 + i}" for i in range(workers)]}
    if chief:
        cluster["chief"] = ["127.0.0.1:19999"]
    return json.dumps({"cluster": cluster, "task": {"type": task_type, "index": index}})


@pytest.mark.parametrize(("tf_config", "expected"), [
    (None, True),
    (cluster_config(task_type="worker", index=0), True),
    (cluster_config(task_type="worker", index=1), False),
    (cluster_config(task_type="worker", index=0, chief=True), False),
    (cluster_config(task_type="chief", index=0, chief=True), True),
])
def test_only_the_chief_writes(monkeypatch, tf_config, expected):
    if tf_config is None:
        monkeypatch.delenv("TF_CONFIG", raising=False)
    else:
        monkeypatch.setenv("TF_CONFIG", tf_config)
    assert distribute.is_chief() is expected


def test_worker_count_comes_from_tf_config(monkeypatch):
    monkeypatch.setenv("TF_CONFIG", cluster_config(task_type="worker", index=0, workers=3, chief=True))
    assert distribute.count_workers("multiworker") == 4
    assert distribute.count_workers("mirrored") == 1


def test_tf_config_problems_are_one_clear_line(monkeypatch):
    monkeypatch.setenv("TF_CONFIG", "{not json")
    with pytest.raises(CatdogError, match="TF_CONFIG is not valid JSON"):
        distribute.is_chief()
    monkeypatch.delenv("TF_CONFIG")
    with pytest.raises(CatdogError, match="needs TF_CONFIG"):
        distribute.make_strategy("multiworker")
    with pytest.raises(CatdogError, match="choose one of default, mirrored, multiworker"):
        distribute.make_strategy("parameter-server")


def test_global_batch_splits_over_replicas():
    assert distribute.per_replica_batch_size(64, replicas=1) == 64
    assert distribute.per_replica_batch_size(64, replicas=4) == 16
    with pytest.raises(CatdogError, match="use a multiple of 3, e.g. --batch-size 63"):
        distribute.per_replica_batch_size(64, replicas=3)


@pytest.mark.parametrize(("count", "workers"), [(22, 2), (23, 2), (10, 3), (3, 3)])
def test_worker_shards_are_equal_and_cover_every_image(count, workers):
    shards = [distribute.shard_indices(count, workers=workers, index=i) for i in range(workers)]
    assert len({len(shard) for shard in shards}) == 1, "equal shards keep the workers' steps in step"
    assert sorted(set(np.concatenate(shards).tolist())) == list(range(count))
    assert sum(len(shard) for shard in shards) - count < workers  # at most one duplicate per worker
    with pytest.raises(CatdogError, match="each worker needs at least one"):
        distribute.shard_indices(1, workers=2, index=0)


def test_shard_view_gathers_the_shard_rows_in_the_asked_order():
    images = np.arange(10, dtype=np.uint8)[:, None, None, None] * np.ones((1, 2, 2, 3), np.uint8)
    view = distribute.ShardView(images, np.array([1, 3, 5, 7, 9, 1]))
    assert view.shape == (6, 2, 2, 3) and len(view) == 6
    assert view[np.array([0, 2, 4, 5])][:, 0, 0, 0].tolist() == [1, 5, 9, 1]
    assert view[np.array([5, 0])][:, 0, 0, 0].tolist() == [1, 1]


@pytest.mark.tf
def test_each_worker_pipeline_yields_its_own_per_replica_batches():
    import tensorflow as tf

    class TwoWorkers:
        """Stands in for a two-worker strategy: builds each worker's dataset from its context."""

        num_replicas_in_sync = 2

        def distribute_datasets_from_function(self, build):
            return [build(tf.distribute.InputContext(num_input_pipelines=2, input_pipeline_id=index,
                                                     num_replicas_in_sync=2)) for index in range(2)]

    count = 11
    images = np.arange(count, dtype=np.uint8)[:, None, None, None] * np.ones((1, 64, 64, 3), np.uint8)
    labels = (np.arange(count) % 2).astype(np.float32)
    datasets, steps = distribute.distribute_dataset(TwoWorkers(), images, labels, batch_size=4, seed=1,
                                                    augmentation=None, workers=2)
    seen = []
    for dataset in datasets:
        batches = list(dataset.as_numpy_iterator())
        assert [len(batch_labels) for _, batch_labels in batches] == [2, 2, 2]
        assert len(batches) == steps
        for batch_images, batch_labels in batches:
            rows = batch_images[:, 0, 0, 0].astype(int)
            np.testing.assert_array_equal(batch_labels[:, 0], rows % 2)  # images stay with their labels
            seen.extend(rows.tolist())
    assert sorted(set(seen)) == list(range(count)) and len(seen) == 12


def test_train_help_names_the_scaling_flags():
    result = CliRunner().invoke(train_main, ["--help"])
    assert result.exit_code == 0
    for flag in ("--strategy", "[default|mirrored|multiworker]", "--batch-size", "--cache [memory|disk]",
                 "--cache-dir"):
        assert flag in result.output


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def write_tiny_folder(root: Path, *, per_class: int = 12) -> Path:
    rng = np.random.default_rng(3)
    for label, name in enumerate(("cats", "dogs")):
        (root / name).mkdir(parents=True)
        for index in range(per_class):
            pixels = np.clip(rng.normal(70 + 110 * label, 25, (64, 64, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(root / name / f"{name}_{index:02d}.png")
    return root


@pytest.mark.tf
def test_two_workers_on_loopback_train_one_epoch(tmp_path):
    data = write_tiny_folder(tmp_path / "photos")
    ports = free_ports(2)
    cluster = {"worker": [f"127.0.0.1:{port}" for port in ports]}
    processes, logs = [], []
    for index in range(2):
        temp = tmp_path / f"tmp{index}"
        temp.mkdir()
        env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "TMPDIR": str(temp), "TF_CPP_MIN_LOG_LEVEL": "2",
               "TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})}
        log = open(tmp_path / f"worker{index}.log", "w")
        logs.append(log)
        processes.append(subprocess.Popen(
            [sys.executable, "-m", "catdog.train.cli", "--data", str(data), "--out", str(tmp_path / f"out{index}"),
             "--strategy", "multiworker", "--epochs", "1", "--batch-size", "8", "--cache", "disk"],
            env=env, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT))
    deadline = time.monotonic() + 240
    try:
        for process in processes:
            process.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
        for log in logs:
            log.close()
    outputs = [(tmp_path / f"worker{index}.log").read_text() for index in range(2)]
    for process, output in zip(processes, outputs):
        assert process.returncode == 0, output[-3000:]
        assert "2 worker(s), 2 replica(s), global batch 8, per-replica batch 4" in output

    # Both workers log the same epoch metrics: they are aggregated over every replica.
    epoch_lines = [re.search(r"val loss [0-9.]+, val accuracy [0-9.]+%", output).group(0) for output in outputs]
    assert epoch_lines[0] == epoch_lines[1]

    chief_out, worker_out = tmp_path / "out0", tmp_path / "out1"
    card = json.loads((chief_out / "card.json").read_text())
    assert (card["strategy"], card["workers"], card["replicas"], card["per_replica_batch_size"]) == \
        ("multiworker", 2, 2, 4)
    assert (chief_out / "checkpoint" / "best.weights.h5").exists()
    assert not worker_out.exists(), "a non-chief worker must not write to --out"
    assert list((tmp_path / "tmp1").iterdir()) == [], "the worker's temporary folder must be removed"

    import keras

    model = keras.models.load_model(chief_out / "model.keras")
    prediction = model.predict(np.zeros((1, 64, 64, 3), np.float32), verbose=0)
    assert prediction.shape == (1, 1) and 0.0 <= float(prediction[0, 0]) <= 1.0
