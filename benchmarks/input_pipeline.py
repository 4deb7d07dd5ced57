"""Input pipeline throughput per data set, next to the training throughput of a preset.

    python benchmarks/input_pipeline.py --data-dir ../shared/data

For each data set: examples/s of the decoded pipeline (batch 32, prefetch) on a first
pass from the prepared TFRecords and on a second, cached pass; then the examples/s of
`fit` steps of a preset on the same batches (after the first, traced, step). The
pipeline is not the bottleneck when its first-pass rate exceeds the training rate.
Writes benchmarks/results/input_pipeline.json and the table in benchmarks/README.md.
"""

import argparse
import json
import pathlib
import time

import keras
import tensorflow as tf
from readme_block import replace_block  # benchmarks/ is on sys.path

from mmzoo.training import build_for_dataset, load_split

ROOT = pathlib.Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "input_pipeline.json"
BATCH = 32

# data set -> (preset, overrides, data options) whose training rate is compared
CASES = {
    "avdigits": ("sentiment_late", {"modalities": ["image", "audio"], "image_size": 28,
                                    "sample_rate": 8000, "num_classes": 10}, {}),
    "avdigits/noisy": ("sentiment_late", {"modalities": ["image", "audio"],
                                          "image_size": 28, "sample_rate": 8000,
                                          "num_classes": 10}, {}),
    "mnist": ("sentiment_early", {"modalities": ["image"], "image_size": 28,
                                  "num_classes": 10}, {}),
    "fsdd": ("sentiment_early", {"modalities": ["audio"], "sample_rate": 8000,
                                 "num_classes": 10}, {}),
    "easy_vqa": ("vqa_san", {}, {}),
    "sort_of_clevr": ("vqa_rn", {}, {"num_images": {"train": 400, "validation": 0,
                                                    "test": 0}}),
    # The dual encoder with the small towers it had before the pretrained ones (those
    # train on cached features, where the input pipeline runs once, not per epoch).
    "flickr8k": ("retrieval_dual_encoder", {
        "image_backbone": "simple_cnn", "image_weights": None, "image_size": 64,
        "image_options": {"filters": [32, 64, 128, 256]}, "text_backbone": "cnn",
        "text_options": {"embed_dim": 128}, "vocab_size": 2000, "augment": True},
        {"image_size": 64}),
}
# the local folder of each data set under --data-dir (sort_of_clevr is generated)
FOLDERS = {"avdigits": "", "avdigits/noisy": "", "mnist": "mnist", "fsdd": "fsdd",
           "easy_vqa": "easy_vqa", "sort_of_clevr": None, "flickr8k": "flickr8k"}


def pipeline_rate(dataset, max_batches):
    count, started = 0, time.perf_counter()
    for element in dataset.take(max_batches):
        inputs = element[0] if isinstance(element, tuple) else element
        count += int(tf.shape(next(iter(inputs.values())))[0])
    return count / (time.perf_counter() - started), count


class _StepTimer(keras.callbacks.Callback):
    def on_train_batch_begin(self, batch, logs=None):
        if batch == 1:  # skip the traced first step
            self.started = time.perf_counter()

    def on_train_end(self, logs=None):
        self.seconds = time.perf_counter() - self.started


def training_rate(preset, overrides, dataset, info, steps):
    model = build_for_dataset(preset, dataset, info, overrides)
    model.compile()
    timer = _StepTimer()
    model.fit(dataset.repeat(), epochs=1, steps_per_epoch=steps, callbacks=[timer],
              verbose=0)
    return (steps - 1) * BATCH / timer.seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--batches", type=int, default=150)
    parser.add_argument("--train-steps", type=int, default=40)
    parser.add_argument("--only", nargs="*", choices=list(CASES), help="data sets to run")
    args = parser.parse_args()
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    for name, (preset, overrides, options) in CASES.items():
        if args.only and name not in args.only:
            continue
        folder = FOLDERS[name]
        data_dir = None if folder is None else str(pathlib.Path(args.data_dir) / folder)
        batched, info = load_split(name, "train", data_dir, BATCH, options)
        first, examples = pipeline_rate(batched, args.batches)
        cached, _ = pipeline_rate(batched, args.batches)  # load() caches decoded examples
        train = training_rate(preset, overrides, batched, info, args.train_steps)
        results[name] = {
            "examples": examples, "first_pass_per_s": round(first),
            "cached_per_s": round(cached), "preset": preset,
            "train_per_s": round(train), "headroom": round(first / train, 1),
        }
        print(name, results[name], flush=True)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=1) + "\n")
    write_table(results)


def write_table(results):
    rows = ["| data set | pipeline, first pass (ex/s) | pipeline, cached (ex/s) | "
            "preset trained | training (ex/s) | headroom |",
            "|---|---|---|---|---|---|"]
    for name, r in results.items():
        rows.append(f"| {name} | {r['first_pass_per_s']:,} | {r['cached_per_s']:,} | "
                    f"{r['preset']} | {r['train_per_s']:,} | {r['headroom']}x |")
    replace_block("input_pipeline", "\n".join(rows))


if __name__ == "__main__":
    main()
