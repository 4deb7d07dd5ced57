"""Augmentation that runs only when training is explicitly on."""

import keras


@keras.saving.register_keras_serializable(package="mmzoo")
class TrainingOnly(keras.layers.Layer):
    """Applies `layer` when `training=True`, passes inputs through otherwise.

    Keras' random preprocessing layers default to `training=True`, so a plain
    `model(x)` call would augment; inside a model this wrapper makes inference
    deterministic whatever the caller passes.

    >>> shift = TrainingOnly(keras.layers.RandomTranslation(0.1, 0.0))
    >>> shift(x) is x  # inference
    """

    def __init__(self, layer, **kwargs):
        super().__init__(**kwargs)
        self.layer = layer
        self.supports_masking = True

    def build(self, input_shape):
        if not self.layer.built:
            self.layer.build(input_shape)
        self.built = True

    def call(self, x, training=None):
        return self.layer(x, training=True) if training else x

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "layer": keras.layers.serialize(self.layer)}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["layer"] = keras.layers.deserialize(config["layer"])
        return cls(**config)
