"""Latency where a user waits: pipeline, `predict`, `model(x)`, the compiled call and the
exported SavedModel of each task family, at batch 1 and a small batch.

    python benchmarks/latency.py [--repeats 30] [--batches 1 8]
                                 [--presets vqa_san/easy_vqa ...]

Each preset runs with shipped weights (`sentiment_late` mvsa_single and avdigits,
`vqa_san` easy_vqa, `caption_sat` flickr8k, `retrieval_dual_encoder` flickr8k) on the
bundled samples (`mmzoo/samples`):

- `pipeline`: `mmzoo.pipeline(...)` on file paths (and strings), as in the README;
  file reading and decoding included. Captioning: beam search with the config's
  width and `max_length`; retrieval: zero-shot classification over two labels.
- `savedmodel`: the exported SavedModel's `serving_default` on the same files' bytes,
  as a server receives them (decoding in the graph; the same search and labels).
- `infer` (`model.infer(x)`, the compiled call the pipelines use), `predict`
  (`model.predict(x, verbose=0)`), `keras_predict` (Keras' own `predict` loop, what
  `predict` cost before), `model_x` (the eager call) and `serve_tensors` (the
  SavedModel's tensor endpoint) all take the same preprocessed arrays; for the
  captioner that is teacher forcing of a caption, for the retriever one caption per
  image.

All variants of one (preset, batch) are timed in one process, alternating (A B C ...
then ... C B A), after two warm-up calls each; medians and 95th percentiles in ms.
`first_call_ms` is the pipeline's first call on a freshly loaded model (tracing
included). Writes benchmarks/results/latency.json and the table in
benchmarks/README.md (between `<!-- latency:start -->` and `<!-- latency:end -->`).
"""

import argparse
import os
import pathlib
import platform
import statistics
import tempfile
import time

import keras
import numpy as np
import tensorflow as tf
from readme_block import replace_block  # benchmarks/ is on sys.path
from results_file import save_results

import mmzoo
from mmzoo.weights import shipped_weights

ROOT = pathlib.Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "latency.json"
SAMPLES = ROOT / "mmzoo" / "samples"
LABELS = ["a photo of a cup of coffee.", "a photo of a dog."]
PRESETS = {  # "preset/weights" -> raw inputs of one example
    "sentiment_late/mvsa_single": {
        "text": (SAMPLES / "mvsa" / "post_1.txt").read_text().strip(),
        "image": SAMPLES / "mvsa" / "post_1.jpg"},
    "sentiment_late/avdigits": {"image": SAMPLES / "avdigits" / "digit_7.png",
                                "audio": SAMPLES / "avdigits" / "digit_7.wav"},
    "vqa_san/easy_vqa": {"image": SAMPLES / "easy_vqa" / "blue_circle.png",
                         "question": "what color is the shape?"},
    "caption_sat/flickr8k": {"image": SAMPLES / "mvsa" / "post_1.jpg"},
    "retrieval_dual_encoder/flickr8k": {"image": SAMPLES / "mvsa" / "post_1.jpg"},
}
COLUMNS = ["pipeline", "savedmodel", "infer", "serve_tensors", "predict",
           "keras_predict", "model_x"]


def batch_of(raw, batch):
    """The pipeline's raw arguments: single items at batch 1, lists otherwise."""
    return {k: (str(v) if batch == 1 else [str(v)] * batch) for k, v in raw.items()}


def served_raw(raw, batch):
    """The SavedModel's raw inputs: file bytes and strings, `[batch]`."""
    return {k: tf.constant([v.read_bytes() if isinstance(v, pathlib.Path) else v] * batch)
            for k, v in raw.items()}


