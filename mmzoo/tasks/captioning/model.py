"""Image captioning: an image backbone's feature grid + an autoregressive caption decoder.

Two decoders share one task class, the training recipe, and in-graph decoding
(`mmzoo.tasks.captioning.decoding`: greedy, beam search, sampling, with key/value caching):

- `decoder="lstm_attention"`: Show, Attend and Tell (Xu et al. 2015): an LSTM with soft
  (Bahdanau) attention over the grid, the gating scalar beta, a deep output layer, and the
  doubly stochastic attention regulariser added to the loss in training.
- `decoder="transformer"`: the grid (projected, with learned positions and
  `encoder_layers` self-attention blocks) as memory for a pre-norm Transformer decoder
  with causal self-attention and cross-attention.

>>> model = Captioner(decoder="transformer", image_backbone="simple_cnn", image_size=64)
>>> model.adapt_text(["A dog runs on the grass.", "Two people ride bikes."])
>>> model({"image": pixels, "caption": ids})        # [B, T, vocab_size] float32 logits
>>> model.generate(pixels, num_beams=3)["captions"]  # ['a dog runs on the grass', ...]

Training pairs: `prepare_dataset` turns `{"image", "captions": [B, 5] strings}` batches
(flickr8k, coco_captions) into `({"image", "caption": [start, w1, ..., wn]}, [w1, ...,
wn, end])` pairs. In training (`fit`) each image contributes `captions_per_image` of its
captions per epoch (default 1, drawn at random again every epoch, so an epoch is one pass
over the images); validation and `evaluate` use all of them.

Pretrained parts: `image_backbone="efficientnet_lite0", image_weights="imagenet"` (the
presets) and `word_embeddings="glove.6B.50d"`, which makes the decoder's token table
50 wide (projected to the decoder's width) and fills it with GloVe rows for the adapted
vocabulary. With the backbone frozen (`mmzoo.freeze_backbones`) and no augmentation,
`fit` computes the image grids once and trains the rest on them (`feature_split`): the
cache keeps every caption of an image beside its grid, and the captions of each epoch
are drawn from them, as without the cache.
"""


import keras
import numpy as np
import tensorflow as tf

from mmzoo.backbones import build_backbone
from mmzoo.preprocessing import check_vocabulary, text_vectorizer
from mmzoo.preprocessing.text import RESERVED_TOKENS, vocabulary_of
from mmzoo.registry import TASKS
from mmzoo.tasks.base import Task
from mmzoo.tasks.building import config_options, constructor_defaults
from mmzoo.tasks.captioning import decoding
from mmzoo.tasks.captioning import metrics as caption_metrics
from mmzoo.tasks.captioning.decoders import (
    AttentionLSTMDecoder,
    TransformerCaptionDecoder,
)
from mmzoo.tasks.captioning.generation import CaptionGeneration, forget_decoders
from mmzoo.tasks.captioning.image_encoder import embedding_width, image_encoder
from mmzoo.tasks.captioning.losses import CaptionLoss
from mmzoo.tasks.captioning.pairs import (
    caption_rows,
    captioner_split,
    captions_of,
    choose_captions,
)
from mmzoo.tasks.captioning.tokens import (
    END_ID,
    END_TOKEN,
    START_ID,
    START_TOKEN,
    with_special_tokens,
)
from mmzoo.tasks.feature_cache import with_step_seeds

DECODERS = ("transformer", "lstm_attention")


