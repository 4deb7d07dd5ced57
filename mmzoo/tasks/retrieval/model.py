"""Image-text retrieval: a dual encoder trained with a contrastive loss (CLIP, SigLIP).

Two towers, each a registered backbone + a linear projection (optionally an MLP) +
L2 normalisation, map images and texts into one `embed_dim` space; a learnable
temperature turns cosine similarities into logits (`mmzoo.tasks.retrieval.losses.ContrastiveLogits`).

>>> model = Retriever(loss="infonce", image_backbone="simple_cnn", text_backbone="cnn")
>>> model.adapt_text(["a dog runs on the grass", "two children play in the snow"])
>>> out = model({"image": pixels, "text": ids})  # image_embeddings, text_embeddings, logits
>>> model.encode_image(pixels).shape             # (B, embed_dim), unit norm
>>> model.encode_text(ids)                       # (B, embed_dim)

Training pairs (`prepare_dataset`): a Flickr8k-style element is one image with its
captions `{"image", "captions" [C]}`; every training step pairs each image of the batch
with ONE of its captions drawn at random (so an epoch sees each image once and, over
epochs, all of its captions), and the other B - 1 texts of the batch are its negatives
(and vice versa). Shuffled batches of distinct images hold no duplicate image; a data
set that can repeat an image in a batch yields `(inputs, pair_ids)` instead, and the
losses then treat every pair with the same id as a positive. Validation and `evaluate`
use every caption (C passes per batch), so the validation loss is deterministic.
"""

import functools

import keras
import numpy as np
import tensorflow as tf

from mmzoo.registry import TASKS
from mmzoo.tasks.base import Task
from mmzoo.tasks.building import config_options, constructor_defaults, text_tokenizer
from mmzoo.tasks.feature_cache import with_step_seeds
from mmzoo.tasks.retrieval import losses as contrastive
from mmzoo.tasks.retrieval.metrics import retrieval_metrics
from mmzoo.tasks.retrieval.pairs import (
    cached_pairs,
    caption_stacks,
    one_batch_per_caption,
    per_caption_batches,
    pick_caption,
    retriever_split,
)
from mmzoo.tasks.retrieval.raw_inputs import MODALITIES, RetrieverRawInputs
from mmzoo.tasks.retrieval.towers import image_tower, text_tower

OUTPUTS = ("image_embeddings", "text_embeddings", "logits")