def calls_for(model, served, raw, batch):
    """name -> zero-argument callable, every variant of one (preset, batch)."""
    pipe = mmzoo.pipeline(model)
    task = type(model).__name__
    args = batch_of(raw, batch)
    serving = served.signatures["serving_default"]
    raw_tensors = served_raw(raw, batch)
    if task == "Captioner":
        arrays = model.preprocess(image=args["image"], caption=["a dog runs"] * batch)
        calls = {"pipeline": lambda: pipe(**args)}
    elif task == "Retriever":
        arrays = model.preprocess(image=args["image"], text=["a dog runs"] * batch)
        calls = {"pipeline": lambda: pipe(args["image"], candidate_labels=LABELS,
                                          hypothesis_template="{}")}
        raw_tensors["text"] = tf.constant(LABELS)
    else:
        arrays = model.preprocess(**args)
        calls = {"pipeline": lambda: pipe(**args)}
    tensors = {k: tf.constant(v) for k, v in arrays.items()}
    calls.update({
        "savedmodel": lambda: serving(**raw_tensors),
        "infer": lambda: model.infer(arrays),
        "serve_tensors": lambda: served.serve_tensors(tensors),
        "predict": lambda: model.predict(arrays, verbose=0),
        "keras_predict": lambda: keras.Model.predict(model, arrays, verbose=0),
        "model_x": lambda: model(arrays),
    })
    return calls


def alternate(calls, repeats):
    """{name: {"median_ms", "p95_ms"}}, timing the calls in turn, `repeats` rounds."""
    for call in calls.values():
        call(), call()
    times = {name: [] for name in calls}
    names = list(calls)
    for index in range(repeats):
        for name in (names if index % 2 == 0 else names[::-1]):
            started = time.perf_counter()
            calls[name]()
            times[name].append(1e3 * (time.perf_counter() - started))
    return {name: {"median_ms": round(statistics.median(values), 2),
                   "p95_ms": round(float(np.percentile(values, 95)), 2)}
            for name, values in times.items()}


def measure(key, batches, repeats):
    preset, weights = key.split("/")
    raw = PRESETS[key]
    model = mmzoo.load(preset, weights=weights)
    pipe = mmzoo.pipeline(model)
    started = time.perf_counter()
    if type(model).__name__ == "Retriever":
        pipe(str(raw["image"]), candidate_labels=LABELS, hypothesis_template="{}")
    else:
        pipe(**batch_of(raw, 1))
    first_call = round(1e3 * (time.perf_counter() - started), 1)
    with tempfile.TemporaryDirectory() as folder:
        mmzoo.export(model, folder)
        served = tf.saved_model.load(folder)
        rows = {}
        for batch in batches:
            rows[str(batch)] = alternate(calls_for(model, served, raw, batch), repeats)
            print(preset, batch, {k: v["median_ms"] for k, v in rows[str(batch)].items()},
                  flush=True)
    return {"preset": preset, "weights": weights, "first_call_ms": first_call,
            "repeats": repeats, "batches": rows}


def machine():
    flags = ""
    if os.path.exists("/proc/cpuinfo"):
        with open("/proc/cpuinfo") as info:
            flags = next((line for line in info if line.startswith("flags")), "")
    return {"processor": platform.processor() or platform.machine(),
            "cpus": os.cpu_count(), "tensorflow": tf.__version__,
            "avx512_bf16": "avx512_bf16" in flags.split(),
            "amx_bf16": "amx_bf16" in flags.split()}


def table(results):
    def cell(v):
        return f"{v['median_ms']:,.1f} ({v['p95_ms']:,.1f})"

    lines = [("| preset (weights) | batch | pipeline | SavedModel (raw) | pipeline / "
             "SavedModel | `infer` | SavedModel (tensors) | `predict` | Keras `predict` "
             "| `model(x)` | pipeline first call |"),
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for key, entry in results.items():
        if key == "machine":
            continue
        for batch, row in entry["batches"].items():
            ratio = row["pipeline"]["median_ms"] / row["savedmodel"]["median_ms"]
            first = f"{entry['first_call_ms']:,.0f}" if batch == "1" else ""
            lines.append(f"| {entry['preset']} ({entry['weights']}) | {batch} | "
                         + " | ".join([cell(row["pipeline"]), cell(row["savedmodel"]),
                                       f"{ratio:.2f}x"]
                                      + [cell(row[c]) for c in COLUMNS[2:]])
                         + f" | {first} |")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--presets", nargs="+", default=list(PRESETS))
    args = parser.parse_args()
    new = {"machine": machine()}
    for key in args.presets:
        preset, weights = key.split("/")
        if weights not in shipped_weights(preset):
            print(f"skipping {key}: no {weights} weights shipped")
            continue
        new[key] = measure(key, args.batches, args.repeats)
    results = save_results(RESULTS, new)
    replace_block("latency", table(results))


if __name__ == "__main__":
    main()
