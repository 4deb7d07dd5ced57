"""Visual question answering: answer classification over a fixed answer vocabulary.

>>> model = VQA(answers=["yes", "no", "red", "circle"], fusion="stacked_attention")
>>> model.adapt_text(["what color is the shape?", "is there a circle?"])
>>> model({"image": pixels, "question": ids}).shape   # (B, 4) answer probabilities
>>> model.preprocess(image="shape.png", question="what color is the shape?")

Inputs: `"image"` float32 `[B, H, W, 3]` raw pixels 0..255 of any size (the image
backbone resizes) and `"question"` int32 token ids `[B, T]` (0 = padding) from the
model's `TextVectorization` (`model.question_vectorizer`, vocabulary stored in the
config). Output: float32 softmax over `answers`, `[B, len(answers)]`.

Presets (`mmzoo.presets`): `vqa_concat` (CNN + question encoder, element-wise product,
MLP: the easy-VQA baseline design), `vqa_san` (Stacked Attention Networks, Yang et al.
2016), `vqa_mfb` (MFB with co-attention, Yu et al. 2017), `vqa_rn` (Relation Network,
Santoro et al. 2017). `modalities=("question",)` gives the question-only baseline.

Labels in data sets are answer strings; `convert_labels` maps them to answer ids
graph-side. An answer that is not in `answers` gets id -1, which the loss ignores
(`AnswerCrossEntropy`: masked, not an error; the mean runs over the other examples)
and `evaluate_dataset` counts as wrong (and in `out_of_vocabulary`).

Raw inputs (`preprocess`, `mmzoo.pipeline`, the exported `serving_default`): images as
paths, encoded bytes (PNG/JPEG/GIF/BMP) or arrays; grayscale is repeated to RGB, the
alpha channel of RGBA is dropped and any size is resized to the backbone's
`image_size`. Questions are strings, lower-cased with punctuation stripped; words
outside the vocabulary become the `[UNK]` id, and an empty question (or one longer than
`sequence_length` words, which is cut) still gets an answer: the question encoder then
sees no word (only padding) and the answer comes from the image and the model's prior.
The model's own tensor inputs must be RGB `[B, H, W, 3]` and int token ids; anything
else raises a ValueError naming the input.
"""


import keras
import numpy as np
import tensorflow as tf

from mmzoo.backbones import build_backbone
from mmzoo.preprocessing import (
    as_string_batch,
    check_vocabulary,
    decode_images,
    load_images,
)
from mmzoo.registry import FUSIONS, TASKS
from mmzoo.tasks.base import Task
from mmzoo.tasks.building import (
    config_options,
    constructor_defaults,
    dense_head,
    text_tokenizer,
)
from mmzoo.tasks.classification.metrics import cross_entropy
from mmzoo.tasks.vqa.losses import AnswerCrossEntropy
from mmzoo.tasks.vqa.metrics import vqa_metrics

MODALITIES = ("image", "question")
_INPUT_SPECS = {"image": ((None, None, 3), "float32"), "question": ((None,), "int32")}
IMAGE_POOLINGS = ("average", "flatten")
# Answers returned per example by the exported `serving_default`.
SERVING_TOP_K = 5
_OOV_ANSWER = "[answer not in the vocabulary]"


