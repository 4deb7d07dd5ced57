"""The retriever's raw inputs: strings and image files, bytes or arrays in Python
(`preprocess`) and in the exported graph (`preprocess_raw`), and the SavedModel
endpoints (`serve`, `encode_image`, `encode_text`, `serve_tensors`). `Retriever` mixes
this in.

>>> model.preprocess(text=["a dog in the snow"], image="dog.jpg")
"""

import tensorflow as tf

from mmzoo.preprocessing import (
    as_string_batch,
    check_vocabulary,
    decode_images,
    load_images,
    vectorize,
)
from mmzoo.preprocessing.text import UNK_ID
from mmzoo.tasks.inputs import graph_checks

MODALITIES = ("image", "text")


class RetrieverRawInputs:
    """Raw-input and serving methods of `Retriever` (see its docstring)."""

    # ----- raw inputs --------------------------------------------------------------
    def preprocess(self, text=None, image=None):
        """Raw inputs -> model inputs (numpy) for the modalities given.

        text: a string or list of strings; image: paths, encoded bytes or arrays (any
        size; grayscale and RGBA converted), resized to `image_size`.
        """
        inputs = {}
        if text is not None:
            check_vocabulary(self.text_vectorizer)
            inputs["text"] = vectorize(self.text_vectorizer, as_string_batch(text))
        if image is not None:
            inputs["image"] = load_images(image, self.image_size)
        if not inputs:
            raise ValueError(f"No input given; this model takes {list(MODALITIES)}.")
        return inputs

    def raw_signature(self):
        """TensorSpecs of the exported raw-input endpoint: one string per example."""
        return {m: tf.TensorSpec((None,), tf.string, name=m) for m in MODALITIES}

    def preprocess_raw(self, raw):
        """Graph version of `preprocess`: encoded image bytes and strings."""
        inputs = {}
        if "text" in raw:
            inputs["text"] = tf.cast(self.text_vectorizer(raw["text"]), tf.int32)
        if "image" in raw:
            inputs["image"] = decode_images(raw["image"], self.image_size)
        return inputs

    def serving_endpoints(self):
        """`serve` (default: images and texts -> both embeddings and the logits),
        `encode_image` (image bytes -> embeddings), `encode_text` (strings ->
        embeddings, and `out_of_vocabulary`: texts with no known word, whose embedding
        means nothing) and `serve_tensors` (model inputs -> outputs). Empty batches and
        blank texts raise errors that name the input."""
        check_vocabulary(self.text_vectorizer, type(self).__name__)
        specs = self.raw_signature()

        def checked(raw):
            """Raw inputs, decoded and checked one by one (an image batch and a text
            batch may differ in size): non-empty, and every text with a word."""
            if "text" in raw:  # on the strings: subword tokenizers give blank texts ids
                not_blank = tf.debugging.Assert(
                    tf.reduce_all(tf.strings.length(tf.strings.strip(raw["text"])) > 0),
                    ["Input `text` holds an empty or blank text; every text needs a word"])
                with tf.control_dependencies([not_blank]):
                    raw = {**raw, "text": tf.identity(raw["text"])}
            inputs = {name: graph_checks({name: value})[name]
                      for name, value in self.preprocess_raw(raw).items()}
            if "text" in inputs:
                has_word = tf.debugging.Assert(
                    tf.reduce_all(tf.reduce_any(inputs["text"] > 0, axis=1)),
                    ["Input `text` holds an empty or blank text; every text needs a word"])
                with tf.control_dependencies([has_word]):
                    inputs["text"] = tf.identity(inputs["text"])
            return inputs

        def out_of_vocabulary(ids):
            return tf.reduce_all(ids <= UNK_ID, axis=1)

        def serve(raw):
            inputs = checked(raw)
            images = self.image_encoder(inputs["image"], training=False)
            texts = self.text_encoder(inputs["text"], training=False)
            return {"image_embeddings": images, "text_embeddings": texts,
                    "logits": self.similarity_logits(images, texts),
                    "text_out_of_vocabulary": out_of_vocabulary(inputs["text"])}

        def encode_image(raw):
            inputs = checked(raw)
            return {"embeddings": self.image_encoder(inputs["image"], training=False)}

        def encode_text(raw):
            inputs = checked(raw)
            return {"embeddings": self.text_encoder(inputs["text"], training=False),
                    "out_of_vocabulary": out_of_vocabulary(inputs["text"])}

        def serve_tensors(inputs):
            return dict(self(inputs, training=False))

        return {
            "serve": (serve, [specs]),
            "encode_image": (encode_image, [{"image": specs["image"]}]),
            "encode_text": (encode_text, [{"text": specs["text"]}]),
            "serve_tensors": (serve_tensors, [self.tensor_signature()]),
        }
