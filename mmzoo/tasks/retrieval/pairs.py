"""Image-text pairs from caption data sets (`{"image", "captions": [B, C]}` batches):
one caption per image for training (drawn anew every epoch), or every caption for
evaluation; and the feature-cache split of a retriever with frozen backbones.

>>> with_step_seeds(dataset).map(lambda inputs, seed: pick_caption(inputs, "random", seed))
>>> dataset.flat_map(one_batch_per_caption)
>>> extractor, head = retriever_split(model)     # or (None, reason)
"""

import keras
import tensorflow as tf

from mmzoo.tasks.feature_cache import frozen_tower_cut, with_step_seeds


def pick_caption(inputs, captions, seed=None):
    """`{"image", "captions" [B, C]}` -> `{"image", "text" [B]}` (other keys dropped).

    captions: "random" (one per image, stateless from `seed` when given), or an index.
    """
    if not isinstance(inputs, dict) or "captions" not in inputs or "text" in inputs:
        return inputs
    texts = inputs["captions"]
    if captions == "random":
        text = tf.gather(texts, random_columns(tf.shape(texts), seed), batch_dims=1)
    elif captions == "all":
        raise ValueError("captions='all' needs the dataset split per caption first.")
    else:
        text = texts[:, int(captions)]
    return {"image": inputs["image"], "text": text}


def random_columns(shape, seed=None):
    """One column index in [0, shape[1]) per row of `shape` (stateless with `seed`)."""
    if seed is None:
        return tf.random.uniform(shape[:1], 0, shape[1], dtype=tf.int32)
    return tf.random.stateless_uniform(shape[:1], seed, 0, shape[1], dtype=tf.int32)


def one_batch_per_caption(*element):
    """One batched element with captions `[B, C]` -> C elements, caption k in each."""
    inputs = element[0]
    if not isinstance(inputs, dict) or "captions" not in inputs:
        return tf.data.Dataset.from_tensors(element if len(element) > 1 else inputs)
    rest = element[1:]

    def pick(index):
        picked = {"image": inputs["image"], "text": tf.gather(inputs["captions"], index,
                                                              axis=1)}
        return (picked, *rest) if rest else picked

    return tf.data.Dataset.range(tf.cast(tf.shape(inputs["captions"])[1], tf.int64)).map(
        lambda k: pick(tf.cast(k, tf.int32)))


def per_caption_batches(dataset, split, captions_of):
    """`dataset.flat_map(split)` with its cardinality kept: `split` makes C batches of a
    batch, C the static size of `captions_of(element spec)` (unknown: left unknown)."""
    spec = captions_of(dataset.element_spec)
    count = spec.shape[1] if spec is not None and (spec.shape.rank or 0) > 1 else None
    result = dataset.flat_map(split)
    batches = int(dataset.cardinality())
    if count and batches >= 0:
        result = result.apply(tf.data.experimental.assert_cardinality(batches * count))
    return result


def caption_stacks(dataset, tokenize):
    """Batches `{"image", "captions" [B, C]}` (or `"text"` [B]: C = 1) -> `({"image",
    "text": int32 ids [B, C, T]}, *rest)`, strings tokenized by `tokenize` ([N] -> [N, T])."""
    def split(*element):
        inputs = element[0]
        texts = inputs["captions"] if "captions" in inputs else inputs["text"][:, None]
        if texts.dtype == tf.string:
            flat = tokenize(tf.reshape(texts, [-1]))
            ids = tf.reshape(flat, tf.concat([tf.shape(texts), [-1]], 0))
            ids.set_shape(texts.shape.concatenate(flat.shape[-1:]))
            texts = ids
        image = tf.cast(inputs["image"], tf.float32)
        return ({"image": image, "text": tf.cast(texts, tf.int32)}, *element[1:])

    return dataset.map(split, num_parallel_calls=tf.data.AUTOTUNE)


def cached_pairs(cached, training=False):
    """Batches of cached `((image features, text features [B, C, ...]), *rest)` ->
    `((image features, text features [B, ...]), *rest)`: in training one caption per
    image, drawn anew every epoch; otherwise C batches, one per caption (as
    `one_batch_per_caption` does with pixels and strings)."""
    def caption(element, index):
        (images, texts), rest = element[0], element[1:]
        return ((images, tf.gather(texts, index, batch_dims=1)), *rest)

    if training:
        return with_step_seeds(cached).map(
            lambda element, seed: caption(element, random_columns(
                tf.shape(element[0][1])[:2], seed)),
            num_parallel_calls=tf.data.AUTOTUNE)

    def per_caption(*element):
        texts = element[0][1]
        columns = tf.data.Dataset.range(tf.cast(tf.shape(texts)[1], tf.int64))
        return columns.map(lambda k: caption(element, tf.fill(
            tf.shape(texts)[:1], tf.cast(k, tf.int32))))

    return per_caption_batches(cached, per_caption, lambda spec: spec[0][1])


def retriever_split(model):
    """`(extractor, head)` of a `Retriever` whose image backbone is frozen.

    The extractor maps `{"image": pixels [B, H, W, 3], "text": ids [B, C, T]}` (every
    caption of an image) to `[image features [B, F], text features [B, C, D]]`, cut
    inside the towers after the backbones; a trainable text backbone keeps its ids
    (`[B, C, T]`) for the head. The head maps `[image features [B, F], text features
    [B, D] (or ids [B, T])]` to the model's outputs with the towers' projections and the
    logits layer. `(None, reason)` when the image backbone trains, or random
    augmentation (image flips and crops, word dropout) would run before a frozen one.
    """
    config = model.get_config()
    image_tower, text_tower = model.image_encoder, model.text_encoder
    if image_tower.get_layer("image_backbone").trainable:
        return None, "the image backbone is trainable (see mmzoo.freeze_backbones)"
    if config["augment"]:
        return None, "augment=True changes the images before the frozen image backbone"
    text_frozen = not text_tower.get_layer("text_backbone").trainable
    if text_frozen and config["word_dropout"]:
        return None, "word_dropout changes the captions before the frozen text backbone"

    image_extract, image_tail = frozen_tower_cut(image_tower, "image_backbone")
    pixels = keras.Input((None, None, 3), dtype="float32", name="image")
    ids = keras.Input((None, None), dtype="int32", name="text")
    image_features = keras.Model(image_tower.inputs, image_extract.outputs[0],
                                 name="image_features")(pixels)
    image_in = keras.Input(image_tail.inputs[0].shape[1:], name="image_features")
    image_embeddings = keras.tree.flatten(image_tail([image_in]))[0]
    if text_frozen:
        text_extract, text_tail = frozen_tower_cut(text_tower, "text_backbone")
        per_caption = keras.Model(text_tower.inputs, text_extract.outputs[0],
                                  name="text_features")
        text_features = keras.layers.TimeDistributed(per_caption, name="per_caption")(ids)
        text_in = keras.Input(text_tail.inputs[0].shape[1:], name="text_features")
        text_embeddings = keras.tree.flatten(text_tail([text_in]))[0]
    else:
        text_features = ids
        text_in = keras.Input((None,), dtype="int32", name="text")
        text_embeddings = text_tower(text_in)
    extractor = keras.Model({"image": pixels, "text": ids}, [image_features, text_features],
                            name=f"{model.name}_extractor")
    outputs = {"image_embeddings": image_embeddings, "text_embeddings": text_embeddings,
               "logits": model.logits_layer(image_embeddings, text_embeddings)}
    head = keras.Model([image_in, text_in], outputs, name=f"{model.name}_head")
    return extractor, head