@TASKS.register("vqa")
@keras.saving.register_keras_serializable(package="mmzoo")
class VQA(Task):
    """Visual question answering as classification over `answers`.

    Args:
        answers: the answer vocabulary (distinct strings, at least 2), in output order.
        modalities: ("image", "question"), or ("question",) for the question-only
            baseline (no image input; the head sits on the question encoding and
            `fusion` is unused).
        fusion: a name from `mmzoo.registry.FUSIONS`; `fusion_options` its arguments.
            Pooled fusions (`hadamard`, `mfb`, `concat`, ...) get the image and question
            vectors; sequence fusions get the image grid (`sequence` output of the image
            backbone, `[B, h * w, C]`) and the question's pooled vector
            (`stacked_attention`, `relation`) or its word states and padding mask
            (`mfb_coattention`, `cross_transformer`).
        image_backbone, text_backbone: names from `BACKBONES` (the text backbone encodes
            the question); `image_options`, `text_options` their extra arguments.
        image_size: side of the square image the backbone sees (its default if None).
        image_weights: None, "imagenet" or a path, for keras.applications backbones.
        image_pooling: the image vector given to pooled fusions: "average" (the
            backbone's global average) or "flatten" (the whole feature grid, as in the
            easy-VQA baseline and the CNN+MLP of Santoro et al., keeping positions).
        vocab_size, sequence_length, vocabulary: the question's `TextVectorization`.
        head_units, dropout: hidden layers (ReLU) and dropout of the answer head.
        activation: of the output ("softmax" probabilities, or None for logits).
    """

    input_dtype_kinds = {
        "image": ("fiu", "pixel values 0..255"),
        "question": ("iu", "integer token ids"),
    }

    def __init__(
        self,
        answers=("yes", "no"),
        modalities=MODALITIES,
        fusion="hadamard",
        fusion_options=None,
        image_backbone="simple_cnn",
        text_backbone="bigru",
        image_options=None,
        text_options=None,
        image_size=None,
        image_weights=None,
        image_pooling="average",
        vocab_size=1000,
        sequence_length=20,
        vocabulary=None,
        head_units=(),
        dropout=0.0,
        activation="softmax",
        **kwargs,
    ):
        answers = _check_answers(answers)
        modalities = _check_modalities(modalities)
        if image_pooling not in IMAGE_POOLINGS:
            raise ValueError(
                f"image_pooling must be one of {IMAGE_POOLINGS}, received {image_pooling!r}.")
        image_opts = dict(image_options or {})
        image_opts.setdefault("weights", image_weights)
        if image_size is not None:
            image_opts.setdefault("image_size", image_size)
        text_opts = dict(text_options or {})
        text_opts.setdefault("vocab_size", vocab_size)
        if text_backbone == "transformer":
            text_opts.setdefault("max_length", sequence_length)
        fusion_options = dict(fusion_options or {})

        inputs = {m: keras.Input(_INPUT_SPECS[m][0], dtype=_INPUT_SPECS[m][1], name=m)
                  for m in modalities}
        question = build_backbone("text", text_backbone, name="question_backbone",
                                  **text_opts)(inputs["question"])
        image_encoder = None
        if "image" in modalities:
            image_encoder = build_backbone("image", image_backbone, name="image_backbone",
                                           **image_opts)
            image = image_encoder(inputs["image"])
            fused, fused_logits = _fuse(fusion, fusion_options, image, question,
                                        image_pooling, len(answers))
        else:
            fused, fused_logits = question["pooled"], False

        if fused_logits:
            logits = fused
        else:
            logits = dense_head(fused, head_units, dropout, len(answers))
        predictions = keras.layers.Activation(
            activation, dtype="float32", name="predictions")(logits)
        super().__init__(inputs=inputs, outputs=predictions, **kwargs)

        self.answers = answers
        self.modalities = modalities
        self.image_size = (image_encoder.get_layer("resize").height
                           if image_encoder is not None else None)
        self.question_vectorizer = text_tokenizer(text_backbone, text_opts, vocab_size,
                                                  sequence_length, vocabulary,
                                                  name="question_vectorizer")
        self._record_pretrained_init(image_weights=image_weights, text_options=text_options,
                                     image_options=image_options)
        self.answer_lookup = keras.layers.StringLookup(
            vocabulary=answers, num_oov_indices=1, oov_token=_OOV_ANSWER, mask_token=None,
            name="answer_lookup")
        self._set_config({
            "answers": answers,
            "modalities": modalities,
            "fusion": fusion,
            "fusion_options": {k: v for k, v in fusion_options.items()
                               if k != "num_classes"},
            "image_backbone": image_backbone,
            "text_backbone": text_backbone,
            "image_options": config_options(image_options),
            "text_options": config_options(text_options),
            "image_size": image_size,
            # Trained weights come from the saved file, never a fresh download.
            "image_weights": None,
            "image_pooling": image_pooling,
            "vocab_size": vocab_size,
            "sequence_length": sequence_length,
            "head_units": list(head_units),
            "dropout": dropout,
            "activation": activation,
        })
        if vocabulary:
            self._initialize_embeddings()

    @classmethod
    def summarize_config(cls, config):
        """Modalities, backbones and fusion of a config, without building the model."""
        config = {**constructor_defaults(cls), **config}
        modalities = _check_modalities(config["modalities"])
        backbones = {"image": config["image_backbone"], "question": config["text_backbone"]}
        return {
            "modalities": modalities,
            "backbones": {m: backbones[m] for m in modalities},
            "fusion": config["fusion"] if "image" in modalities else "none",
        }

    # ----- vocabularies --------------------------------------------------------------
    @property
    def labels(self):
        """The answers, in output order (the name pipelines and exports share)."""
        return list(self.answers)

    @property
    def num_answers(self):
        return len(self.answers)

    @property
    def text_vectorizer(self):
        """The question's `TextVectorization` (same as `question_vectorizer`)."""
        return self.question_vectorizer

    @property
    def text_vectorizers(self):
        return {"question": self.question_vectorizer}

    @property
    def text_backbones(self):
        return {"question": self.get_layer("question_backbone")}

    def answer_ids(self, answers):
        """Graph-side: answer strings -> ids (-1 for answers not in the vocabulary)."""
        return tf.cast(self.answer_lookup(answers), tf.int32) - 1

    # ----- training ----------------------------------------------------------------
    def compile(self, optimizer="auto", loss="auto", metrics="auto", **kwargs):
        """Adam(1e-3), `AnswerCrossEntropy` (sparse categorical cross-entropy that
        ignores label -1, answers outside the vocabulary) and accuracy unless given."""
        from_logits = self._task_config["activation"] is None
        super().compile(
            optimizer=keras.optimizers.Adam(1e-3) if optimizer == "auto" else optimizer,
            loss=AnswerCrossEntropy(from_logits) if loss == "auto" else loss,
            metrics=["accuracy"] if metrics == "auto" else metrics,
            **kwargs,
        )

    def convert_labels(self, labels):
        """Answer strings -> int32 answer ids (-1 outside the vocabulary); ids pass."""
        if labels.dtype == tf.string:
            return self.answer_ids(labels)
        return labels

    # ----- data sets -----------------------------------------------------------------
    @classmethod
    def dataset_overrides(cls, info, element_spec, config):
        """The data set's answer vocabulary; checks it has the model's inputs."""
        inputs = element_spec[0] if isinstance(element_spec, tuple) else element_spec
        wanted = _check_modalities(config.get("modalities", constructor_defaults(cls)["modalities"]))
        missing = [m for m in wanted if m not in inputs]
        if missing:
            raise ValueError(
                f"The data set has inputs {sorted(inputs)}; the model needs {missing}.")
        answers = info.get("answers")
        return {"answers": [str(a) for a in answers]} if answers else {}

    def dataset_options(self):
        return {}

    def adapt_to_dataset(self, dataset):
        """Builds the question vocabulary from a batched training dataset."""
        self.adapt_text(dataset.map(lambda inputs, *rest: inputs["question"]))

    def predict_answers(self, dataset):
        """Runs a batched `(inputs, answers, ...)` dataset.

        Returns `(scores [N, A], answers [N] str, relational [N] bool or None)`; the
        `relational` flag (Sort-of-CLEVR) is read from the raw inputs.
        """
        step = tf.function(lambda x: self(x, training=False), reduce_retracing=True)
        scores, answers, relational = [], [], []
        for element in dataset:
            if not isinstance(element, tuple) or len(element) < 2:
                raise ValueError("evaluate_dataset needs (inputs, answer) elements.")
            inputs, labels = element[0], element[1]
            scores.append(np.asarray(step(self.convert_inputs(inputs))))
            answers.append(_as_answer_strings(labels.numpy(), self.answers))
            if isinstance(inputs, dict) and "relational" in inputs:
                relational.append(np.asarray(inputs["relational"]).astype(bool))
        if not scores:
            raise ValueError("The dataset is empty: nothing to evaluate.")
        flags = np.concatenate(relational) if relational else None
        return np.concatenate(scores), np.concatenate(answers), flags

    def evaluate_dataset(self, dataset):
        """accuracy, yes_no_accuracy and other_accuracy (by whether the true answer is
        yes/no), relational_accuracy and non_relational_accuracy when the inputs carry
        the `relational` flag, loss (cross-entropy over in-vocabulary answers),
        examples and out_of_vocabulary (answers outside `answers`, counted wrong)."""
        scores, truth, relational = self.predict_answers(dataset)
        predicted = np.asarray(self.answers, dtype=object)[scores.argmax(-1)]
        results = vqa_metrics(truth, predicted, relational)
        index = {answer: i for i, answer in enumerate(self.answers)}
        ids = np.array([index.get(a, -1) for a in truth])
        known = ids >= 0
        results["out_of_vocabulary"] = int((~known).sum())
        if self._task_config["activation"] == "softmax" and known.any():
            results["loss"] = cross_entropy(ids[known], scores[known])
        return results

    # ----- raw inputs --------------------------------------------------------------
    def preprocess(self, image=None, question=None):
        """Raw inputs -> model inputs (numpy).

        image: a path, encoded bytes or an array (`[H, W]`, `[H, W, 1]`, `[H, W, 3]` or
        `[H, W, 4]`), or a list of them; resized to `image_size`. question: a string
        or a list of strings. One image with several questions (or one question with
        several images) is repeated to match.
        """
        if image is not None and "image" not in self.modalities:
            raise ValueError(
                f"This model takes {self.modalities}; it has no 'image' input.")
        if question is None:
            raise ValueError("'question' is required: a string or a list of strings.")
        if image is None and "image" in self.modalities:
            raise ValueError("'image' is required: a path, encoded bytes or an array, "
                             "or a list of them.")
        check_vocabulary(self.question_vectorizer, type(self).__name__)
        questions = as_string_batch(question, "question")
        if len(questions) == 0:
            raise ValueError("'question' is an empty batch; pass at least one string.")
        ids = self.question_vectorizer(questions).numpy().astype("int32")
        inputs = {"question": ids}
        if image is not None:
            images = load_images(image, self.image_size)
            if len(images) != len(ids):
                if len(images) == 1:
                    images = np.repeat(images, len(ids), axis=0)
                elif len(ids) == 1:
                    inputs["question"] = np.repeat(ids, len(images), axis=0)
                else:
                    raise ValueError(
                        f"'image' has {len(images)} examples and 'question' "
                        f"{len(ids)}; pass as many of each (or one of either).")
            inputs["image"] = images
        return inputs

    def raw_signature(self):
        """The exported raw endpoint: encoded image bytes and question strings `[B]`."""
        return {m: tf.TensorSpec((None,), tf.string, name=m) for m in self.modalities}

    def preprocess_raw(self, raw):
        """Graph version of `preprocess` for the export (image bytes, strings)."""
        inputs = {"question": tf.cast(self.question_vectorizer(raw["question"]), tf.int32)}
        if "image" in raw:
            inputs["image"] = decode_images(raw["image"], self.image_size)
        return inputs

    def postprocess_raw(self, predictions):
        """Serving outputs: the top `min(5, len(answers))` answers and their scores."""
        top = tf.math.top_k(predictions, k=min(SERVING_TOP_K, self.num_answers))
        return {"answers": tf.gather(tf.constant(self.answers), top.indices),
                "scores": top.values}


