"""`mmzoo demo`: the shipped sentiment model on bundled sample posts, end to end.

Runs the MVSA-Single image + text sentiment model (MiniLM and EfficientNet-Lite0
encoders, pretrained; fusion and head trained on MVSA-Single) on the tweet-like posts in
`mmzoo/samples/mvsa/` with both modalities and with each one alone (the other masked
inside the fusion), then exports a SavedModel, reloads it with plain TensorFlow and
checks that its raw-input signature (tweet strings and JPEG bytes) gives the same
labels. `mmzoo demo --preset sentiment_late --weights avdigits` runs the same on the
AV-digits samples (image + spoken digit).
"""

import pathlib
import tempfile
import time

SAMPLES = pathlib.Path(__file__).resolve().parent / "samples"
HEADLINE = ("sentiment_late", "mvsa_single")


def sample_posts(folder=SAMPLES / "mvsa"):
    """[(name, text, image path)] of the bundled sample posts."""
    posts = [(image.stem, image.with_suffix(".txt").read_text().strip(), str(image))
             for image in sorted(folder.glob("post_*.jpg"))]
    if not posts:
        raise FileNotFoundError(f"No post_*.jpg / post_*.txt pairs in {folder}.")
    return posts


def sample_pairs(folder=SAMPLES / "avdigits"):
    """[(true label, image path, audio path)] of the bundled AV-digits samples."""
    pairs = []
    for image in sorted(folder.glob("digit_*.png")):
        audio = image.with_suffix(".wav")
        if audio.exists():
            pairs.append((image.stem.split("_")[1], str(image), str(audio)))
    if not pairs:
        raise FileNotFoundError(f"No digit_*.png / digit_*.wav pairs in {folder}.")
    return pairs


def run(preset=HEADLINE[0], weights=HEADLINE[1], out=print):
    import mmzoo

    started = time.time()
    model = mmzoo.load(preset, weights=weights)
    recorded = model.weights_metadata.get("metrics", {}).get("test_accuracy")
    note = f" (recorded test accuracy {recorded:.4f})" if recorded is not None else ""
    out(f"{preset} with weights {weights!r}{note}")
    classify = mmzoo.pipeline(model)
    if "text" in model.modalities:
        names, raw, columns = _posts(classify, out)
    else:
        names, raw, columns = _digits(classify, out)
    out("(a missing modality is masked inside the fusion layer)")
    same = _served_labels(model, raw) == [row[0]["label"] for row in columns["both"]]
    out(f"SavedModel served from raw inputs: labels {'match' if same else 'DIFFER'}"
        f" ({time.time() - started:.1f} s in all)")
    return {"names": names, "labels": {k: [r[0]["label"] for r in v]
                                       for k, v in columns.items()},
            "saved_model_matches": same}


def _posts(classify, out):
    posts = sample_posts()
    texts = [text for _, text, _ in posts]
    images = [image for _, _, image in posts]
    columns = {"both": classify(text=texts, image=images),
               "text only": classify(text=texts), "image only": classify(image=images)}
    for index, (name, text, _) in enumerate(posts):
        out(f"{name}: {text}")
        out("    " + "   ".join(f"{column}: {rows[index][0]['label']} "
                                f"({rows[index][0]['score']:.2f})"
                                for column, rows in columns.items()))
    raw = {"text": texts, "image": [pathlib.Path(p).read_bytes() for p in images]}
    return [name for name, _, _ in posts], raw, columns


def _digits(classify, out):
    pairs = sample_pairs()
    images = [image for _, image, _ in pairs]
    audios = [audio for _, _, audio in pairs]
    columns = {"both": classify(image=images, audio=audios),
               "image only": classify(image=images), "audio only": classify(audio=audios)}
    for index, (truth, _, _) in enumerate(pairs):
        out(f"digit {truth}: " + "   ".join(
            f"{column}: {rows[index][0]['label']} ({rows[index][0]['score']:.2f})"
            for column, rows in columns.items()))
    correct = {column: sum(rows[i][0]["label"] == t for i, (t, _, _) in enumerate(pairs))
               for column, rows in columns.items()}
    out("correct: " + ", ".join(f"{k} {v}/{len(pairs)}" for k, v in correct.items()))
    raw = {"image": [pathlib.Path(p).read_bytes() for p in images],
           "audio": [pathlib.Path(p).read_bytes() for p in audios]}
    return [f"digit_{t}" for t, _, _ in pairs], raw, columns


def _served_labels(model, raw):
    import tensorflow as tf

    import mmzoo

    if "text" in raw:
        import tensorflow_text  # noqa: F401  (MiniLM's WordPiece ops, for the served graph)
    with tempfile.TemporaryDirectory() as folder:
        mmzoo.export(model, folder)
        served = tf.saved_model.load(folder).signatures["serving_default"]
        outputs = served(**{key: tf.constant(value) for key, value in raw.items()})
        return [label.decode() for label in outputs["label"].numpy()]
