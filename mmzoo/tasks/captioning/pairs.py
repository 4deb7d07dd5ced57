"""Captioning data: which captions of an image train a step, and the feature-cache split.

A caption data set yields `{"image", "captions": [B, C] strings}` (or `"caption": [B]`).
Training draws `count` of each image's C captions per step (stateless, from a seed that
changes every epoch); validation and evaluation use all of them. With a frozen image
backbone the cache keeps each image's grid once, beside all of its captions, and the
same draw happens on the cached grids every epoch.

>>> images, captions = caption_rows(inputs, count=1, training=True, seed=seed)
>>> extractor, head = captioner_split(model)    # or (None, reason)
"""

import keras
import tensorflow as tf

from mmzoo.tasks.feature_cache import frozen_tower_cut


def captions_of(inputs):
    """`[B, C]` caption strings of a batch `{"image", "captions" | "caption"}`."""
    if "captions" in inputs:
        return inputs["captions"]
    if "caption" in inputs and inputs["caption"].dtype == tf.string:
        return inputs["caption"][:, None]
    raise ValueError(
        "Captioning data sets yield {'image', 'captions': strings [B, C]} or "
        f"{{'image', 'caption': strings [B]}}; received keys {sorted(inputs)}.")


def choose_captions(captions, count, training=False, seed=None):
    """Captions `[B, C]` -> those used: all C, or in training `count` of each row drawn
    at random without replacement (stateless, from `seed`): `[B, count]`."""
    if training and count < captions.shape[-1]:
        noise = tf.random.stateless_uniform(tf.shape(captions), seed=seed)
        order = tf.argsort(noise, axis=1)[:, :count]
        captions = tf.gather(captions, order, batch_dims=1)
    return captions


def caption_rows(images, captions, count, training=False, seed=None):
    """Rows `images` `[B, ...]` and captions `[B, C]` -> `(images [N, ...], captions
    [N])`, one row per caption used (see `choose_captions`)."""
    captions = choose_captions(captions, count, training, seed)
    images = tf.repeat(images, tf.shape(captions)[1], axis=0)
    return images, tf.reshape(captions, [-1])


class _RowsPerCaption(keras.layers.Layer):
    """(memory `[B, R, F]`, caption ids `[B, k, T]`) -> (memory repeated k times
    `[B * k, R, F]`, ids `[B * k, T]`): the grid is projected once per image, not once
    per caption. Only inside the head (never saved)."""

    def call(self, memory, ids):
        rows = tf.repeat(memory, tf.shape(ids)[1], axis=0)
        return rows, tf.reshape(ids, [-1, tf.shape(ids)[2]])

    def compute_output_spec(self, memory, ids):
        return (keras.KerasTensor((None, *memory.shape[1:]), memory.dtype),
                keras.KerasTensor((None, ids.shape[2]), ids.dtype))


def captioner_split(model):
    """`(extractor, head)` of a `Captioner` with a frozen image backbone: the extractor
    maps pixels to the backbone's grid (cut inside the image encoder); the head maps
    `(grids [B, R, C], caption ids [B, k, T])` (k captions of each image) to the logits
    `[B * k, T, vocab]` with the encoder's projection (and blocks) and the decoder.
    `(None, reason)` when the backbone trains or augmentation (random flips before the
    backbone) is on."""
    encoder = model.image_encoder
    if encoder.get_layer("image_backbone").trainable:
        return None, "the image backbone is trainable (see mmzoo.freeze_backbones)"
    if model.get_config()["augment"]:
        return None, "augment=True flips the images before the frozen backbone"
    extractor, tail = frozen_tower_cut(encoder, "image_backbone")
    grid_spec = tail.inputs[0]
    grid = keras.Input(grid_spec.shape[1:], dtype=grid_spec.dtype, name="image_features")
    captions = keras.Input((None, None), dtype="int32", name="captions")
    memory, ids = _RowsPerCaption(name="rows_per_caption")(_single(tail([grid])),
                                                           captions)
    logits = model.caption_decoder(ids, memory)
    return extractor, keras.Model([grid, captions], logits, name=f"{model.name}_head")


def _single(outputs):
    """The one output of a cut tower, returned as a tensor or a list of one."""
    return keras.tree.flatten(outputs)[0]