def _fuse(fusion, options, image, question, image_pooling, num_answers):
    """(fused, is_logits): the image and question encodings fused by `fusion`."""
    fusion_class = FUSIONS.get(fusion)
    if fusion_class.auxiliary_outputs:
        raise ValueError(f"Fusion {fusion!r} returns auxiliary outputs, which VQA does "
                         "not train; use another fusion.")
    if fusion_class.produces_logits:
        options = {**options, "num_classes": num_answers}
    layer = fusion_class(list(MODALITIES), name="fusion", **options)
    masks = None
    if fusion_class.input_kind == "sequence":
        features = {"image": image["sequence"]}
        if getattr(fusion_class, "pooled_queries", False):
            features["question"] = question["pooled"]
        else:
            features["question"] = question["sequence"]
            masks = {"question": question["sequence_mask"]}
    else:
        vector = image["pooled"]
        if image_pooling == "flatten":
            vector = keras.layers.Flatten(name="image_flatten")(image["sequence"])
        features = {"image": vector, "question": question["pooled"]}
    return layer(features, sequence_masks=masks), fusion_class.produces_logits


def _check_answers(answers):
    if isinstance(answers, str) or answers is None:
        raise ValueError(f"answers must be a list of strings, received {answers!r}.")
    answers = [str(a) for a in answers]
    if len(answers) < 2 or len(set(answers)) != len(answers) or "" in answers:
        raise ValueError(
            f"answers must be at least 2 distinct non-empty strings, received {answers!r:.200}.")
    return answers


def _check_modalities(modalities):
    if isinstance(modalities, str):
        modalities = (modalities,)
    modalities = list(modalities)
    if ("question" not in modalities or any(m not in MODALITIES for m in modalities)
            or len(set(modalities)) != len(modalities)):
        raise ValueError(
            f"VQA modalities must be ('image', 'question') or ('question',), "
            f"received {modalities}.")
    return [m for m in MODALITIES if m in modalities]



def _as_answer_strings(labels, answers):
    """Batch labels (answer strings as bytes, or answer ids) -> numpy array of str."""
    labels = np.asarray(labels)
    if labels.dtype.kind in "iu":
        return np.array([answers[i] if 0 <= i < len(answers) else _OOV_ANSWER
                         for i in labels], dtype=object)
    return np.array([a.decode() if isinstance(a, bytes) else str(a) for a in labels],
                    dtype=object)