@TASKS.register("captioner")
@keras.saving.register_keras_serializable(package="mmzoo")
class Captioner(CaptionGeneration, Task):
    """Image -> caption model with teacher-forced training and in-graph decoding.

    Args:
        decoder: "transformer" or "lstm_attention" (Show, Attend and Tell).
        image_backbone: a name from `BACKBONES` (image); `image_options` its arguments,
            `image_size` the side it sees, `image_weights` None / "imagenet" / a path
            for keras.applications backbones.
        vocab_size: size of the output layer: padding, [UNK], <start>, <end> and at most
            `vocab_size - 4` words. `vocabulary`: the words (the special tokens are
            added in front when missing); built by `adapt_text` from the training
            captions, keeping words seen at least `min_word_count` times.
        sequence_length: decoder positions = the longest caption in tokens (words + end);
            longer captions are cut in training; the default `max_length` of `generate`.
        embed_dim: token embedding (and Transformer model) width; `feature_dim`: width
            of the projected image features (LSTM decoder; the Transformer uses
            `embed_dim`); `num_layers`, `num_heads`, `ffn_dim`: the Transformer decoder;
            `encoder_layers`: self-attention blocks over the grid (Transformer only).
        lstm_units, attention_units: the LSTM decoder and its attention MLP.
        dropout: dropout of the decoder (and the Transformer encoder blocks).
        attention_regularizer: lambda of the doubly stochastic attention loss (LSTM).
        augment: random horizontal flips of the images in training.
        label_smoothing: of the caption cross-entropy.
        word_embeddings: None, or pretrained word vectors ("glove.6B.50d") for the
            decoder's token table, written for the vocabulary when it is adapted (or
            given); `embedding_dim`: the table's width (default: the source's width with
            `word_embeddings`, else `embed_dim`), projected to `embed_dim` when narrower.
        captions_per_image: captions per image per training epoch (1..5), see above.
        num_beams, length_penalty: default decoding of `generate`, pipelines, serving
            and `evaluate_dataset`.
    """

    input_dtype_kinds = {
        "image": ("fiu", "pixel values 0..255"),
        "caption": ("iu", "integer token ids"),
    }

    def __init__(
        self,
        decoder="transformer",
        image_backbone="simple_cnn",
        image_options=None,
        image_size=None,
        image_weights=None,
        vocab_size=5000,
        sequence_length=20,
        vocabulary=None,
        min_word_count=1,
        embed_dim=256,
        feature_dim=256,
        num_layers=2,
        num_heads=4,
        ffn_dim=1024,
        encoder_layers=1,
        lstm_units=512,
        attention_units=256,
        dropout=0.1,
        attention_regularizer=1.0,
        augment=True,
        label_smoothing=0.0,
        captions_per_image=1,
        num_beams=3,
        length_penalty=1.0,
        word_embeddings=None,
        embedding_dim=None,
        **kwargs,
    ):
        if decoder not in DECODERS:
            raise ValueError(f"decoder must be one of {DECODERS}, received {decoder!r}.")
        sequence_length, vocab_size = int(sequence_length), int(vocab_size)
        if sequence_length < 2:
            raise ValueError(f"sequence_length must be at least 2, received {sequence_length}.")
        if vocab_size < RESERVED_TOKENS + 3:
            raise ValueError(f"vocab_size must be at least 5, received {vocab_size}.")
        if not 1 <= int(captions_per_image) <= 5:
            raise ValueError(
                f"captions_per_image must be 1..5, received {captions_per_image}.")
        decoding.check_decoding_arguments(sequence_length, int(num_beams),
                                          length_penalty=length_penalty)
        vocabulary = with_special_tokens(vocabulary)
        embedding_dim = embedding_width(word_embeddings, embedding_dim)
        options = dict(image_options or {})
        options.setdefault("weights", image_weights)
        if image_size is not None:
            options.setdefault("image_size", image_size)
        backbone = build_backbone("image", image_backbone, name="image_backbone", **options)

        transformer = decoder == "transformer"
        memory_dim = embed_dim if transformer else feature_dim
        encoder = image_encoder(backbone, memory_dim, transformer,
                                encoder_layers if transformer else 0, num_heads, ffn_dim,
                                dropout, augment)
        if transformer:
            caption_decoder = TransformerCaptionDecoder(
                vocab_size, sequence_length, embed_dim, num_layers, num_heads, ffn_dim,
                dropout, embedding_dim=embedding_dim, name="caption_decoder")
        else:
            caption_decoder = AttentionLSTMDecoder(
                vocab_size, embed_dim, lstm_units, attention_units, dropout,
                attention_regularizer, embedding_dim=embedding_dim, name="caption_decoder")
        inputs = {
            "image": keras.Input((None, None, 3), dtype="float32", name="image"),
            "caption": keras.Input((None,), dtype="int32", name="caption"),
        }
        logits = caption_decoder(inputs["caption"], encoder(inputs["image"]))
        super().__init__(inputs=inputs, outputs=logits, **kwargs)

        self.image_encoder = encoder
        self.caption_decoder = caption_decoder
        self.image_size = backbone.get_layer("resize").height
        self.sequence_length = sequence_length
        self.vocab_size = vocab_size
        self.min_word_count = int(min_word_count)
        self.captions_per_image = int(captions_per_image)
        self.num_beams = int(num_beams)
        self.length_penalty = float(length_penalty)
        self.text_vectorizer = text_vectorizer(
            vocab_size, sequence_length - 1, vocabulary, name="caption_vectorizer")
        self._record_pretrained_init(image_weights=image_weights, image_options=image_options,
                                     word_embeddings=word_embeddings)
        self._set_config({
            "decoder": decoder,
            "image_backbone": image_backbone,
            "image_options": config_options(image_options),
            "image_size": image_size,
            # Trained weights come from the saved file, never a fresh download.
            "image_weights": None,
            "vocab_size": vocab_size,
            "sequence_length": sequence_length,
            "min_word_count": self.min_word_count,
            "embed_dim": embed_dim,
            "feature_dim": feature_dim,
            "num_layers": num_layers,
            "num_heads": num_heads,
            "ffn_dim": ffn_dim,
            "encoder_layers": encoder_layers,
            "lstm_units": lstm_units,
            "attention_units": attention_units,
            "dropout": dropout,
            "attention_regularizer": attention_regularizer,
            "augment": augment,
            "label_smoothing": label_smoothing,
            "captions_per_image": self.captions_per_image,
            "num_beams": self.num_beams,
            "length_penalty": self.length_penalty,
            # Like image_weights: the vectors come from the saved file on reload.
            "word_embeddings": None,
            "embedding_dim": embedding_dim,
        })
        if vocabulary:
            self._initialize_embeddings()

    @classmethod
    def summarize_config(cls, config):
        """Modalities, backbones and "fusion" (the decoder's attention) of a config."""
        config = {**constructor_defaults(cls), **config}
        decoder = config["decoder"]
        return {
            "modalities": ["image", "text"],
            "backbones": {"image": config["image_backbone"],
                          "text": "transformer decoder" if decoder == "transformer"
                          else "lstm decoder"},
            "fusion": "cross_attention" if decoder == "transformer" else "soft_attention",
        }

    # ----- vocabulary --------------------------------------------------------------
    @property
    def text_vectorizers(self):
        return {"caption": self.text_vectorizer}

    @property
    def vocabulary(self):
        """Every token by id: "", "[UNK]", "<start>", "<end>", then the words."""
        check_vocabulary(self.text_vectorizer, type(self).__name__)
        return [str(w) for w in self.text_vectorizer.get_vocabulary()]

    def adapt_text(self, texts, input_name=None, batch_size=256):
        """Builds the vocabulary from captions (a list of strings or a string dataset):
        the special tokens, then words by decreasing count (ties alphabetical) seen at
        least `min_word_count` times, at most `vocab_size - 4` of them."""
        if isinstance(texts, tf.data.Dataset):
            texts = [t for batch in texts.batch(batch_size).as_numpy_iterator()
                     for t in np.reshape(batch, [-1])]
        elif isinstance(texts, (str, bytes)):
            texts = [texts]
        counts = {}
        for text in texts:
            for word in caption_metrics.tokenize(text):
                counts[word] = counts.get(word, 0) + 1
        words = sorted((w for w, c in counts.items() if c >= self.min_word_count
                        and w not in (START_TOKEN, END_TOKEN)),
                       key=lambda w: (-counts[w], w))
        words = words[: self.vocab_size - RESERVED_TOKENS - 2]
        if not words:
            raise ValueError(
                f"No word occurs at least min_word_count={self.min_word_count} times in "
                f"the {len(texts)} captions given; cannot build a vocabulary.")
        self.text_vectorizer.set_vocabulary([START_TOKEN, END_TOKEN] + words)
        forget_decoders(self)
        self._initialize_embeddings()
        return self

    def _initialize_embeddings(self):
        """Writes the `word_embeddings` vectors of the vocabulary (<start>, <end>, then
        the words, from id 2) into the decoder's token table; returns {"caption":
        coverage}, or {} without pretrained word vectors or vocabulary."""
        from mmzoo.pretrained.glove import initialize_embedding

        source = self.pretrained_init.get("word_embeddings")
        words = vocabulary_of(self.text_vectorizer) if source else []
        coverage = {}
        if words:
            coverage["caption"] = initialize_embedding(self.caption_decoder.token_embedding,
                                                       words, source)
        self.embedding_coverage = coverage
        return coverage

    def caption_ids(self, captions):
        """Graph-side: caption strings `[N]` -> (decoder inputs `[start, w1..wn]`,
        targets `[w1..wn, end]`), both int32 `[N, sequence_length]`, 0-padded."""
        words = tf.cast(self.text_vectorizer(captions), tf.int32)
        lengths = tf.reduce_sum(tf.cast(words > 0, tf.int32), axis=1)
        rows = tf.shape(words)[0]
        inputs = tf.concat([tf.fill([rows, 1], START_ID), words], axis=1)
        targets = tf.concat([words, tf.zeros([rows, 1], tf.int32)], axis=1)
        end = tf.equal(tf.range(self.sequence_length)[None], lengths[:, None])
        return inputs, tf.where(end, END_ID, targets)

    # ----- training ----------------------------------------------------------------
    def compile(self, optimizer="auto", loss="auto", metrics="auto", **kwargs):
        """Adam(1e-3) and `CaptionLoss` (masked token cross-entropy) unless given; no
        XLA by default (slower to compile, and no faster for these models on CPU)."""
        super().compile(
            optimizer=keras.optimizers.Adam(1e-3) if optimizer == "auto" else optimizer,
            loss=(CaptionLoss(self._task_config["label_smoothing"]) if loss == "auto"
                  else loss),
            metrics=None if metrics == "auto" else metrics,
            **{"jit_compile": False, **kwargs},
        )

    def missing_input_message(self, name):
        return (f"Input '{name}' is missing: the captioner's forward pass takes "
                "{'image': pixels [B, H, W, 3], 'caption': token ids [B, T]}; "
                "to caption images use model.generate(images).")

    # ----- data sets -----------------------------------------------------------------
    def caption_pairs(self, inputs, training=False, seed=None):
        """Graph-side: a batch `{"image", "captions": [B, C]}` (or `"caption": [B]`
        strings) -> `({"image", "caption"}, targets)` with one row per caption used.

        All C captions of each image are used, or in training `captions_per_image` of
        them drawn at random (stateless, from `seed`).
        """
        images, captions = caption_rows(inputs["image"], captions_of(inputs),
                                        self.captions_per_image, training, seed)
        caption_inputs, targets = self.caption_ids(captions)
        return {"image": tf.cast(images, tf.float32), "caption": caption_inputs}, targets

    def prepare_dataset(self, dataset, training=False):
        """Maps `caption_pairs` over a batched dataset of caption dicts (drawing the
        captions of each step anew every epoch in training); datasets of `(inputs,
        targets)` tuples get `convert_inputs` only."""
        if isinstance(dataset.element_spec, tuple):
            return super().prepare_dataset(dataset)
        if training:
            return with_step_seeds(dataset).map(
                lambda inputs, seed: self.caption_pairs(inputs, True, seed),
                num_parallel_calls=tf.data.AUTOTUNE)
        return dataset.map(self.caption_pairs, num_parallel_calls=tf.data.AUTOTUNE)

    def convert_inputs(self, inputs):
        if isinstance(inputs, dict) and "caption" in inputs and \
                inputs["caption"].dtype == tf.string:
            inputs = {**inputs, "caption": self.caption_ids(inputs["caption"])[0]}
        return super().convert_inputs(inputs)

    # ----- training on cached image grids ---------------------------------------------
    def feature_split(self):
        """Cut inside the image encoder after the frozen backbone (see `captioner_split`)."""
        return captioner_split(self)

    def cache_inputs(self, dataset):
        """`(pixels, captions [B, C] strings)`: the grid is computed once per image and
        every caption kept beside it; `(inputs, targets)` datasets keep their pairs."""
        def split(*element):
            if len(element) > 1:
                inputs = self.convert_inputs(element[0])
                return tf.cast(inputs["image"], tf.float32), {
                    "caption": inputs["caption"], "targets": element[1]}
            inputs = element[0]
            return tf.cast(inputs["image"], tf.float32), {"captions": captions_of(inputs)}

        return dataset.map(split, num_parallel_calls=tf.data.AUTOTUNE)

    def head_dataset(self, cached, training=False):
        """Batches of cached `((grid,), captions [B, C])` -> `((grid, caption ids [B, k,
        T]), targets [B * k, T])`: in training k = `captions_per_image` captions of each
        image, drawn anew every epoch; otherwise all C."""
        def pairs(features, carried, seed=None):
            if "targets" in carried:
                return (features[0], carried["caption"][:, None]), carried["targets"]
            captions = choose_captions(carried["captions"], self.captions_per_image,
                                       training, seed)
            caption_inputs, targets = self.caption_ids(tf.reshape(captions, [-1]))
            shape = tf.concat([tf.shape(captions), [self.sequence_length]], 0)
            return (features[0], tf.reshape(caption_inputs, shape)), targets

        if training:
            return with_step_seeds(cached).map(
                lambda element, seed: pairs(*element, seed=seed),
                num_parallel_calls=tf.data.AUTOTUNE)
        return cached.map(pairs, num_parallel_calls=tf.data.AUTOTUNE)

    def dataset_options(self):
        """Load images at the backbone's size (no second resize)."""
        return {"image_size": self.image_size}

    def adapt_to_dataset(self, dataset):
        """Builds the vocabulary from the training captions."""
        captions = []
        for element in dataset:
            inputs = element[0] if isinstance(element, tuple) else element
            key = "captions" if "captions" in inputs else "caption"
            captions.extend(t.decode("utf-8") for t in np.reshape(inputs[key].numpy(), [-1]))
        self.adapt_text(captions)

    def evaluate_dataset(self, dataset, **generate_options):
        """Captions every image (default decoding: beam search with `num_beams`) and
        scores them against the data set's references: bleu1..bleu4, cider (CIDEr-D),
        distinct_captions and examples."""
        references, hypotheses = [], []
        for element in dataset:
            inputs = element[0] if isinstance(element, tuple) else element
            if "captions" not in inputs:
                raise ValueError("evaluate_dataset needs {'image', 'captions'} batches.")
            hypotheses.extend(self.generate(inputs["image"], **generate_options)["captions"])
            references.extend([[c.decode("utf-8") for c in row]
                               for row in inputs["captions"].numpy()])
        if not hypotheses:
            raise ValueError("The dataset is empty: nothing to evaluate.")
        scores = caption_metrics.caption_scores(references, hypotheses)
        return {**scores, "distinct_captions": len(set(hypotheses)),
                "examples": len(hypotheses)}
