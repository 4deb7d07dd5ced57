"""Search speed and memory of `mmzoo.tasks.retrieval.Index` at 10k, 100k and 1M embeddings.

    python benchmarks/retrieval_index.py [--sizes 10000 100000 1000000] [--dim 256]

The corpus is random unit vectors of the retrieval presets' embedding size (256, read
from the presets; the EfficientNet-Lite0 + MiniLM dual encoders project both towers to
it): search cost depends only on the number and size of the vectors, not on where they
come from.
Each size runs in a fresh process, so its memory figures are its own:

- memory: the bytes of the float32 embeddings; the process RSS once the index is built
  (steady) and its peak (`ru_maxrss`) over building and searching, both above the
  process' RSS before the corpus existed (TensorFlow imported);
- queries/s for k=10 at query batches of 1 (one user) and 256 (bulk), each timed over
  about 2 s after a warm-up, with the matmul rate reached (2 * Q * N * D flops) next to
  the machine's ~97 GFLOP/s matmul ceiling (../shared/ANCHORS.md);
- the same search in NumPy (matmul + argpartition + sort of the top k) for reference;
- save / load time and the `.npz` size.

Writes benchmarks/results/retrieval_index.json and the table in benchmarks/README.md.
"""

import argparse
import json
import os
import pathlib
import resource
import subprocess
import sys
import tempfile
import time

from readme_block import replace_block  # benchmarks/ is on sys.path

ROOT = pathlib.Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "retrieval_index.json"


def rss_mib():
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def random_unit_vectors(count, dim, seed=0, chunk=1 << 16):
    import numpy as np

    rng = np.random.default_rng(seed)
    vectors = np.empty((count, dim), np.float32)
    for start in range(0, count, chunk):
        block = rng.standard_normal((min(chunk, count - start), dim), dtype=np.float32)
        vectors[start:start + len(block)] = block / np.linalg.norm(block, axis=1,
                                                                   keepdims=True)
    return vectors


def rate(function, min_seconds=2.0):
    """Calls per second of `function` (after one warm-up call)."""
    function()
    calls, started = 0, time.perf_counter()
    while True:
        function()
        calls += 1
        elapsed = time.perf_counter() - started
        if elapsed >= min_seconds:
            return calls / elapsed


def numpy_search(queries, corpus, k):
    import numpy as np

    scores = queries @ corpus.T
    top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(scores, top, axis=1), axis=1)
    return np.take_along_axis(top, order, axis=1)


def measure(size, dim, k=10):
    """One size, in this process: a dict of figures."""
    import tensorflow as tf

    from mmzoo.tasks.retrieval import Index

    tf.constant(0.0)  # TensorFlow's own start-up memory goes to the baseline
    baseline = rss_mib()
    corpus = random_unit_vectors(size, dim)
    queries = random_unit_vectors(256, dim, seed=1)
    started = time.perf_counter()
    index = Index(corpus, modality="image")
    build_seconds = time.perf_counter() - started
    results = {"size": size, "dim": dim, "k": k,
               "embeddings_mib": round(index.nbytes / 2**20, 1),
               "build_seconds": round(build_seconds, 3)}
    del corpus
    results["steady_rss_mib"] = round(rss_mib() - baseline, 1)
    for batch in (1, 256):
        per_second = rate(lambda: index.search(queries[:batch], k=k)) * batch
        results[f"queries_per_s_batch{batch}"] = round(per_second, 1)
        results[f"gflops_batch{batch}"] = round(2 * per_second * size * dim / 1e9, 1)
    corpus = index.embeddings
    for batch in (1, 256):
        results[f"numpy_queries_per_s_batch{batch}"] = round(
            rate(lambda: numpy_search(queries[:batch], corpus, k)) * batch, 1)
    del corpus
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        path = index.save(os.path.join(folder, "index"))
        results["save_seconds"] = round(time.perf_counter() - started, 2)
        results["file_mib"] = round(os.path.getsize(path) / 2**20, 1)
        del index
        started = time.perf_counter()
        Index.load(path)
        results["load_seconds"] = round(time.perf_counter() - started, 2)
    results["peak_rss_mib"] = round(peak_rss_mib() - baseline, 1)
    return results


def preset_dim():
    """The embedding size of the retrieval presets (one size for both)."""
    import mmzoo
    from mmzoo.registry import PRESETS

    sizes = {PRESETS.get(name)["config"]["embed_dim"]
             for name in mmzoo.list_models(task="retriever")}
    if len(sizes) != 1:
        raise ValueError(f"The retrieval presets disagree on embed_dim: {sorted(sizes)}.")
    return sizes.pop()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--dim", type=int, default=preset_dim())
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.child, args.dim)))
        return
    rows = []
    for size in args.sizes:
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(ROOT)}
        completed = subprocess.run(
            [sys.executable, __file__, "--child", str(size), "--dim", str(args.dim)],
            capture_output=True, text=True, env=env, check=True)
        rows.append(json.loads(completed.stdout.strip().splitlines()[-1]))
        print(json.dumps(rows[-1]), flush=True)
    import platform

    import tensorflow as tf

    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({
        "command": "python benchmarks/retrieval_index.py " + " ".join(sys.argv[1:]),
        "cpus": os.cpu_count(), "tensorflow": tf.__version__,
        "python": platform.python_version(), "results": rows}, indent=1) + "\n")
    write_table(rows)


def write_table(rows):
    lines = ["| stored | embeddings | RSS steady / peak | queries/s (batch 1) | "
             "queries/s (batch 256) | GFLOP/s (batch 256) | NumPy queries/s (1 / 256) | "
             "save / load | file |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(
            f"| {r['size']:,} x {r['dim']} | {r['embeddings_mib']:,} MiB | "
            f"{r['steady_rss_mib']:,} / {r['peak_rss_mib']:,} MiB | "
            f"{r['queries_per_s_batch1']:,} | {r['queries_per_s_batch256']:,} | "
            f"{r['gflops_batch256']} | {r['numpy_queries_per_s_batch1']:,} / "
            f"{r['numpy_queries_per_s_batch256']:,} | "
            f"{r['save_seconds']} / {r['load_seconds']} s | {r['file_mib']:,} MiB |")
    replace_block("retrieval_index", "\n".join(lines))


if __name__ == "__main__":
    main()
