"""int8 image backbones for captioning: speed and caption quality of the shipped
captioners with `model.int8_image_backbone` against the same weights in float32.

    python benchmarks/int8.py --data-dir ../shared/data [--calibration 200]
                              [--repeats 20] [--models caption_sat/flickr8k]

For each shipped captioner (`weights/manifest.json`): the backbone is quantized from the
first `--calibration` images of the training split (never the evaluated split); both
sides then caption the split the weights' metadata records (test, else validation)
with the config's decoding (`generate` defaults), scored with BLEU-1..4 and CIDEr-D,
and the number of captions that change is counted. Speed: `generate` on real images at
batch 1 and 32, float32 and int8 alternating in one process (medians and 95th
percentiles, ms); the one-time conversion is timed apart.

Writes benchmarks/results/int8.json and the table in benchmarks/README.md (between
`<!-- int8:start -->` and `<!-- int8:end -->`).
"""

import argparse
import pathlib
import time

import numpy as np
from bfloat16 import recorded_splits  # benchmarks/ is on sys.path
from latency import alternate, machine
from readme_block import replace_block
from results_file import save_results

import mmzoo
from mmzoo.training.fit import load_split
from mmzoo.weights import read_manifest, read_metadata, resolve_weights

ROOT = pathlib.Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "int8.json"
METRICS = ("bleu1", "bleu4", "cider")


def calibration_pixels(model, entry, data_dir, count):
    """The first `count` images of the training split, at the model's input size."""
    options = {**model.dataset_options(), **(entry.get("data_options") or {})}
    dataset, _ = load_split(entry["dataset"], "train", data_dir, 32, options,
                            max_examples=count)
    return np.concatenate([batch["image"].numpy() for batch in dataset])


def captions(model, dataset, **options):
    """(hypotheses, references) over a batched split."""
    hypotheses, references = [], []
    for batch in dataset:
        hypotheses += model.generate(batch["image"], **options)["captions"]
        references += [[c.decode("utf-8") for c in row] for row in batch["captions"].numpy()]
    return hypotheses, references


def measure(key, entry, data_dir, calibration, repeats, batches):
    from mmzoo.tasks.captioning.metrics import caption_scores

    preset, weights = key.split("/")
    model = mmzoo.load(preset, weights=weights, compile=False)
    if entry.get("data_dir") and pathlib.Path(entry["data_dir"]).is_dir():
        data_dir = entry["data_dir"]  # the folder the weights were trained on
    started = time.perf_counter()
    int8 = model.int8_image_backbone(calibration_pixels(model, entry, data_dir, calibration))
    conversion_s = round(time.perf_counter() - started, 1)
    options = {**model.dataset_options(), **(entry.get("data_options") or {})}
    for split in recorded_splits(entry):
        dataset, _ = load_split(entry["dataset"], split, data_dir, 32, options)
        if dataset is not None:
            break
    backbones = {"float32": None, "int8": int8}
    # The timed images come from a load of their own: abandoning an iterator of the
    # evaluated split half-way would leave its cache partial.
    first, _ = load_split(entry["dataset"], split, data_dir, max(batches), options,
                          max_examples=max(batches))
    first = next(iter(first))["image"]
    speed = {}
    for batch in batches:
        images = first[:batch]
        timed = alternate({name: (lambda b=backbone, x=images: model.generate(
                               x, image_backbone=b)) for name, backbone in backbones.items()},
                          repeats)
        speed[str(batch)] = {**timed, "speedup": round(
            timed["float32"]["median_ms"] / timed["int8"]["median_ms"], 2)}
    texts, metrics = {}, {}
    for name, backbone in backbones.items():
        texts[name], references = captions(model, dataset, image_backbone=backbone)
        metrics[name] = {**caption_scores(references, texts[name]),
                         "examples": len(texts[name])}
    changed = sum(a != b for a, b in zip(texts["float32"], texts["int8"]))
    row = {"preset": preset, "weights": weights, "data": entry["dataset"], "split": split,
           "calibration_images": calibration, "conversion_s": conversion_s,
           "int8_file_mib": round(len(int8.flatbuffer) / 2**20, 2), "speed": speed,
           "metrics": metrics, "captions_changed": changed,
           "examples": len(texts["float32"])}
    print(key, conversion_s, speed, {n: {m: metrics[n][m] for m in METRICS}
                                     for n in metrics}, changed, flush=True)
    return row


def table(results):
    lines = [("| model (weights) | data, split (examples) | BLEU-1 / BLEU-4 / CIDEr-D: "
              "float32 | int8 backbone | captions changed | batch 1: float32 / int8 ms "
              "(speed-up) | batch 32: float32 / int8 ms (speed-up) | conversion (s) |"),
             "|---|---|---|---|---|---|---|---|"]
    for key, row in results.items():
        if key == "machine":
            continue
        values = [" / ".join(f"{row['metrics'][n][m]:.4f}" for m in METRICS)
                  for n in ("float32", "int8")]
        speeds = [f"{s['float32']['median_ms']:,.1f} / {s['int8']['median_ms']:,.1f} "
                  f"({s['speedup']:.2f}x)" for s in row["speed"].values()]
        lines.append(f"| {row['preset']} ({row['weights']}) | {row['data']}, {row['split']} "
                     f"({row['examples']}) | {values[0]} | {values[1]} | "
                     f"{row['captions_changed']} of {row['examples']} | "
                     + " | ".join(speeds) + f" | {row['conversion_s']} |")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--calibration", type=int, default=200,
                        help="training images that set the activations' int8 ranges")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 32])
    parser.add_argument("--models", nargs="+", default=None,
                        help="preset/weights keys of captioners in weights/manifest.json "
                             "(default: all of them)")
    args = parser.parse_args()
    manifest = read_manifest()
    keys = args.models or sorted(k for k in manifest if k.startswith("caption"))
    new = {"machine": machine()}
    for key in keys:
        entry = {**manifest[key], **read_metadata(resolve_weights(*key.split("/")))}
        new[key] = measure(key, entry, args.data_dir, args.calibration, args.repeats,
                           args.batches)
    replace_block("int8", table(save_results(RESULTS, new)))


if __name__ == "__main__":
    main()
