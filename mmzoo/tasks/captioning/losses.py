"""The captioning loss: masked token cross-entropy."""

import keras
import tensorflow as tf
from keras import ops

from mmzoo.tasks.captioning.tokens import PAD_ID


@keras.saving.register_keras_serializable(package="mmzoo")
class CaptionLoss(keras.losses.Loss):
    """Token-mean sparse cross-entropy over non-padding targets (id 0 ignored), from
    float32 logits, with optional label smoothing.

    >>> CaptionLoss()(targets, logits)   # a scalar
    """

    def __init__(self, label_smoothing=0.0, name="caption_loss", **kwargs):
        super().__init__(name=name, **kwargs)
        self.label_smoothing = float(label_smoothing)

    def call(self, y_true, y_pred):
        y_true = ops.cast(y_true, "int32")
        log_probs = ops.log_softmax(ops.cast(y_pred, "float32"), axis=-1)
        picked = ops.take_along_axis(log_probs, ops.expand_dims(y_true, -1), axis=-1)
        losses = -ops.squeeze(picked, -1)
        if self.label_smoothing:
            smooth = -ops.mean(log_probs, axis=-1)
            losses = (1.0 - self.label_smoothing) * losses + self.label_smoothing * smooth
        valid = ops.cast(ops.not_equal(y_true, PAD_ID), "float32")
        return token_mean(ops.sum(losses * valid), ops.sum(valid))

    def get_config(self):
        return {**super().get_config(), "label_smoothing": self.label_smoothing}


def token_mean(total, count):
    """`total / count` (a sum over tokens and their number), as one device's mean over
    the global batch inside a replica of a `tf.distribute` strategy with R replicas:
    `R * total / (count summed over the replicas)`. Keras divides each replica's loss
    by R and sums the gradients, so the step is the global token mean's; each
    replica's own mean would weight a token by the padding of its replica's captions.

    >>> token_mean(ops.sum(losses * valid), ops.sum(valid))    # in a loss
    """
    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:
        return total / ops.maximum(count, 1.0)
    count = context.all_reduce(tf.distribute.ReduceOp.SUM, count)
    return total * context.num_replicas_in_sync / ops.maximum(count, 1.0)
