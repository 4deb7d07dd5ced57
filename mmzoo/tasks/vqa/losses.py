"""The VQA loss: answer cross-entropy that ignores answers outside the vocabulary."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="mmzoo")
class AnswerCrossEntropy(keras.losses.Loss):
    """Sparse categorical cross-entropy over answer ids that ignores id -1.

    Answers outside the vocabulary (id -1) get no loss, and the batch mean runs over
    the others (without sample weights). Unlike Keras' `ignore_class`, the softmax output is passed on untouched,
    so Keras computes the loss from its logits (stable when the softmax saturates).
    """

    def __init__(self, from_logits=False, name="answer_cross_entropy",
                 reduction="sum_over_batch_size", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.from_logits = bool(from_logits)

    def call(self, y_true, y_pred):
        y_true = ops.cast(y_true, "int32")
        if len(y_true.shape) == len(y_pred.shape):
            y_true = ops.squeeze(y_true, -1)
        valid = ops.greater_equal(y_true, 0)
        losses = keras.losses.sparse_categorical_crossentropy(
            ops.where(valid, y_true, 0), y_pred, from_logits=self.from_logits)
        # Scaled so that the batch mean (`sum_over_batch_size`) is the mean over the
        # valid examples (0 when none is valid).
        valid = ops.cast(valid, losses.dtype)
        scale = ops.cast(ops.shape(valid)[0], losses.dtype) / ops.maximum(ops.sum(valid), 1.0)
        return losses * valid * scale

    def get_config(self):
        return {**super().get_config(), "from_logits": self.from_logits}
