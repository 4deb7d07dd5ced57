"""Image-text pairs from caption data sets (`{"image", "captions": [B, C]}` batches):
one caption per image for training, or every caption for evaluation.

>>> dataset.map(lambda inputs: pick_caption(inputs, "random"))
>>> dataset.flat_map(one_batch_per_caption)
"""

import tensorflow as tf


def pick_caption(inputs, captions):
    """`{"image", "captions" [B, C]}` -> `{"image", "text" [B]}` (other keys dropped)."""
    if not isinstance(inputs, dict) or "captions" not in inputs or "text" in inputs:
        return inputs
    texts = inputs["captions"]
    if captions == "random":
        shape = tf.shape(texts)
        choice = tf.random.uniform(shape[:1], 0, shape[1], dtype=tf.int32)
        text = tf.gather(texts, choice, batch_dims=1)
    elif captions == "all":
        raise ValueError("captions='all' needs the dataset split per caption first.")
    else:
        text = texts[:, int(captions)]
    return {"image": inputs["image"], "text": text}


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
