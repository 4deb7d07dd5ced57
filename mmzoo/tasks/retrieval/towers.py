"""The two towers of the dual encoder: backbone + projection head + L2 normalisation,
with training-only augmentation (image flips and crops, word dropout).

>>> tower = image_tower("simple_cnn", {"image_size": 64}, embed_dim=128)
>>> tower(pixels).shape   # (B, 128), unit norm
"""

import warnings

import keras

from mmzoo.backbones import build_backbone
from mmzoo.layers import TrainingOnly


def projection_head(features, embed_dim, hidden_units=(), dropout=0.0, prefix=""):
    """Dropout -> [Dense + GELU]* -> Dense(embed_dim) -> L2 normalisation (float32)."""
    x = features
    if dropout:
        x = keras.layers.Dropout(dropout, name=f"{prefix}dropout")(x)
    for index, units in enumerate(hidden_units):
        x = keras.layers.Dense(units, activation="gelu", name=f"{prefix}hidden_{index}")(x)
    x = keras.layers.Dense(embed_dim, name=f"{prefix}projection")(x)
    return keras.layers.UnitNormalization(dtype="float32", name=f"{prefix}l2_normalize")(x)


@keras.saving.register_keras_serializable(package="mmzoo")
class TokenDropout(keras.layers.Layer):
    """Word dropout: in training, replaces each token id by padding (0) with
    probability `rate` (a caption augmentation); the identity at inference.

    >>> TokenDropout(0.1)(ids, training=True)  # about 10% of the words removed
    """

    def __init__(self, rate=0.1, seed=None, **kwargs):
        super().__init__(**kwargs)
        if not 0.0 <= rate < 1.0:
            raise ValueError(f"rate must be in [0, 1), received {rate}.")
        self.rate = float(rate)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, ids, training=None):
        if not training or self.rate == 0.0:
            return ids
        keep = keras.random.uniform(keras.ops.shape(ids), seed=self.seed_generator) >= self.rate
        return keras.ops.where(keep, ids, keras.ops.zeros_like(ids))

    def compute_output_spec(self, ids, training=None):
        return keras.KerasTensor(ids.shape, dtype=ids.dtype)

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}


def image_augmentation(name="augment"):
    """Horizontal flips, shifts and zooms of up to 10%, applied only in training."""
    return TrainingOnly(keras.Sequential([
        keras.layers.RandomFlip("horizontal"),
        keras.layers.RandomTranslation(0.1, 0.1, fill_mode="reflect"),
        keras.layers.RandomZoom((-0.1, 0.1), fill_mode="reflect"),
    ], name="augmentations"), name=name)


def image_tower(backbone, options, embed_dim, hidden_units=(), dropout=0.0, augment=False,
                name="image_encoder"):
    """pixels `[B, H, W, 3]` 0..255 -> unit-norm embeddings `[B, embed_dim]` float32."""
    images = keras.Input((None, None, 3), dtype="float32", name="images")
    x = images
    if augment:
        with warnings.catch_warnings():
            # TrainingOnly has no build(); its random layers need none (harmless).
            warnings.filterwarnings("ignore", message=".*`build\(\)` was called on layer")
            x = image_augmentation()(images)
    features = build_backbone("image", backbone, name="image_backbone", **options)(x)
    embeddings = projection_head(features["pooled"], embed_dim, hidden_units, dropout)
    return keras.Model(images, embeddings, name=name)


def text_tower(backbone, options, embed_dim, hidden_units=(), dropout=0.0, word_dropout=0.0,
               name="text_encoder"):
    """token ids `[B, T]` (0 = padding) -> unit-norm embeddings `[B, embed_dim]` float32."""
    ids = keras.Input((None,), dtype="int32", name="token_ids")
    x = TokenDropout(word_dropout, name="word_dropout")(ids) if word_dropout else ids
    features = build_backbone("text", backbone, name="text_backbone", **options)(x)
    embeddings = projection_head(features["pooled"], embed_dim, hidden_units, dropout)
    return keras.Model(ids, embeddings, name=name)
