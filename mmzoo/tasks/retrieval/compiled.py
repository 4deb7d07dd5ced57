"""Zero-shot classification's one compiled call: encoded images and strings in, the
`[images, texts]` logits out, decoding and vectorizing inside (as the exported
SavedModel's `serve`), traced once per model.

>>> logits, ids = raw_logits(model, [jpeg_bytes], ["a photo of a dog.", "a photo of a cat."])
"""

import weakref

import tensorflow as tf

# model -> tf.function; outside Keras' attribute tracking (see mmzoo.tasks.compiled).
_FUNCTIONS = weakref.WeakKeyDictionary()


def raw_logits(model, images, texts):
    """`(logits [N, L], text ids [L, T])` as numpy for encoded images (`N` bytes) and
    `L` strings. Raises `tf.errors.InvalidArgumentError` for bytes that do not decode."""
    function = _FUNCTIONS.get(model)
    if function is None:
        function = _FUNCTIONS[model] = tf.function(
            _runner(weakref.ref(model)), input_signature=[model.raw_signature()])
    out = function({"image": tf.constant(images, tf.string),
                    "text": tf.constant(texts, tf.string)})
    return out["logits"].numpy(), out["ids"].numpy()


def _runner(model_reference):
    def run(raw):
        model = model_reference()
        inputs = model.preprocess_raw(raw)
        images = model.image_encoder(inputs["image"], training=False)
        texts = model.text_encoder(inputs["text"], training=False)
        return {"logits": model.similarity_logits(images, texts), "ids": inputs["text"]}

    return run
