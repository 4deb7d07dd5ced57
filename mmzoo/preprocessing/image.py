"""Images: encoded bytes, file paths or arrays -> float32 RGB `[H, W, 3]` in 0..255.

Decoding runs in TensorFlow ops, so the same code serves Python pipelines and the
exported SavedModel. Grayscale images are repeated to 3 channels and alpha is dropped.

>>> decode_image(tf.io.read_file("cat.png"), size=64).shape  # (64, 64, 3)
>>> load_images(["cat.png", np.zeros((28, 28))], size=64).shape  # (2, 64, 64, 3)
"""

import functools
import os

import numpy as np
import tensorflow as tf

from mmzoo.preprocessing.batch import as_items, read_file, tf_error_message


# The first bytes of the formats tf.io.decode_image reads.
_IMAGE_SIGNATURES = (b"\x89PNG", b"\xff\xd8\xff", b"GIF8", b"BM")


def decode_image(data, size=None, name="image"):
    """Decodes PNG/JPEG/GIF/BMP bytes to float32 RGB, resized to `size` x `size` if given.

    Raises `tf.errors.InvalidArgumentError` naming input `name` for empty or non-image
    bytes.
    """
    data = tf.convert_to_tensor(data, dtype=tf.string)
    not_empty = tf.debugging.Assert(tf.strings.length(data) > 0,
                                    [f"Input `{name}`: image bytes are empty"])
    known = tf.reduce_any([tf.equal(tf.strings.substr(data, 0, len(signature)), signature)
                           for signature in _IMAGE_SIGNATURES])
    is_image = tf.debugging.Assert(tf.logical_or(tf.strings.length(data) == 0, known), [
        f"Input `{name}` is not a PNG, JPEG, GIF or BMP image (unknown image file format)"])
    # In a graph nothing orders the checks before the decode, whose own errors would
    # otherwise win some of the time.
    with tf.control_dependencies([not_empty, is_image]):
        image = tf.io.decode_image(data, channels=3, expand_animations=False)
    image = tf.cast(image, tf.float32)
    image.set_shape((None, None, 3))
    if size is not None:
        image = resize(image, size)
    return image


def decode_images(data, size, name="image"):
    """Graph batch version of `decode_image`: encoded bytes `[B]` -> float32
    `[B, size, size, 3]` (the raw-input serving endpoints use it).

    >>> decode_images(tf.constant([png_bytes, jpeg_bytes]), 64).shape  # (2, 64, 64, 3)
    """
    return tf.map_fn(lambda item: decode_image(item, size, name), data,
                     fn_output_signature=tf.TensorSpec((size, size, 3), tf.float32))


def resize(image, size):
    """Bilinear resize to `size` x `size`, float32 (exact copy when already that size)."""
    return tf.image.resize(tf.cast(image, tf.float32), (size, size))


def to_rgb(array, name="image"):
    """A numpy image `[H, W]`, `[H, W, 1]`, `[H, W, 3]` or `[H, W, 4]` as float32 RGB."""
    array = np.asarray(array)
    if array.dtype.kind not in "uif" or array.dtype == np.bool_:
        raise ValueError(
            f"'{name}' must hold numeric pixels, received dtype {array.dtype}."
        )
    if array.ndim == 2:
        array = array[..., None]
    if array.ndim != 3 or array.shape[-1] not in (1, 3, 4) or 0 in array.shape:
        raise ValueError(
            f"'{name}' must be an image of shape [H, W], [H, W, 1], [H, W, 3] or "
            f"[H, W, 4]; received shape {array.shape}."
        )
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        raise ValueError(f"'{name}' holds NaN or infinite pixel values; expected 0..255.")
    if array.shape[-1] == 1:
        array = np.repeat(array, 3, axis=-1)
    return array[..., :3].astype(np.float32)


@functools.cache
def compiled_decoder(size):
    """`decode_image(data, size)` traced once (eagerly its ops cost ~1.5 ms)."""
    return tf.function(lambda data: decode_image(data, size),
                       input_signature=[tf.TensorSpec((), tf.string)])


def load_image(image, size=None, name="image"):
    """One image from a path, encoded bytes or an array -> float32 `[H, W, 3]` numpy."""
    if isinstance(image, (str, os.PathLike)):
        image = read_file(image, name, "image")
    if isinstance(image, bytes):
        try:
            return compiled_decoder(size)(image).numpy()
        except tf.errors.InvalidArgumentError as error:
            raise ValueError(
                f"'{name}' could not be decoded as an image "
                f"({len(image)} bytes): {tf_error_message(error)}"
            ) from None
    array = to_rgb(image, name)
    return array if size is None else resize(array, size).numpy()


def load_images(images, size, name="image"):
    """A batch `[B, size, size, 3]` from one image or a list of paths/bytes/arrays."""
    return np.stack([load_image(image, size, name) for image in as_items(images, 4, name)])
