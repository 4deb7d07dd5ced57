"""The captioning loss: masked token cross-entropy."""

import keras
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
        return ops.sum(losses * valid) / ops.maximum(ops.sum(valid), 1.0)

    def get_config(self):
        return {**super().get_config(), "label_smoothing": self.label_smoothing}
