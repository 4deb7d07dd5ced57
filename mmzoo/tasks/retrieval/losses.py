"""Contrastive objectives for image-text dual encoders (CLIP's InfoNCE, SigLIP's sigmoid).

Both losses take a similarity-logits matrix `[B, B]` (row i: image i against every
text of the batch) and the batch's pair ids `[B]`: image i and text j are a positive
pair when `ids[i] == ids[j]`, so a batch that holds the same image twice has two
positives per row instead of a false negative. Without ids (`y_true=None` in
`contrastive_loss`), the diagonal is positive. Logits are cast to float32 and every
exponential goes through a log-sum-exp or `log_sigmoid`, so the losses stay finite
under `mixed_float16` whatever the size of the logits.

`ContrastiveLogits` makes the logits: `scale * a @ b^T (+ bias)` with a learnable
temperature (CLIP: scale 1/0.07, clamped at 100; SigLIP: scale 10, bias -10).

>>> logits = ContrastiveLogits(init_scale=1 / 0.07)(image_embeddings, text_embeddings)
>>> InfoNCE()(keras.ops.arange(4), logits)          # symmetric cross-entropy, scalar
>>> SigmoidPairwise()(keras.ops.arange(4), logits)  # -1/B sum_ij log sigmoid(z_ij l_ij)
"""

import math

import keras
import tensorflow as tf
from keras import ops


def positive_mask(ids, num_rows, num_cols):
    """`[rows, cols]` float32: 1 where row i and column j are a pair (`ids` equal).

    With `ids` None the diagonal is positive (the usual one-pair-per-row batch).
    """
    if ids is None:
        return ops.eye(num_rows, num_cols, dtype="float32")
    ids = ops.reshape(ids, (-1,))
    return ops.cast(ops.equal(ops.expand_dims(ids, 1), ops.expand_dims(ids, 0)), "float32")


def _soft_cross_entropy(targets, logits):
    """Per-row cross-entropy against target rows normalised to sum to one."""
    targets = targets / ops.maximum(ops.sum(targets, axis=-1, keepdims=True), 1.0)
    return -ops.sum(targets * ops.log_softmax(logits, axis=-1), axis=-1)


def info_nce(ids, logits):
    """Per-pair symmetric InfoNCE (CLIP): mean of image->text and text->image
    cross-entropies; rows with several positives spread the target evenly over them.

    ids: `[B]` pair ids or None (diagonal positives); logits: `[B, B]`.
    Returns `[B]` float32 losses.
    """
    logits = ops.cast(logits, "float32")
    mask = positive_mask(ids, ops.shape(logits)[0], ops.shape(logits)[1])
    image_to_text = _soft_cross_entropy(mask, logits)
    text_to_image = _soft_cross_entropy(ops.transpose(mask), ops.transpose(logits))
    return 0.5 * (image_to_text + text_to_image)


def sigmoid_pairwise(ids, logits):
    """Per-row pairwise sigmoid loss (SigLIP, Zhai et al. 2023):
    `-sum_j log sigmoid(z_ij * logits_ij)`, z = +1 for pairs and -1 otherwise; the mean
    over rows is the paper's `-1/|B| sum_ij`.

    ids: `[B]` pair ids or None (diagonal positives); logits: `[B, B]`.
    Returns `[B]` float32 losses.
    """
    logits = ops.cast(logits, "float32")
    signs = 2.0 * positive_mask(ids, ops.shape(logits)[0], ops.shape(logits)[1]) - 1.0
    return -ops.sum(ops.log_sigmoid(signs * logits), axis=-1)


class _PairLoss(keras.losses.Loss):
    """A `keras.losses.Loss` over `(pair ids [B], logits [B, B])`, mean over rows."""

    function = None

    def __init__(self, name=None, reduction="sum_over_batch_size", dtype="float32"):
        super().__init__(name=name, reduction=reduction, dtype=dtype)

    def call(self, y_true, y_pred):
        return type(self).function(y_true, y_pred)

    def get_config(self):
        return {"name": self.name, "reduction": self.reduction, "dtype": "float32"}


@keras.saving.register_keras_serializable(package="mmzoo")
class InfoNCE(_PairLoss):
    """Symmetric InfoNCE of CLIP (Radford et al. 2021) over a `[B, B]` logits matrix.

    >>> InfoNCE()(keras.ops.arange(3), 10.0 * keras.ops.eye(3))  # small: pairs win
    """

    function = staticmethod(info_nce)

    def __init__(self, name="info_nce", **kwargs):
        super().__init__(name=name, **kwargs)


@keras.saving.register_keras_serializable(package="mmzoo")
class SigmoidPairwise(_PairLoss):
    """Pairwise sigmoid loss of SigLIP (Zhai et al. 2023) over a `[B, B]` logits matrix.

    >>> SigmoidPairwise()(keras.ops.arange(3), 10.0 * keras.ops.eye(3) - 5.0)
    """

    function = staticmethod(sigmoid_pairwise)

    def __init__(self, name="sigmoid_pairwise", **kwargs):
        super().__init__(name=name, **kwargs)