@TASKS.register("retriever")
@keras.saving.register_keras_serializable(package="mmzoo")
class Retriever(RetrieverRawInputs, Task):
    """Dual encoder for image-text retrieval, trained with a contrastive loss.

    Inputs `{"image": [B, H, W, 3] float32 0..255, "text": [B, T] int32 ids}`; outputs
    `{"image_embeddings": [B, D], "text_embeddings": [B, D], "logits": [B, B]}` (all
    float32; `predict` returns only the embeddings).

    Args:
        image_backbone, text_backbone: names from `mmzoo.registry.BACKBONES`;
            `image_options`, `text_options` their extra arguments.
        image_size: side of the square image the image backbone sees.
        image_weights: None, "imagenet" or a path, for keras.applications backbones.
        embed_dim: size of the shared embedding space.
        projection_units: hidden layers of both projection heads (() = linear, as CLIP).
        dropout: before each projection head.
        augment: random flips, shifts and zooms of the images in training.
        word_dropout: probability of dropping each caption word in training.
        loss: "infonce" (CLIP's symmetric cross-entropy) or "sigmoid" (SigLIP).
        init_scale, max_scale, init_bias, learn_scale: the temperature of
            `mmzoo.tasks.retrieval.losses.ContrastiveLogits` (CLIP: 1/0.07, 100, None; SigLIP: 10,
            None, -10).
        vocab_size, sequence_length, vocabulary: the text vectorizer.
    """

    input_dtype_kinds = {
        "text": ("iu", "integer token ids"),
        "image": ("fiu", "pixel values 0..255"),
    }

    def __init__(
        self,
        image_backbone="simple_cnn",
        text_backbone="cnn",
        image_options=None,
        text_options=None,
        image_size=64,
        image_weights=None,
        embed_dim=128,
        projection_units=(),
        dropout=0.0,
        augment=True,
        word_dropout=0.0,
        loss="infonce",
        init_scale=1.0 / 0.07,
        max_scale=100.0,
        init_bias=None,
        learn_scale=True,
        vocab_size=5000,
        sequence_length=32,
        vocabulary=None,
        **kwargs,
    ):
        if loss not in contrastive.LOSSES:
            raise ValueError(f"loss must be one of {sorted(contrastive.LOSSES)}, "
                             f"received {loss!r}.")
        embed_dim = int(embed_dim)
        if embed_dim < 1:
            raise ValueError(f"embed_dim must be positive, received {embed_dim}.")
        options = {"image": dict(image_options or {}), "text": dict(text_options or {})}
        options["image"].setdefault("weights", image_weights)
        options["image"].setdefault("image_size", image_size)
        options["text"].setdefault("vocab_size", vocab_size)
        if text_backbone == "transformer":
            options["text"].setdefault("max_length", sequence_length)

        inputs = {
            "image": keras.Input((None, None, 3), dtype="float32", name="image"),
            "text": keras.Input((None,), dtype="int32", name="text"),
        }
        image_encoder = image_tower(image_backbone, options["image"], embed_dim,
                                    projection_units, dropout, augment)
        text_encoder = text_tower(text_backbone, options["text"], embed_dim,
                                  projection_units, dropout, word_dropout)
        image_embeddings = image_encoder(inputs["image"])
        text_embeddings = text_encoder(inputs["text"])
        logits = contrastive.ContrastiveLogits(
            init_scale, max_scale, init_bias, learn_scale, name="logits"
        )(image_embeddings, text_embeddings)
        outputs = {"image_embeddings": image_embeddings,
                   "text_embeddings": text_embeddings, "logits": logits}
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)

        self.embed_dim = embed_dim
        self.loss_type = loss  # "infonce" or "sigmoid": how logits become scores
        self.image_size = int(image_encoder.get_layer("image_backbone")
                              .get_layer("resize").height)
        self.text_vectorizer = text_tokenizer(text_backbone, options["text"], vocab_size,
                                              sequence_length, vocabulary)
        self._record_pretrained_init(image_weights=image_weights, text_options=text_options,
                                     image_options=image_options)
        self._set_config({
            "image_backbone": image_backbone,
            "text_backbone": text_backbone,
            "image_options": config_options(image_options),
            "text_options": config_options(text_options),
            "image_size": image_size,
            # Trained weights come from the saved file, never a fresh download.
            "image_weights": None,
            "embed_dim": embed_dim,
            "projection_units": list(projection_units),
            "dropout": dropout,
            "augment": augment,
            "word_dropout": word_dropout,
            "loss": loss,
            "init_scale": init_scale,
            "max_scale": max_scale,
            "init_bias": init_bias,
            "learn_scale": learn_scale,
            "vocab_size": vocab_size,
            "sequence_length": sequence_length,
        })
        if vocabulary:
            self._initialize_embeddings()

    @classmethod
    def summarize_config(cls, config):
        """Modalities, backbones, similarity and loss of a config, without building."""
        config = {**constructor_defaults(cls), **config}
        return {
            "modalities": list(MODALITIES),
            "backbones": {m: config[f"{m}_backbone"] for m in MODALITIES},
            "fusion": "cosine",
            "loss": config["loss"],
        }

    # ----- parts -------------------------------------------------------------------
    @property
    def image_encoder(self):
        """pixels `[B, H, W, 3]` -> unit-norm `[B, embed_dim]` (a `keras.Model`)."""
        return self.get_layer("image_encoder")

    @property
    def text_encoder(self):
        """token ids `[B, T]` -> unit-norm `[B, embed_dim]` (a `keras.Model`)."""
        return self.get_layer("text_encoder")

    @property
    def logits_layer(self):
        """The learned temperature (and bias): `ContrastiveLogits`."""
        return self.get_layer("logits")

    @property
    def text_vectorizers(self):
        return {"text": self.text_vectorizer}

    @property
    def text_backbones(self):
        return {"text": self.text_encoder.get_layer("text_backbone")}

    def encode_image(self, images, training=False):
        """Unit-norm image embeddings `[B, embed_dim]` of pixels `[B, H, W, 3]` 0..255."""
        if not tf.is_symbolic_tensor(images):
            self.check_inputs({"image": images})
        return self.image_encoder(images, training=training)

    def encode_text(self, ids, training=False):
        """Unit-norm text embeddings `[B, embed_dim]` of token ids `[B, T]`."""
        if not tf.is_symbolic_tensor(ids):
            self.check_inputs({"text": ids})
        return self.text_encoder(ids, training=training)

    def similarity_logits(self, image_embeddings, text_embeddings):
        """`[images, texts]` logits (learned scale, and bias for SigLIP), float32."""
        return self.logits_layer(image_embeddings, text_embeddings)

    @functools.cached_property
    def _encode_steps(self):
        # cached_property writes to __dict__, outside Keras' attribute tracking. One
        # trace per tower: the signature is the tower's input (batch and sizes None).
        def step(encoder):
            spec = encoder.inputs[0]
            return tf.function(lambda x: encoder(x, training=False),
                               input_signature=[tf.TensorSpec(spec.shape, spec.dtype)])

        return {"image": step(self.image_encoder), "text": step(self.text_encoder)}

    def embed(self, modality, inputs, batch_size=64):
        """numpy `[N, embed_dim]` embeddings of model inputs (pixels or ids) in batches."""
        if modality not in MODALITIES:
            raise ValueError(f"modality must be one of {MODALITIES}, received {modality!r}.")
        self.check_inputs({modality: inputs})
        step = self._encode_steps[modality]
        dtype = step.input_signature[0].dtype
        parts = [step(tf.cast(inputs[start:start + batch_size], dtype))
                 for start in range(0, len(inputs), batch_size)]
        return np.concatenate([np.asarray(p) for p in parts])

    # ----- inputs ------------------------------------------------------------------
    def missing_input_message(self, name):
        return (f"Retriever takes both 'image' and 'text'; '{name}' is missing. "
                "To embed one modality use model.encode_image(pixels) / "
                "model.encode_text(ids), or mmzoo.pipeline(...).embed_images / "
                "embed_texts for raw inputs.")

    # ----- training ----------------------------------------------------------------
    def compile(self, optimizer="auto", loss="auto", metrics=None, **kwargs):
        """Adam(1e-3) and the preset's contrastive loss unless given."""
        loss = contrastive.get(self._task_config["loss"] if loss in ("auto", None) else loss)
        super().compile(
            optimizer=keras.optimizers.Adam(1e-3) if optimizer == "auto" else optimizer,
            loss=loss, metrics=metrics, **kwargs)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """The contrastive loss of the batch's logits; `y` holds pair ids (optional).
        Under a strategy with several replicas: of the global batch's logits."""
        logits, ids = contrastive.global_batch_logits(self.logits_layer, y_pred, y)
        loss = contrastive.contrastive_loss(self.loss, ids, logits)
        for extra in self.losses:
            loss = loss + self._aggregate_additional_loss(extra)
        return loss

    def predict_step(self, data):
        x, _, _ = keras.utils.unpack_x_y_sample_weight(data)
        outputs = self(x, training=False)
        return {name: outputs[name] for name in OUTPUTS[:2]}

    # ----- data sets ---------------------------------------------------------------
    def prepare_dataset(self, dataset, training=False, captions=None):
        """Batched `{"image", "captions" [B, C]}` (or `{"image", "text"}`) elements ->
        model inputs `{"image", "text"}`, with `(inputs, pair_ids)` kept as they are.

        captions: "random" (one caption per image, drawn anew every epoch: the default
        in training), "all" (C batches, one per caption index: the default otherwise)
        or an index.
        """
        captions = captions or ("random" if training else "all")
        if captions == "all":
            dataset = per_caption_batches(dataset, one_batch_per_caption, _captions_spec)

        def convert(element, seed=None):
            inputs = pick_caption(element[0], captions, seed)
            converted = self.convert_inputs(inputs)
            if len(element) == 1:
                return converted
            return (converted, self.convert_labels(element[1]), *element[2:])

        if captions == "random":
            return with_step_seeds(dataset).map(
                lambda *pair: convert(_as_tuple(pair[0]), pair[1]),
                num_parallel_calls=tf.data.AUTOTUNE)
        return dataset.map(lambda *element: convert(element),
                           num_parallel_calls=tf.data.AUTOTUNE)

    def predict(self, x, *args, **kwargs):
        if isinstance(x, tf.data.Dataset):
            x = self.prepare_dataset(x, captions=0)
            return super(Task, self).predict(x, *args, **kwargs)
        return super().predict(x, *args, **kwargs)

    # ----- training on cached features ------------------------------------------------
    def feature_split(self):
        """Cut inside the towers after the frozen backbones (see `retriever_split`)."""
        return retriever_split(self)

    def cache_inputs(self, dataset):
        """`({"image", "text": ids [B, C, T]}, *pair ids)`: every caption of an image is
        encoded once and kept beside its image (a `"text"` dataset has C = 1)."""
        return caption_stacks(
            dataset, lambda texts: self.convert_inputs({"text": texts})["text"])

    def head_dataset(self, cached, training=False):
        """One cached caption per image drawn anew every epoch (training), or C batches,
        one per caption (validation): see `cached_pairs`."""
        return cached_pairs(cached, training)

    @classmethod
    def dataset_overrides(cls, info, element_spec, config):
        """Checks that the data set pairs images with texts (nothing to override)."""
        inputs = element_spec[0] if isinstance(element_spec, tuple) else element_spec
        if "image" not in inputs or not ({"captions", "text"} & set(inputs)):
            raise ValueError(
                f"A retriever trains on images paired with texts ('image' and 'captions' "
                f"or 'text'); the data set has {sorted(inputs)}.")
        return {}

    def dataset_options(self):
        """Load images at the size the image tower sees."""
        return {"image_size": self.image_size}

    def adapt_to_dataset(self, dataset):
        """Builds the vocabulary from every caption of a batched training set."""
        def texts(element, *rest):
            key = "captions" if "captions" in element else "text"
            return tf.reshape(element[key], (-1,))

        self.adapt_text(dataset.map(texts))

    def embed_dataset(self, dataset):
        """`(image_embeddings [N, D], text_embeddings [M, D], caption_images [M])` of a
        batched `{"image", "captions" [B, C]}` (or `{"image", "text"}`) dataset."""
        images, texts, owners = [], [], []
        count = 0
        for element in dataset:
            inputs = element[0] if isinstance(element, tuple) else element
            captions = inputs["captions"] if "captions" in inputs else inputs["text"][:, None]
            pixels = self._encode_steps["image"](tf.cast(inputs["image"], tf.float32))
            batch, per_image = captions.shape[0], captions.shape[1]
            ids = self.convert_inputs({"text": tf.reshape(captions, (-1,))})["text"]
            images.append(np.asarray(pixels))
            texts.append(np.asarray(self._encode_steps["text"](tf.cast(ids, tf.int32))))
            owners.append(count + np.repeat(np.arange(batch), per_image))
            count += batch
        if not images:
            raise ValueError("The dataset is empty: nothing to evaluate.")
        return np.concatenate(images), np.concatenate(texts), np.concatenate(owners)

    def evaluate_dataset(self, dataset):
        """Recall@1/5/10 both ways (percent), median ranks, numbers of images and texts."""
        image_embeddings, text_embeddings, owners = self.embed_dataset(dataset)
        similarity = image_embeddings.astype(np.float64) @ text_embeddings.T.astype(np.float64)
        return {**retrieval_metrics(similarity, owners), "images": int(len(image_embeddings)),
                "captions": int(len(text_embeddings))}


def _captions_spec(spec):
    inputs = spec[0] if isinstance(spec, tuple) else spec
    return inputs.get("captions") if isinstance(inputs, dict) else None


def _as_tuple(element):
    return element if isinstance(element, tuple) else (element,)
