"""Per-epoch augmentation on cached uint8 tensors, reproducible from one seed.

Each batch draws one random affine warp per image (horizontal flip, zoom, shear, rotation,
shift) plus brightness and contrast jitter. Randomness comes from stateless ops seeded by a
`tf.data` random stream, so the same seed gives the same augmented batches on every run.
The seed notebook's ImageDataGenerator used shear 0.2 (in degrees), zoom 0.2 and flips; the
ranges here are at least that strong.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Augmentation:
    """Ranges of the random transforms (0 disables one)."""

    flip: bool = True
    zoom: float = 0.2  # scale drawn from [1 - zoom, 1 + zoom] on each axis
    shear: float = 0.2  # radians
    rotation: float = 15.0  # degrees
    shift: float = 0.1  # fraction of the image size
    brightness: float = 0.2  # multiplicative, [1 - b, 1 + b]
    contrast: float = 0.2  # around the image mean, [1 - c, 1 + c]


def augment_batch(images, seed, *, augmentation: Augmentation):
    """Warp and colour-jitter a (B, H, W, 3) float batch in 0..255 with stateless randomness."""
    import tensorflow as tf

    batch = tf.shape(images)[0]
    height = tf.cast(tf.shape(images)[1], tf.float32)
    width = tf.cast(tf.shape(images)[2], tf.float32)
    seeds = tf.random.experimental.stateless_split(seed, num=8)

    def uniform(index, low, high):
        return tf.random.stateless_uniform([batch], seeds[index], minval=low, maxval=high)

    flip = tf.where(uniform(0, 0.0, 1.0) < 0.5, -1.0, 1.0) if augmentation.flip else tf.ones([batch])
    zoom_x = uniform(1, 1.0 - augmentation.zoom, 1.0 + augmentation.zoom)
    zoom_y = uniform(2, 1.0 - augmentation.zoom, 1.0 + augmentation.zoom)
    shear = uniform(3, -augmentation.shear, augmentation.shear)
    angle = uniform(4, -1.0, 1.0) * (augmentation.rotation * math.pi / 180.0)
    shift_x = uniform(5, -augmentation.shift, augmentation.shift) * width
    shift_y = uniform(6, -augmentation.shift, augmentation.shift) * height

    # The transform maps each output pixel to the input pixel it samples: about the centre,
    # input = R(angle) @ Shear @ diag(flip / zoom_x, 1 / zoom_y) @ output + shift.
    cos, sin = tf.cos(angle), tf.sin(angle)
    sx, sy = flip / zoom_x, 1.0 / zoom_y
    # Shear along x: [[1, tan(shear)], [0, 1]].
    tan = tf.tan(shear)
    a00, a01 = cos * sx, (cos * tan - sin) * sy
    a10, a11 = sin * sx, (sin * tan + cos) * sy
    cx, cy = (width - 1.0) / 2.0, (height - 1.0) / 2.0
    b0 = cx - a00 * cx - a01 * cy + shift_x
    b1 = cy - a10 * cx - a11 * cy + shift_y
    zeros = tf.zeros([batch])
    transforms = tf.stack([a00, a01, b0, a10, a11, b1, zeros, zeros], axis=1)
    images = tf.raw_ops.ImageProjectiveTransformV3(
        images=images, transforms=transforms, output_shape=tf.shape(images)[1:3],
        fill_value=0.0, interpolation="BILINEAR", fill_mode="REFLECT")

    brightness = uniform(7, 1.0 - augmentation.brightness, 1.0 + augmentation.brightness)
    contrast_seed = tf.random.experimental.stateless_fold_in(seeds[7], 1)
    contrast = tf.random.stateless_uniform([batch], contrast_seed,
                                           minval=1.0 - augmentation.contrast, maxval=1.0 + augmentation.contrast)
    mean = tf.reduce_mean(images, axis=[1, 2, 3], keepdims=True)
    images = (images - mean) * contrast[:, None, None, None] + mean * brightness[:, None, None, None]
    return tf.clip_by_value(images, 0.0, 255.0)


def make_dataset(images, labels, *, batch_size: int, seed: int, augmentation: Augmentation | None,
                 num_classes: int = 2):
    """A tf.data pipeline over cached arrays: shuffled and augmented when `augmentation` is set.

    `images` is (N, H, W, 3) uint8, `labels` (N,) class indices. Each element is a float32
    (B, H, W, 3) batch in 0..255 with its targets: (B, 1) class indices for two classes (the
    sigmoid head's binary targets), else (B, K) one-hot rows for the softmax head.
    Batches are gathered by index from the (possibly memory-mapped) array, so a disk cache is
    never read into memory whole.
    """
    import numpy as np
    import tensorflow as tf

    count = len(labels)
    height, width = images.shape[1:3]
    indices = tf.data.Dataset.range(count)
    if augmentation is not None:
        indices = indices.shuffle(count, seed=seed, reshuffle_each_iteration=True)

    def gather(batch_indices):
        order = np.sort(batch_indices)  # sorted reads are kinder to a memory-mapped cache
        return np.asarray(images[order], dtype=np.float32), np.asarray(labels[order], dtype=np.float32)

    def load(batch_indices):
        batch_images, batch_labels = tf.numpy_function(gather, [batch_indices], [tf.float32, tf.float32])
        batch_images.set_shape([None, height, width, 3])
        batch_labels.set_shape([None])
        if num_classes == 2:
            return batch_images, batch_labels[:, None]
        return batch_images, tf.one_hot(tf.cast(batch_labels, tf.int32), num_classes)

    dataset = indices.batch(batch_size).map(load)
    if augmentation is not None:
        randomness = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)
        dataset = tf.data.Dataset.zip((dataset, randomness)).map(
            lambda pair, seed_pair: (augment_batch(pair[0], seed_pair, augmentation=augmentation), pair[1]),
            num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return dataset.prefetch(tf.data.AUTOTUNE)
