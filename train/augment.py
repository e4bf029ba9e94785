"""Per-epoch augmentation on cached uint8 tensors, reproducible from one seed.

Each batch draws one random geometric transform per image plus brightness and contrast
jitter. The geometry is either the affine warp (horizontal flip, zoom, shear, rotation,
shift) or, with `crop_area` > 0, a random-resized crop (Szegedy et al. 2015, "Going deeper
with convolutions", as in torchvision's RandomResizedCrop): a box of a random share of the
image's area and aspect ratio, at a random place, resized to the model's input, plus the
flip and any rotation and shear. Both are one projective transform from the cached image to
the output size, so a cache decoded larger than the model's input (`--cache-size`) gives
sharper crops than upsampling a model-sized image would. Sampled straight at the output size,
those crops are sharper (aliased) than the runtime's Pillow-resized photos; with `antialias`
each crop is sampled at the cache's resolution and shrunk by an antialiasing filter instead.

With `mixup` > 0, each augmented batch is then blended with itself in reverse order (Zhang et
al. 2018, "mixup: Beyond empirical risk minimization"; the batch-reversal pairing is timm's):
one weight per batch, drawn from Beta(mixup, mixup), mixes both the images and their targets.
A distillation teacher sees the mixed images too, so its targets match what the student sees.

Randomness comes from stateless ops seeded by a `tf.data` random stream, so the same seed
gives the same augmented batches on every run. The seed notebook's ImageDataGenerator used
shear 0.2 (in degrees), zoom 0.2 and flips; the ranges here are at least that strong.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

# The random-resized crop's aspect ratios (width / height), drawn log-uniformly: torchvision's
# RandomResizedCrop default.
CROP_ASPECT_RATIOS = (3.0 / 4.0, 4.0 / 3.0)


@dataclass(frozen=True)
class Augmentation:
    """Ranges of the random transforms (0 disables one)."""

    flip: bool = True
    zoom: float = 0.2  # scale drawn from [1 - zoom, 1 + zoom] on each axis (warp only)
    shear: float = 0.2  # radians
    rotation: float = 15.0  # degrees
    shift: float = 0.1  # fraction of the image size (warp only)
    brightness: float = 0.2  # multiplicative, [1 - b, 1 + b]
    contrast: float = 0.2  # around the image mean, [1 - c, 1 + c]
    crop_area: float = 0.0  # > 0: random-resized crops of [crop_area, 1] of the area instead of zoom and shift
    mixup: float = 0.0  # > 0: mixup with a Beta(mixup, mixup) weight per batch
    antialias: bool = False  # shrink crops from a larger cache with an antialiasing filter


def augment_batch(images, seed, *, augmentation: Augmentation, output_size: tuple[int, int] | None = None,
                  teacher_sizes: tuple[tuple[int, int], ...] | None = None):
    """Warp or crop, and colour-jitter, a (B, h, w, 3) float batch in 0..255 with stateless randomness.

    Returns a (B, H, W, 3) float32 batch in 0..255, where (H, W) is `output_size` (default: the
    input's own size). With `teacher_sizes` it returns a pair: that batch and a tuple of the same
    crops, flips and colours sampled at each of `teacher_sizes`, for distillation teachers of
    other input sizes. `seed` is a (2,) int64 tensor.
    """
    import tensorflow as tf

    batch = tf.shape(images)[0]
    height = tf.cast(tf.shape(images)[1], tf.float32)
    width = tf.cast(tf.shape(images)[2], tf.float32)
    seeds = tf.random.experimental.stateless_split(seed, num=8)

    def uniform(index, low, high, fold=None):
        stream = seeds[index] if fold is None else tf.random.experimental.stateless_fold_in(seeds[index], fold)
        return tf.random.stateless_uniform([batch], stream, minval=low, maxval=high)

    flip = tf.where(uniform(0, 0.0, 1.0) < 0.5, -1.0, 1.0) if augmentation.flip else tf.ones([batch])
    shear = uniform(3, -augmentation.shear, augmentation.shear)
    angle = uniform(4, -1.0, 1.0) * (augmentation.rotation * math.pi / 180.0)
    if augmentation.crop_area > 0:
        # A box of `area` of the image with aspect ratio `ratio`, clipped to the image, centred
        # anywhere it fits. Its side fractions are the inverse zooms of the warp.
        area = uniform(1, augmentation.crop_area, 1.0)
        low, high = (math.log(ratio) for ratio in CROP_ASPECT_RATIOS)
        ratio = tf.exp(uniform(2, low, high))
        box_x = tf.minimum(1.0, tf.sqrt(area * ratio))
        box_y = tf.minimum(1.0, tf.sqrt(area / ratio))
        inverse_zoom_x, inverse_zoom_y = box_x, box_y
        shift_x = uniform(5, -1.0, 1.0) * (1.0 - box_x) / 2.0 * width
        shift_y = uniform(6, -1.0, 1.0) * (1.0 - box_y) / 2.0 * height
    else:
        inverse_zoom_x = 1.0 / uniform(1, 1.0 - augmentation.zoom, 1.0 + augmentation.zoom)
        inverse_zoom_y = 1.0 / uniform(2, 1.0 - augmentation.zoom, 1.0 + augmentation.zoom)
        shift_x = uniform(5, -augmentation.shift, augmentation.shift) * width
        shift_y = uniform(6, -augmentation.shift, augmentation.shift) * height
    brightness = uniform(7, 1.0 - augmentation.brightness, 1.0 + augmentation.brightness)
    contrast = uniform(7, 1.0 - augmentation.contrast, 1.0 + augmentation.contrast, fold=1)
    cos, sin = tf.cos(angle), tf.sin(angle)
    tan = tf.tan(shear)  # shear along x: [[1, tan(shear)], [0, 1]]
    cx_in, cy_in = (width - 1.0) / 2.0, (height - 1.0) / 2.0

    def sample(size):
        oversample = 1
        if size is None:
            output_shape, out_height, out_width = tf.shape(images)[1:3], height, width
        else:
            output_shape = tf.constant(size, dtype=tf.int32)
            out_height, out_width = float(size[0]), float(size[1])
            if augmentation.antialias:
                # The whole factor by which the cache is larger than the output (static shapes).
                oversample = max(1, math.ceil(max(images.shape[1] / size[0], images.shape[2] / size[1]) - 1e-6))
        out_height, out_width = out_height * oversample, out_width * oversample
        # The transform maps each output pixel to the input pixel it samples, about the centres:
        # input = R(angle) @ Shear @ diag(flip * sx, sy) @ (output - c_out) + c_in + shift, where
        # sx, sy are the inverse zooms times the input-to-output size ratio.
        sx = flip * inverse_zoom_x * (width / out_width)
        sy = inverse_zoom_y * (height / out_height)
        a00, a01 = cos * sx, (cos * tan - sin) * sy
        a10, a11 = sin * sx, (sin * tan + cos) * sy
        cx_out, cy_out = (out_width - 1.0) / 2.0, (out_height - 1.0) / 2.0
        b0 = cx_in - a00 * cx_out - a01 * cy_out + shift_x
        b1 = cy_in - a10 * cx_out - a11 * cy_out + shift_y
        zeros = tf.zeros([batch])
        transforms = tf.stack([a00, a01, b0, a10, a11, b1, zeros, zeros], axis=1)
        warped = tf.raw_ops.ImageProjectiveTransformV3(
            images=images, transforms=transforms, output_shape=output_shape * oversample,
            fill_value=0.0, interpolation="BILINEAR", fill_mode="REFLECT")
        if oversample > 1:
            # Bilinear sampling straight to a smaller size skips pixels (aliasing); Pillow's
            # resize, which makes the runtime's inputs, filters them. Sampling at the cache's
            # resolution and shrinking with tf.image.resize's antialiasing (triangle) filter, the
            # same filter as Pillow's BILINEAR, makes the crops as smooth as the runtime's images.
            warped = tf.image.resize(warped, output_shape, method="bilinear", antialias=True)
        mean = tf.reduce_mean(warped, axis=[1, 2, 3], keepdims=True)
        warped = (warped - mean) * contrast[:, None, None, None] + mean * brightness[:, None, None, None]
        return tf.clip_by_value(warped, 0.0, 255.0)

    if teacher_sizes is None:
        return sample(output_size)
    sampled = {tuple(size): sample(tuple(size)) for size in teacher_sizes}  # teachers of one size share crops
    return sample(output_size), tuple(sampled[tuple(size)] for size in teacher_sizes)


def mix_batch(images, targets, seed, *, alpha: float):
    """Mixup: blend a batch with itself reversed, by one weight lam ~ Beta(alpha, alpha).

    `images` is a (B, H, W, 3) float batch, or a nested tuple of such batches (the student's and
    the teachers' crops of the same photos), all mixed with the same lam; `targets` is (B, 1) or
    (B, K) float. Returns them as lam * x + (1 - lam) * reverse(x). `seed` is a (2,) int64 tensor.
    Beta is drawn as G1 / (G1 + G2) with G1, G2 ~ Gamma(alpha), both stateless.
    """
    import tensorflow as tf

    seeds = tf.random.experimental.stateless_split(seed, num=2)
    first = tf.random.stateless_gamma([], seeds[0], alpha=alpha)
    second = tf.random.stateless_gamma([], seeds[1], alpha=alpha)
    lam = first / (first + second)

    def mix(batch):
        return lam * batch + (1.0 - lam) * tf.reverse(batch, axis=[0])

    return tf.nest.map_structure(mix, images), mix(targets)


def make_dataset(images, labels, *, batch_size: int, seed: int, augmentation: Augmentation | None,
                 num_classes: int = 2, output_size: tuple[int, int] | None = None, distillation=None):
    """A tf.data pipeline over cached arrays: shuffled and augmented when `augmentation` is set.

    `images` is (N, h, w, 3) uint8, `labels` (N,) class indices. Each element is a float32
    (B, H, W, 3) batch in 0..255 (augmentation samples (h, w) down to `output_size` = (H, W),
    default (h, w)) with its targets: (B, 1) class indices for two classes (the sigmoid head's
    binary targets), else (B, K) one-hot rows for the softmax head. With `distillation` (a
    `catdog.train.distill.Distillation`, which needs augmentation) the targets are mixed with
    the teacher's probabilities for the same crops (see `distill.soft_targets`).
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
    if augmentation is None and output_size not in (None, (height, width)):
        raise ValueError(f"images of {height}x{width} need augmentation to become {output_size}")
    if distillation is not None and augmentation is None:
        raise ValueError("distillation needs augmentation, which draws the teacher's crops")
    if augmentation is not None:
        randomness = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)
        teacher_sizes = distillation.image_sizes if distillation is not None else None

        def transform(pair, seed_pair):
            batch = augment_batch(pair[0], seed_pair, augmentation=augmentation, output_size=output_size,
                                  teacher_sizes=teacher_sizes)
            if augmentation.mixup > 0:
                # Its own stream, folded from the batch's seed, so mixup leaves the crops unchanged.
                mix_seed = tf.random.experimental.stateless_fold_in(seed_pair, 1)
                return mix_batch(batch, pair[1], mix_seed, alpha=augmentation.mixup)
            return batch, pair[1]

        dataset = tf.data.Dataset.zip((dataset, randomness)).map(
            transform, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    if distillation is not None:
        # One batch at a time: the teacher's own ops already use every core.
        dataset = dataset.map(lambda pair, targets: (pair[0], distillation.soft_targets(pair[1], targets)))
        # tf.data's autotuner does not see the teachers' convolutions competing with the training
        # step for the same cores: with it on, whole epochs here ran at 40 s instead of 21 s about
        # one time in three (2 cores; the teacher ensemble of the shipped default). Off, the maps keep
        # their fixed parallelism and every epoch took 21-22 s. It changes speed only, not values.
        options = tf.data.Options()
        options.autotune.enabled = False
        dataset = dataset.with_options(options)
    return dataset.prefetch(tf.data.AUTOTUNE)
