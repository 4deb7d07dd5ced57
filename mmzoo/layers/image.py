"""Image backbones' first layers: resizing and pixel normalisation (inputs are raw
0..255 RGB)."""

import keras
from keras import ops

_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)
_CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)

PIXEL_MODES = ("unit", "symmetric", "torch", "caffe", "lite", "raw")


@keras.saving.register_keras_serializable(package="mmzoo")
class PixelNormalization(keras.layers.Layer):
    """Maps 0..255 RGB pixels to what a backbone expects.

    Modes: `unit` -> [0, 1]; `symmetric` -> [-1, 1] (MobileNetV2, ViT);
    `torch` -> ImageNet mean/std; `caffe` -> BGR minus the ImageNet mean (ResNet50);
    `lite` -> (x - 127) / 128 (EfficientNet-Lite's TensorFlow release); `raw` -> unchanged
    (keras.applications' EfficientNet normalises inside itself).

    >>> PixelNormalization("symmetric")(np.full((1, 2, 2, 3), 255.0))  # all 1.0
    """

    def __init__(self, mode="unit", **kwargs):
        super().__init__(**kwargs)
        if mode not in PIXEL_MODES:
            raise ValueError(f"mode must be one of {PIXEL_MODES}, received {mode!r}.")
        self.mode = mode

    def call(self, images):
        images = ops.cast(images, self.compute_dtype)
        if self.mode == "unit":
            return images / 255.0
        if self.mode == "symmetric":
            return images / 127.5 - 1.0
        if self.mode == "torch":
            mean = ops.array(_IMAGENET_MEAN, dtype=self.compute_dtype)
            std = ops.array(_IMAGENET_STD, dtype=self.compute_dtype)
            return (images / 255.0 - mean) / std
        if self.mode == "lite":
            return (images - 127.0) / 128.0
        if self.mode == "caffe":
            return ops.flip(images, axis=-1) - ops.array(
                _CAFFE_MEAN_BGR, dtype=self.compute_dtype
            )
        return images

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "mode": self.mode}


@keras.saving.register_keras_serializable(package="mmzoo")
class Resize(keras.layers.Resizing):
    """`keras.layers.Resizing` whose call is inference unless told otherwise.

    Keras' image preprocessing layers default to `training=True`, and a layer that
    resolves `training` from its own default hands that value to every layer called
    after it: a plain `model(x)` would then run BatchNorm on batch statistics (moving
    its averages) and dropout. Resizing does the same either way.

    >>> Resize(64, 64)(np.zeros((2, 32, 48, 3))).shape   # (2, 64, 64, 3)
    """

    def call(self, data, training=None):
        return super().call(data, training=False)
