"""`mmzoo demo`: shipped weights on the bundled samples, end to end.

Runs the AV-digits classifier on image + spoken-digit pairs from the test split in
`mmzoo/samples/avdigits/` with both modalities, with each one alone (the other masked
inside the fusion), then exports a SavedModel, reloads it with plain TensorFlow and
checks that its raw-bytes signature gives the same labels.
"""

import pathlib
import tempfile
import time

SAMPLES = pathlib.Path(__file__).resolve().parent / "samples" / "avdigits"


def sample_pairs(folder=SAMPLES):
    """[(true label, image path, audio path)] of the bundled samples."""
    pairs = []
    for image in sorted(folder.glob("digit_*.png")):
        audio = image.with_suffix(".wav")
        if audio.exists():
            pairs.append((image.stem.split("_")[1], str(image), str(audio)))
    if not pairs:
        raise FileNotFoundError(f"No digit_*.png / digit_*.wav pairs in {folder}.")
    return pairs


def run(preset="sentiment_late", weights="avdigits", out=print):
    import tensorflow as tf

    import mmzoo

    started = time.time()
    model = mmzoo.load(preset, weights=weights)
    recorded = model.weights_metadata.get("metrics", {}).get("test_accuracy")
    note = f" (recorded test accuracy {recorded:.4f})" if recorded is not None else ""
    out(f"{preset} with weights {weights!r}{note}")
    classify = mmzoo.pipeline(model)
    pairs = sample_pairs()
    truths = [truth for truth, _, _ in pairs]
    images = [image for _, image, _ in pairs]
    audios = [audio for _, _, audio in pairs]
    columns = {
        "image+audio": classify(image=images, audio=audios),
        "image only": classify(image=images),
        "audio only": classify(audio=audios),
    }
    out(f"{'sample':<10}{'truth':<7}" + "".join(f"{name:<16}" for name in columns))
    for index, truth in enumerate(truths):
        cells = "".join(
            f"{rows[index][0]['label']} ({rows[index][0]['score']:.2f})".ljust(16)
            for rows in columns.values())
        out(f"{pathlib.Path(images[index]).stem:<10}{truth:<7}{cells}")
    correct = {name: sum(rows[i][0]["label"] == t for i, t in enumerate(truths))
               for name, rows in columns.items()}
    out("correct   " + " " * 7 + "".join(
        f"{correct[name]}/{len(truths)}".ljust(16) for name in columns))
    out("(a missing modality is masked inside the fusion layer; a model trained without "
        "modality_dropout leans on its stronger modality)")

    with tempfile.TemporaryDirectory() as folder:
        mmzoo.export(model, folder)
        served = tf.saved_model.load(folder).signatures["serving_default"]
        raw = {"image": tf.constant([pathlib.Path(p).read_bytes() for p in images]),
               "audio": tf.constant([pathlib.Path(p).read_bytes() for p in audios])}
        labels = [label.decode() for label in served(**raw)["label"].numpy()]
    same = labels == [rows[0]["label"] for rows in columns["image+audio"]]
    out(f"SavedModel served from raw PNG/WAV bytes: labels {'match' if same else 'DIFFER'}"
        f" ({time.time() - started:.1f} s in all)")
    return {"correct": correct, "total": len(truths), "saved_model_matches": same}
