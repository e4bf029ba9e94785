"""The seed's MiniResNet, rebuilt in Keras 3 with the seed's bugs fixed.

Departures from the seed notebook ("Intento 8 - Mini ResNet"), and why:

* The seed's basic block returned `out3`, the output of the second conv's BN, so the last
  residual add and ReLU were computed and thrown away: the "ResNet" had no residuals at all.
  Here every block returns relu(bn(conv(x)) + shortcut(x)).
* The seed's 64-filter stage never strided and cropped its shortcut to hide the mismatched
  shapes. Here the first block of that stage strides by 2 and its shortcut is a strided 1x1
  projection, as in He et al. (2016).
* Scaling to 0..1 is a `Rescaling` layer inside the model, so every exported model takes raw
  0..255 pixels and the runtime never has to guess the pixel range.

The parameter count is the seed's: 265,665 in all, 1,216 of them (the BN moving statistics)
non-trainable. The stem keeps the seed's Keras defaults (a `valid` 5x5/2 conv and a 3x3 pool
with stride 3), so a 64x64 input becomes 30x30, then 10x10 in stage one and 5x5 in stage two:
12.8 M multiply-adds per image.

The network is fully convolutional up to its global average pool, so any input size keeps
the same weights; the smallest is 9x9, where the stem's 5x5/2 conv and 3x3/3 pool leave one
pixel. Two classes keep the seed's single sigmoid unit (P(labels[1])); K > 2 classes get a
K-unit softmax head, which adds 65 * (K - 1) parameters.
"""

from __future__ import annotations

PARAMETER_COUNT = 265_665
NON_TRAINABLE_COUNT = 1_216
# The stem: a valid 5x5 conv with stride 2 (n -> (n - 5) // 2 + 1), then a valid 3x3 pool
# with stride 3, which needs at least 3 pixels: (n - 5) // 2 + 1 >= 3 holds from n = 9.
MIN_IMAGE_SIZE = 9


def _basic_block(x, *, filters: int, stride: int, name: str):
    """conv-BN-ReLU, conv-BN, add the (projected) shortcut, ReLU."""
    import keras
    from keras import layers

    shortcut = x
    y = layers.Conv2D(filters, 3, strides=stride, padding="same", name=f"{name}_conv1")(x)
    y = layers.BatchNormalization(name=f"{name}_bn1")(y)
    y = layers.ReLU(name=f"{name}_relu1")(y)
    y = layers.Conv2D(filters, 3, padding="same", name=f"{name}_conv2")(y)
    y = layers.BatchNormalization(name=f"{name}_bn2")(y)
    if stride != 1 or keras.ops.shape(x)[-1] != filters:
        # The seed's parameter count has a biased 1x1 projection here and no BN after it.
        shortcut = layers.Conv2D(filters, 1, strides=stride, name=f"{name}_project")(x)
    y = layers.Add(name=f"{name}_add")([y, shortcut])
    return layers.ReLU(name=f"{name}_out")(y)


def build_model(*, image_size: tuple[int, int], num_classes: int = 2, seed: int | None = None):
    """Return the uncompiled MiniResNet functional model.

    Input: (N, height, width, 3) raw RGB pixels in 0..255 (float or integer valued).
    Output: (N, 1) P(class 1) from a sigmoid unit when `num_classes` is 2, else (N, K)
    softmax probabilities in class order. Raises ValueError for fewer than 2 classes or an
    image side below MIN_IMAGE_SIZE.
    """
    import keras
    from keras import layers

    if num_classes < 2:
        raise ValueError(f"a classifier needs at least 2 classes, got {num_classes}")
    if min(image_size) < MIN_IMAGE_SIZE:
        raise ValueError(f"the MiniResNet needs images of at least {MIN_IMAGE_SIZE}x{MIN_IMAGE_SIZE}, got {image_size}")
    if seed is not None:
        keras.utils.set_random_seed(seed)
    height, width = image_size
    inputs = keras.Input(shape=(height, width, 3), name="image")
    x = layers.Rescaling(1.0 / 255.0, name="rescale")(inputs)
    x = layers.Conv2D(32, 5, strides=2, name="stem_conv")(x)
    x = layers.BatchNormalization(name="stem_bn")(x)
    x = layers.ReLU(name="stem_relu")(x)
    x = layers.MaxPooling2D(3, name="stem_pool")(x)
    for index in range(3):
        x = _basic_block(x, filters=32, stride=1, name=f"stage1_block{index + 1}")
    for index in range(3):
        x = _basic_block(x, filters=64, stride=2 if index == 0 else 1, name=f"stage2_block{index + 1}")
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    if num_classes == 2:
        outputs = layers.Dense(1, activation="sigmoid", name="probability")(x)
    else:
        outputs = layers.Dense(num_classes, activation="softmax", name="probabilities")(x)
    return keras.Model(inputs, outputs, name="mini_resnet")
