"""Speed of the pretrained encoders and of training on their cached features.

    python benchmarks/pretrained.py [--repeats 5]

- EfficientNet-Lite0 feature extraction (224x224, pooled + grid) and MiniLM sentence
  encoding (sequence length 64), images or sentences per second at batch 1 and 64, each
  a compiled call (`tf.function`), median of `--repeats` timings after a warm-up.
- Training a late-fusion head on frozen MiniLM + EfficientNet-Lite0 (256 examples of
  random pixels and sentences, batch 32): epochs per second of `model.fit` with
  `cache_features=False` (the encoders run every step) and with the cache (they run once,
  before the first epoch; that pass is reported apart), alternated and repeated.

Writes `benchmarks/results/pretrained.json` and the table between the pretrained markers
of benchmarks/README.md. The machine is shared: read the ratios.
"""

import argparse
import json
import pathlib
import statistics
import time

import numpy as np

from readme_block import replace_block  # benchmarks/ is on sys.path

ROOT = pathlib.Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "pretrained.json"
WORDS = ("the a good bad day night photo cat dog beach snow city happy sad love hate "
         "great awful coffee morning train late again best worst ever").split()


def encoder_rates(repeats):
    import tensorflow as tf

    from mmzoo.backbones import build_backbone, tokenizer_for_backbone

    rng = np.random.default_rng(0)
    image = build_backbone("image", "efficientnet_lite0", weights="imagenet")
    text = build_backbone("text", "minilm", weights="pretrained")
    tokenize = tokenizer_for_backbone("minilm", {}, sequence_length=64)
    run_image = tf.function(lambda x: image(x, training=False))
    run_text = tf.function(lambda x: text(x, training=False))
    rates = {}
    for batch in (1, 64):
        pixels = tf.constant(rng.uniform(0, 255, (batch, 224, 224, 3)).astype("float32"))
        sentences = [" ".join(rng.choice(WORDS, 14)) for _ in range(batch)]
        ids = tokenize(tf.constant(sentences))
        for name, function, inputs in (("efficientnet_lite0_images", run_image, pixels),
                                       ("minilm_sentences", run_text, ids)):
            function(inputs)  # trace and warm up
            times = []
            for _ in range(repeats):
                started = time.perf_counter()
                tf.nest.map_structure(lambda t: t.numpy(), function(inputs))
                times.append(time.perf_counter() - started)
            rates[f"{name}_per_s_batch{batch}"] = round(batch / statistics.median(times), 1)
    return rates


def caching_speedup(repeats):
    import tempfile

    import tensorflow as tf

    import mmzoo
    from mmzoo.tasks.feature_cache import fit_with_cached_features

    rng = np.random.default_rng(0)
    n, batch, epochs = 256, 32, 3
    x = {"text": np.array([" ".join(rng.choice(WORDS, 14)) for _ in range(n)]),
         "image": rng.uniform(0, 255, (n, 224, 224, 3)).astype("float32")}
    data = tf.data.Dataset.from_tensor_slices((x, rng.integers(0, 3, n))).batch(batch)
    model = mmzoo.load("sentiment_late", modalities=("text", "image"), num_classes=3,
                       text_backbone="minilm", text_options={"weights": "pretrained"},
                       image_backbone="efficientnet_lite0", image_weights="imagenet",
                       sequence_length=64)
    mmzoo.freeze_backbones(model)
    times = {"encoders_every_step": [], "feature_pass_and_head": [], "head_on_saved": []}
    for _ in range(repeats):  # the two sides alternate
        started = time.perf_counter()
        model.fit(data, epochs=epochs, verbose=0, cache_features=False)
        times["encoders_every_step"].append(time.perf_counter() - started)
        with tempfile.TemporaryDirectory() as cache:
            started = time.perf_counter()
            fit_with_cached_features(model, data, epochs=epochs, verbose=0, cache_dir=cache)
            times["feature_pass_and_head"].append(time.perf_counter() - started)
            started = time.perf_counter()  # a later run: the saved features are loaded
            fit_with_cached_features(model, data, epochs=epochs, verbose=0, cache_dir=cache)
            times["head_on_saved"].append(time.perf_counter() - started)
    median = {key: statistics.median(values) for key, values in times.items()}
    steps = epochs * (n // batch)
    return {
        "examples": n, "batch_size": batch, "epochs": epochs, "repeats": repeats,
        **{f"seconds_{key}": round(value, 2) for key, value in median.items()},
        "steps_per_s_encoders_every_step": round(steps / median["encoders_every_step"], 2),
        "steps_per_s_head_on_cached_features": round(steps / median["head_on_saved"], 1),
        "speedup_per_step": round(median["encoders_every_step"] / median["head_on_saved"], 1),
        "speedup_first_run_with_feature_pass": round(
            median["encoders_every_step"] / median["feature_pass_and_head"], 2),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    results = {"encoders": encoder_rates(args.repeats),
               "caching": caching_speedup(max(2, args.repeats // 2))}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=1) + "\n")
    write_table(results)
    print(json.dumps(results, indent=1))


def write_table(results):
    enc, cache = results["encoders"], results["caching"]
    rows = ["| what | batch 1 | batch 64 |", "|---|---|---|",
            f"| EfficientNet-Lite0 features, images/s (224x224) | "
            f"{enc['efficientnet_lite0_images_per_s_batch1']} | "
            f"{enc['efficientnet_lite0_images_per_s_batch64']} |",
            f"| MiniLM sentence encoding, sentences/s (64 tokens) | "
            f"{enc['minilm_sentences_per_s_batch1']} | "
            f"{enc['minilm_sentences_per_s_batch64']} |",
            "",
            "| training a late-fusion head on frozen MiniLM + EfficientNet-Lite0 "
            f"({cache['examples']} examples, batch {cache['batch_size']}, "
            f"{cache['epochs']} epochs, median of {cache['repeats']}) | seconds | steps/s |",
            "|---|---|---|",
            f"| encoders run every step (`cache_features=False`) | "
            f"{cache['seconds_encoders_every_step']} | "
            f"{cache['steps_per_s_encoders_every_step']} |",
            f"| first run: one feature pass, then the head | "
            f"{cache['seconds_feature_pass_and_head']} | - |",
            f"| later runs: the head on saved features (`--feature-cache`) | "
            f"{cache['seconds_head_on_saved']} | "
            f"{cache['steps_per_s_head_on_cached_features']} |",
            "",
            f"Per step the head on cached features is {cache['speedup_per_step']}x faster; "
            f"a first run with its feature pass is {cache['speedup_first_run_with_feature_pass']}x "
            f"faster over {cache['epochs']} epochs."]
    replace_block("pretrained", "\n".join(rows) + "\n")


if __name__ == "__main__":
    main()
