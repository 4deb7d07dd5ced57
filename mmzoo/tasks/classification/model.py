"""Multimodal classification (sentiment, emotion, digits...): backbones + fusion + head.

>>> model = Classifier(modalities=("text", "image"), fusion="late", num_classes=3,
...                    text_backbone="bigru", image_backbone="simple_cnn")
>>> model.adapt_text(["a good day", "a bad day"])
>>> model({"text": ids, "image": pixels}).shape   # (B, 3) class probabilities
>>> model({"image": pixels})                       # text missing: masked in the fusion

`Classifier(modalities=("text", "image"), text_backbone="lstm",
image_backbone="resnet50")` with the default concat fusion is exactly the classic
TensorFlow multimodal sentiment model: Embedding -> LSTM(128), ResNet50 -> global
average pooling, concatenate, Dense(num_classes, softmax).
"""

import keras
from keras import ops

from mmzoo import checks
from mmzoo.backbones import MODALITIES, build_backbone
from mmzoo.fusion import build_fusion
from mmzoo.layers import ModalityInputs
from mmzoo.registry import FUSIONS, TASKS
from mmzoo.tasks.base import Task
from mmzoo.tasks.building import (
    config_options,
    constructor_defaults,
    dense_head,
    text_tokenizer,
)
from mmzoo.tasks.classification.metrics import (
    accuracy,
    cross_entropy,
    f1_per_class,
    macro_f1,
    weighted_f1,
)
from mmzoo.tasks.classification.raw_inputs import ClassifierRawInputs
from mmzoo.tasks.feature_cache import frozen_feature_split

_INPUT_SPECS = {
    "text": ((None,), "int32"),
    "image": ((None, None, 3), "float32"),
    "audio": ((None,), "float32"),
}
# What stands in for a missing modality; the fusion masks it out. Two tokens, not one:
# attention over a single (padding) key makes Keras warn about a softmax over size 1.
_FILLER_SHAPES = {"text": (2,), "image": (32, 32, 3)}


