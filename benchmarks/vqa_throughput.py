"""Predict throughput of the VQA presets: questions per second at batch 64.

    python benchmarks/vqa_throughput.py [--examples 2048] [--repeats 5]

Each preset (with its shipped easy_vqa weights when there are some, else randomly
initialised with easy-VQA's 13 answers) runs `model.predict(x, batch_size=64)` on
`--examples` easy-VQA-sized inputs (64x64 images, questions of 6 words padded to the
preset's length), the way the easy-VQA Keras baseline's ~1,600 questions/s anchor was
measured. Reports the median of `--repeats` passes after a warm-up pass. Writes
`benchmarks/results/vqa_throughput.json` and refreshes the VQA table of
`benchmarks/README.md`.
"""

import argparse
import json
import pathlib
import platform
import statistics
import sys
import time

import numpy as np

import mmzoo
from mmzoo.weights import shipped_weights

ROOT = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))
import train_vqa  # noqa: E402

EASY_VQA_ANSWERS = ["circle", "green", "red", "gray", "yes", "teal", "black", "rectangle",
                    "yellow", "triangle", "brown", "blue", "no"]
QUESTION = "is there a red shape in the image"


def model_for(preset):
    if "easy_vqa" in shipped_weights(preset):
        return mmzoo.load(preset, weights="easy_vqa", compile=False), "easy_vqa"
    model = mmzoo.load(preset, answers=EASY_VQA_ANSWERS, compile=False)
    model.adapt_text([QUESTION, "what color is the shape"])
    return model, None


def measure(model, examples, batch_size, repeats, rng):
    x = {"image": rng.integers(0, 256, size=(examples, 64, 64, 3)).astype("float32"),
         "question": np.repeat(model.question_vectorizer([QUESTION]).numpy().astype(
             "int32"), examples, axis=0)}
    model.predict(x, batch_size=batch_size, verbose=0)  # warm-up (tracing)
    seconds = []
    for _ in range(repeats):
        started = time.perf_counter()
        model.predict(x, batch_size=batch_size, verbose=0)
        seconds.append(time.perf_counter() - started)
    return examples / statistics.median(seconds)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=2048)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    presets = {}
    for preset in mmzoo.list_models(task="vqa"):
        model, weights = model_for(preset)
        rate = measure(model, args.examples, args.batch_size, args.repeats, rng)
        presets[preset] = {"questions_per_second": round(rate, 1), "weights": weights,
                           "parameters": int(model.count_params())}
        print(f"{preset}: {rate:,.0f} questions/s", flush=True)
    results = {"batch_size": args.batch_size, "examples": args.examples,
               "repeats": args.repeats, "machine": platform.machine(), "presets": presets}
    train_vqa.THROUGHPUT.parent.mkdir(parents=True, exist_ok=True)
    train_vqa.THROUGHPUT.write_text(json.dumps(results, indent=1) + "\n")
    saved = json.loads(train_vqa.RESULTS.read_text()) if train_vqa.RESULTS.exists() else {}
    train_vqa.write_readme(saved)


if __name__ == "__main__":
    main()