LOSSES = {"infonce": InfoNCE, "sigmoid": SigmoidPairwise}


def get(loss):
    """A loss instance from a name in `LOSSES` ("infonce", "sigmoid") or an instance."""
    if isinstance(loss, str):
        if loss not in LOSSES:
            raise ValueError(f"Unknown contrastive loss {loss!r}; expected one of "
                             f"{sorted(LOSSES)}.")
        return LOSSES[loss]()
    return loss


def contrastive_loss(loss, y_true, logits):
    """`loss(ids, logits)` with the diagonal as pairs when `y_true` is None."""
    if y_true is None:
        y_true = ops.arange(ops.shape(logits)[0])
    return loss(y_true, logits)


def global_batch_logits(logits_layer, outputs, ids):
    """`(logits, ids)` of the whole global batch inside a replica of a `tf.distribute`
    strategy with several replicas; the batch's own `(outputs["logits"], ids)` otherwise.

    A contrastive loss takes its negatives from the batch, so each replica's share of
    the global batch alone would be a different (easier) objective than one device's.
    Every replica gathers all replicas' embeddings (and pair ids), and computes the
    loss of the global `[G, G]` logits; Keras divides each replica's loss by the number
    of replicas and sums their gradients, and `all_gather` sends each embedding's
    gradient back to its replica, so the step is one device's step on the global batch.

    >>> logits, ids = global_batch_logits(model.logits_layer, y_pred, y)  # in compute_loss
    """
    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:
        return outputs["logits"], ids
    images = context.all_gather(outputs["image_embeddings"], axis=0)
    texts = context.all_gather(outputs["text_embeddings"], axis=0)
    if ids is not None:
        ids = context.all_gather(ops.reshape(ids, (-1,)), axis=0)
    return logits_layer(images, texts), ids


@keras.saving.register_keras_serializable(package="mmzoo")
class MaxValue(keras.constraints.Constraint):
    """Clips a weight to at most `max_value` after each update (CLIP's clamp).

    >>> MaxValue(math.log(100.0))(keras.ops.array(5.0))  # 4.605...
    """

    def __init__(self, max_value):
        self.max_value = float(max_value)

    def __call__(self, w):
        return ops.minimum(w, ops.cast(self.max_value, w.dtype))

    def get_config(self):
        return {"max_value": self.max_value}


@keras.saving.register_keras_serializable(package="mmzoo")
class ContrastiveLogits(keras.layers.Layer):
    """`scale * a @ b^T + bias` of two embedding batches `[Ba, D]`, `[Bb, D]` -> `[Ba, Bb]`.

    The scale is learned as its logarithm (initialised at `log(init_scale)`), clamped
    at `max_scale` (a weight constraint after every step, and in the forward pass);
    `init_bias` adds a learned bias (SigLIP), None for none. Always computed in float32,
    whatever the dtype policy.

    >>> ContrastiveLogits(init_scale=10.0, init_bias=-10.0)(images, texts)  # SigLIP
    """

    def __init__(self, init_scale=1.0 / 0.07, max_scale=100.0, init_bias=None,
                 learn_scale=True, **kwargs):
        kwargs["dtype"] = "float32"
        super().__init__(**kwargs)
        if init_scale <= 0 or (max_scale is not None and max_scale < init_scale):
            raise ValueError(f"Need 0 < init_scale <= max_scale, received "
                             f"init_scale={init_scale}, max_scale={max_scale}.")
        self.init_scale = float(init_scale)
        self.max_scale = None if max_scale is None else float(max_scale)
        self.init_bias = None if init_bias is None else float(init_bias)
        self.learn_scale = bool(learn_scale)

    def build(self, a_shape, b_shape=None):
        self.log_scale = self.add_weight(
            shape=(), name="log_scale", trainable=self.learn_scale,
            initializer=keras.initializers.Constant(math.log(self.init_scale)),
            constraint=None if self.max_scale is None else MaxValue(math.log(self.max_scale)))
        self.bias = None
        if self.init_bias is not None:
            self.bias = self.add_weight(
                shape=(), name="bias", initializer=keras.initializers.Constant(self.init_bias))

    @property
    def scale(self):
        log_scale = ops.cast(self.log_scale, "float32")
        if self.max_scale is not None:
            log_scale = ops.minimum(log_scale, math.log(self.max_scale))
        return ops.exp(log_scale)

    def call(self, a, b):
        a, b = ops.cast(a, "float32"), ops.cast(b, "float32")
        logits = self.scale * ops.matmul(a, ops.transpose(b))
        if self.bias is not None:
            logits = logits + ops.cast(self.bias, "float32")
        return logits

    def compute_output_shape(self, a_shape, b_shape):
        return (a_shape[0], b_shape[0])

    def get_config(self):
        return {**super().get_config(), "init_scale": self.init_scale,
                "max_scale": self.max_scale, "init_bias": self.init_bias,
                "learn_scale": self.learn_scale}