@TASKS.register("classifier")
@keras.saving.register_keras_serializable(package="mmzoo")
class Classifier(ClassifierRawInputs, Task):
    """Multimodal classifier over any non-empty subset of text, image and audio.

    Args:
        modalities: the inputs, a subset of ("text", "image", "audio").
        num_classes: number of classes; `class_names` optionally names them.
        fusion: a name from `mmzoo.registry.FUSIONS`; `fusion_options` its arguments.
        text_backbone, image_backbone, audio_backbone: names from `BACKBONES`;
            `text_options`, `image_options`, `audio_options` their extra arguments.
        image_size: side of the square image the backbone sees (its default if None).
        image_weights: None, "imagenet" or a path, for keras.applications backbones.
        sample_rate, clip_seconds: audio rate and the clip length pipelines pad/cut to.
        vocab_size, sequence_length, vocabulary: the text vectorizer.
        head_units, dropout: hidden layers and dropout of the classification head.
        modality_dropout: probability of hiding each present modality in training.
        aux_loss_weight: weight of the unimodal losses of fusions that return them
            (`hybrid`).
        activation: of the output ("softmax" probabilities, or None for logits).
    """

    input_dtype_kinds = {
        "text": ("iu", "integer token ids"),
        "image": ("fiu", "pixel values 0..255"),
        "audio": ("f", "float32 waveform in [-1, 1] (integer PCM is scaled)"),
    }

    def __init__(
        self,
        modalities=("text", "image", "audio"),
        num_classes=2,
        class_names=None,
        fusion="concat",
        fusion_options=None,
        text_backbone="bigru",
        image_backbone="simple_cnn",
        audio_backbone="mel_cnn",
        text_options=None,
        image_options=None,
        audio_options=None,
        image_size=None,
        image_weights=None,
        sample_rate=16000,
        clip_seconds=1.0,
        vocab_size=20000,
        sequence_length=64,
        vocabulary=None,
        head_units=(),
        dropout=0.0,
        modality_dropout=0.0,
        aux_loss_weight=0.5,
        activation="softmax",
        **kwargs,
    ):
        modalities = _check_modalities(modalities)
        num_classes = checks.integer(num_classes, "num_classes", minimum=2)
        sample_rate = checks.integer(sample_rate, "sample_rate", minimum=1)
        clip_seconds = checks.finite(clip_seconds, "clip_seconds", minimum=0.01)
        vocab_size = checks.integer(vocab_size, "vocab_size", minimum=3)
        sequence_length = checks.integer(sequence_length, "sequence_length", minimum=1)
        if image_size is not None:
            image_size = checks.integer(image_size, "image_size", minimum=8)
        if class_names is not None and len(class_names) != num_classes:
            raise ValueError(
                f"class_names has {len(class_names)} names for num_classes={num_classes}."
            )
        backbone_names = {"text": text_backbone, "image": image_backbone,
                          "audio": audio_backbone}
        options = {"text": dict(text_options or {}), "image": dict(image_options or {}),
                   "audio": dict(audio_options or {})}
        options["text"].setdefault("vocab_size", vocab_size)
        if text_backbone == "transformer":
            options["text"].setdefault("max_length", sequence_length)
        options["image"].setdefault("weights", image_weights)
        if image_size is not None:
            options["image"].setdefault("image_size", image_size)
        options["audio"].setdefault("sample_rate", sample_rate)
        clip_samples = int(round(sample_rate * clip_seconds))

        inputs = {
            m: keras.Input(_INPUT_SPECS[m][0], dtype=_INPUT_SPECS[m][1], name=m,
                           optional=len(modalities) > 1)
            for m in modalities
        }
        fill_specs = {
            m: (_FILLER_SHAPES.get(m, (clip_samples,)), _INPUT_SPECS[m][1])
            for m in modalities
        }
        filled, presence = ModalityInputs(
            fill_specs, modality_dropout, name="modality_inputs")(inputs)
        encoders = {
            m: build_backbone(m, backbone_names[m], name=f"{m}_backbone", **options[m])
            for m in modalities
        }
        encoded = {m: encoders[m](filled[m]) for m in modalities}

        fusion_class = FUSIONS.get(fusion)
        fusion_options = dict(fusion_options or {})
        if fusion_class.produces_logits:
            fusion_options["num_classes"] = num_classes
        fusion_layer = build_fusion(fusion, modalities, name="fusion", **fusion_options)
        kind = "sequence" if fusion_class.input_kind == "sequence" else "pooled"
        features = {m: encoded[m][kind] for m in modalities}
        masks = {m: encoded[m]["sequence_mask"] for m in modalities
                 if kind == "sequence" and "sequence_mask" in encoded[m]}
        fused = fusion_layer(features, presence=presence, sequence_masks=masks or None)

        auxiliary = None
        if fusion_class.auxiliary_outputs:
            fused, auxiliary = fused
        if fusion_class.produces_logits:
            logits = fused
        else:
            logits = dense_head(fused, head_units, dropout, num_classes)
        predictions = keras.layers.Activation(
            activation, dtype="float32", name="predictions")(logits)
        outputs = predictions
        if auxiliary is not None:
            stacked = keras.layers.Concatenate(name="aux_presence")(
                [keras.layers.Reshape((1,), name=f"presence_{m}")(presence[m])
                 for m in modalities]) if len(modalities) > 1 else keras.layers.Reshape(
                    (1,), name=f"presence_{modalities[0]}")(presence[modalities[0]])
            outputs = {"predictions": predictions, "aux_logits": auxiliary,
                       "aux_presence": stacked}
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)

        self.modalities = modalities
        self.num_classes = num_classes
        self.class_names = list(class_names) if class_names is not None else None
        self.aux_loss_weight = float(aux_loss_weight)
        self.has_auxiliary_outputs = auxiliary is not None
        self.sample_rate = int(sample_rate)
        self.clip_samples = clip_samples
        # One 25 ms analysis window: the shortest clip the audio frontends can read.
        self.min_audio_samples = max(1, int(round(0.025 * self.sample_rate)))
        self.image_size = (
            encoders["image"].get_layer("resize").height if "image" in modalities else None
        )
        self.text_vectorizer = (
            text_tokenizer(text_backbone, options["text"], vocab_size, sequence_length,
                           vocabulary)
            if "text" in modalities else None
        )
        self._record_pretrained_init(image_weights=image_weights, text_options=text_options,
                                     image_options=image_options, audio_options=audio_options)
        self._set_config({
            "modalities": modalities,
            "num_classes": num_classes,
            "class_names": self.class_names,
            "fusion": fusion,
            "fusion_options": {k: v for k, v in fusion_options.items()
                               if k != "num_classes"},
            "text_backbone": text_backbone,
            "image_backbone": image_backbone,
            "audio_backbone": audio_backbone,
            "text_options": config_options(text_options),
            "image_options": config_options(image_options),
            "audio_options": config_options(audio_options),
            "image_size": image_size,
            # Trained weights come from the saved file, never a fresh download.
            "image_weights": None,
            "sample_rate": sample_rate,
            "clip_seconds": clip_seconds,
            "vocab_size": vocab_size,
            "sequence_length": sequence_length,
            "head_units": list(head_units),
            "dropout": dropout,
            "modality_dropout": modality_dropout,
            "aux_loss_weight": aux_loss_weight,
            "activation": activation,
        })
        if vocabulary:
            self._initialize_embeddings()

    @classmethod
    def summarize_config(cls, config):
        """Modalities, backbones and fusion of a config, without building the model."""
        config = {**constructor_defaults(cls), **config}
        modalities = _check_modalities(config["modalities"])
        return {
            "modalities": modalities,
            "backbones": {m: config[f"{m}_backbone"] for m in modalities},
            "fusion": config["fusion"],
        }

    # ----- labels ------------------------------------------------------------------
    @property
    def labels(self):
        """Class names, or "LABEL_i" when the model has none."""
        return self.class_names or [f"LABEL_{i}" for i in range(self.num_classes)]

    @property
    def text_vectorizers(self):
        return {"text": self.text_vectorizer} if self.text_vectorizer is not None else {}

    @property
    def text_backbones(self):
        return {"text": self.get_layer("text_backbone")} if "text" in self.modalities else {}

    # ----- training ----------------------------------------------------------------
    def compile(self, optimizer="auto", loss="auto", metrics="auto", **kwargs):
        """Adam(1e-3), sparse categorical cross-entropy and accuracy unless given."""
        from_logits = self._task_config["activation"] is None
        super().compile(
            optimizer=keras.optimizers.Adam(1e-3) if optimizer == "auto" else optimizer,
            loss=(keras.losses.SparseCategoricalCrossentropy(from_logits=from_logits)
                  if loss == "auto" else loss),
            metrics=["accuracy"] if metrics == "auto" else metrics,
            **kwargs,
        )

    def call(self, inputs, training=None, mask=None):
        outputs = super().call(inputs, training=training, mask=mask)
        if self.has_auxiliary_outputs and not training:
            return outputs["predictions"]
        return outputs

    def compute_output_spec(self, inputs, training=None, mask=None):
        outputs = super().compute_output_spec(inputs, training=training, mask=mask)
        return outputs["predictions"] if isinstance(outputs, dict) else outputs

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        if not isinstance(y_pred, dict):
            return super().compute_loss(x, y, y_pred, sample_weight, training=training)
        loss = super().compute_loss(
            x, y, y_pred["predictions"], sample_weight, training=training)
        # An "additional loss" to Keras: scaled by 1/replicas under tf.distribute, as the
        # main loss is, so that the summed gradients are those of the global batch.
        return loss + self._aggregate_additional_loss(self.aux_loss_weight * unimodal_loss(
            y, y_pred["aux_logits"], y_pred["aux_presence"]))

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        if isinstance(y_pred, dict):
            y_pred = y_pred["predictions"]
        return super().compute_metrics(x, y, y_pred, sample_weight)

    def feature_split(self):
        """Cut after the frozen backbones and the presence mask (see `Task.feature_split`)."""
        return frozen_feature_split(
            self, [self.get_layer(f"{m}_backbone") for m in self.modalities],
            cut_after=[self.get_layer("modality_inputs")],
            random_reason=self._task_config["modality_dropout"] and "modality dropout is on")

    # ----- data sets -----------------------------------------------------------------
    @classmethod
    def dataset_overrides(cls, info, element_spec, config):
        """Modalities the data set has (of the preset's), its classes and sample rate."""
        inputs = element_spec[0] if isinstance(element_spec, tuple) else element_spec
        wanted = _check_modalities(config.get("modalities", constructor_defaults(cls)["modalities"]))
        available = [m for m in wanted if m in inputs]
        if not available:
            raise ValueError(
                f"The data set has inputs {sorted(inputs)}, none of the model's "
                f"modalities {wanted}.")
        overrides = {"modalities": available}
        names = info.get("class_names")
        if names:
            overrides.update(num_classes=len(names), class_names=[str(n) for n in names])
        if "audio" in available and info.get("sample_rate"):
            overrides["sample_rate"] = int(info["sample_rate"])
        return overrides

    def dataset_options(self):
        """Loader options that match this model's inputs (audio rate and length)."""
        if "audio" not in self.modalities:
            return {}
        return {"sample_rate": self.sample_rate,
                "clip_seconds": self.clip_samples / self.sample_rate}

    def adapt_to_dataset(self, dataset):
        if self.text_vectorizer is None:
            return
        texts = dataset.map(lambda inputs, *rest: inputs["text"])
        self.adapt_text(texts)

    def evaluate_dataset(self, dataset):
        """accuracy, f1_macro, f1_weighted, f1 of each class (`f1_<label>`), loss
        (cross-entropy) and the number of examples."""
        scores, labels = self.predict_dataset(dataset)
        predicted = scores.argmax(-1)
        per_class, _ = f1_per_class(labels, predicted, self.num_classes)
        results = {
            "accuracy": accuracy(labels, predicted),
            "f1_macro": macro_f1(labels, predicted, self.num_classes),
            "f1_weighted": weighted_f1(labels, predicted, self.num_classes),
            **{f"f1_{label}": float(value) for label, value in zip(self.labels, per_class)},
            "examples": int(len(labels)),
        }
        if self._task_config["activation"] == "softmax":
            results["loss"] = cross_entropy(labels, scores)
        return results

def unimodal_loss(labels, logits, presence):
    """Mean sparse cross-entropy of per-modality logits `[B, M, C]` over present entries."""
    logits = ops.cast(logits, "float32")
    labels = ops.reshape(ops.cast(labels, "int32"), (-1, 1))
    labels = ops.broadcast_to(labels, ops.shape(logits)[:2])
    losses = keras.losses.sparse_categorical_crossentropy(labels, logits, from_logits=True)
    presence = ops.cast(presence, "float32")
    return ops.sum(losses * presence) / ops.maximum(ops.sum(presence), 1.0)


def _check_modalities(modalities):
    if isinstance(modalities, str):
        modalities = (modalities,)
    modalities = list(modalities)
    unknown = [m for m in modalities if m not in MODALITIES]
    if unknown or not modalities or len(set(modalities)) != len(modalities):
        raise ValueError(
            f"modalities must be distinct names from {MODALITIES}, received {modalities}."
        )
    return modalities
