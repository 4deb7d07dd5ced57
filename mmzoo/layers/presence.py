"""Optional modality inputs: filler tensors plus a presence mask, and modality dropout."""

import keras
import tensorflow as tf
from keras import ops

from mmzoo.layers.tracing import graphs_are_plain


@keras.saving.register_keras_serializable(package="mmzoo")
class ModalityInputs(keras.layers.Layer):
    """Turns a dict of optional modality inputs into `(filled, presence)`.

    A modality passed as `None` (or left out) is replaced by a small zero tensor so that
    the graph runs, and its presence is 0; every fusion layer multiplies or masks by
    `presence`, so the filler never reaches the output. In a graph (`tf.function`, an
    exported SavedModel), a modality with an empty batch (0 examples) counts as absent
    too, so one signature serves any non-empty subset of the modalities. With
    `modality_dropout > 0`, training randomly hides present modalities, never all of one
    example's.

    >>> layer = ModalityInputs({"text": ((1,), "int32"), "image": ((32, 32, 3), "float32")})
    >>> filled, presence = layer({"text": ids, "image": None})
    >>> presence["image"]  # zeros [B]
    """

    def __init__(self, fill_specs, modality_dropout=0.0, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.fill_specs = {
            name: (tuple(shape), dtype) for name, (shape, dtype) in fill_specs.items()
        }
        self.modalities = list(self.fill_specs)
        if not 0.0 <= modality_dropout < 1.0:
            raise ValueError(
                f"modality_dropout must be in [0, 1), received {modality_dropout}."
            )
        self.modality_dropout = float(modality_dropout)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs, training=None):
        present = [inputs[m] for m in self.modalities if inputs.get(m) is not None]
        if not present:
            raise ValueError(
                f"At least one modality is needed; expected some of {self.modalities}."
            )
        batch = ops.shape(present[0])[0]
        if len(present) > 1:
            batch = ops.max(ops.stack([ops.shape(x)[0] for x in present]))
        filled, presence = {}, {}
        for name in self.modalities:
            x = inputs.get(name)
            shape, dtype = self.fill_specs[name]
            if x is None:
                filled[name] = ops.zeros((batch,) + shape, dtype=dtype)
                presence[name] = ops.zeros((batch,), dtype="float32")
            elif len(present) == 1 or graphs_are_plain():
                filled[name] = x
                presence[name] = ops.ones((batch,), dtype="float32")
            else:
                given = ops.shape(x)[0] > 0
                # The filler takes x's known dimensions, so the result keeps x's static
                # shape (converters such as TFLite's need known channels).
                fill = tuple(d if d is not None else f for d, f in zip(x.shape[1:], shape))
                if isinstance(given, bool):  # the batch size is known while tracing
                    filled[name] = x if given else ops.zeros((batch,) + fill, dtype=x.dtype)
                else:
                    filled[name] = tf.cond(
                        given, lambda x=x: x,
                        lambda fill=fill, dtype=x.dtype: tf.zeros((batch,) + fill, dtype=dtype))
                presence[name] = ops.ones((batch,), dtype="float32") * ops.cast(
                    given, "float32")
        if training and self.modality_dropout > 0:
            presence = self._drop_modalities(presence, batch)
        return filled, presence

    def _drop_modalities(self, presence, batch):
        kept = {
            name: present
            * ops.cast(
                keras.random.uniform((batch,), seed=self.seed_generator)
                >= self.modality_dropout,
                "float32",
            )
            for name, present in presence.items()
        }
        any_kept = sum(kept.values()) > 0
        return {name: ops.where(any_kept, kept[name], presence[name]) for name in kept}

    def compute_output_spec(self, inputs, training=None):
        reference = next(inputs[m] for m in self.modalities if inputs.get(m) is not None)
        batch = reference.shape[0]
        filled = {
            name: keras.KerasTensor(inputs[name].shape, dtype=inputs[name].dtype)
            for name in self.modalities
        }
        presence = {
            name: keras.KerasTensor((batch,), dtype="float32") for name in self.modalities
        }
        return filled, presence

    def get_config(self):
        return {
            **super().get_config(),
            "fill_specs": {n: [list(s), d] for n, (s, d) in self.fill_specs.items()},
            "modality_dropout": self.modality_dropout,
            "seed": self.seed,
        }
