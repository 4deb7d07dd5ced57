"""Exact top-10 search of `mmzoo.tasks.retrieval.Index` against faiss-cpu, side by side,
and the options for corpora that outgrow exact search (bfloat16 / int8 storage, faiss
IVF / HNSW backends).

    python benchmarks/retrieval_index.py [--sizes 10000 100000 1000000] [--reps 5]

The corpus is random unit vectors of 128 dimensions, the size issue 17 compares faiss at
(the shipped dual encoders now embed in 256; search cost grows linearly with it and
depends only on the number and size of the vectors). For each size:

- every library runs in its own process (`--worker`), all holding the same corpus: faiss
  in a process with TensorFlow slows down and turns erratic (thread pools compete), so
  the timings compare each library alone; one more process measures exactly that
  (faiss' BLAS path right after a TensorFlow op in the same process);
- the sides are timed alternately (A B C ... A B C ...) `--reps` times, and each figure
  is the median: the machine is shared, so read the ratios, which were measured under
  the same load (the load average is recorded next to them);
- faiss `IndexFlatIP` runs with 2 threads (and 1, next to mmzoo's 1 thread), with its
  default settings (below 128,000 queries it scans the corpus once per query) and with
  its BLAS path (`faiss.cvar.distance_compute_blas_threshold = 20`; its bundled OpenBLAS
  runs with `OPENBLAS_CORETYPE=SkylakeX`, which this CPU needs to get AVX-512 kernels);
- recall@10 of every approximate option is against the exact top-10.

A fresh process per size measures memory (RSS above the process with TensorFlow loaded)
and save / load. Writes benchmarks/results/retrieval_index.json (merged by size) and
the tables in benchmarks/README.md.
"""

import argparse
import json
import os
import pathlib
import platform
import resource
import subprocess
import sys
import tempfile
import time

from readme_block import replace_block  # benchmarks/ is on sys.path
from results_file import save_results

ROOT = pathlib.Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "retrieval_index.json"
K = 10
FAISS_ENV = {"OPENBLAS_CORETYPE": "SkylakeX"}


# ----- the corpus (the same in every process) -----------------------------------------
def random_unit_vectors(count, dim, seed=0, chunk=1 << 16):
    import numpy as np

    rng = np.random.default_rng(seed)
    vectors = np.empty((count, dim), np.float32)
    for start in range(0, count, chunk):
        block = rng.standard_normal((min(chunk, count - start), dim), dtype=np.float32)
        vectors[start:start + len(block)] = block / np.linalg.norm(block, axis=1,
                                                                   keepdims=True)
    return vectors


def rss_mib():
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


# ----- worker processes -------------------------------------------------------------
class MmzooSide:
    """mmzoo `Index` variants over the corpus, built on first use."""

    def __init__(self, corpus):
        self.corpus, self.indexes = corpus, {}

    def index(self, storage="float32", faiss_index=None):
        from mmzoo.tasks.retrieval import Index

        key = (storage, faiss_index)
        if key not in self.indexes:
            started = time.perf_counter()
            options = {"backend": "faiss", "faiss_index": faiss_index} if faiss_index else {}
            index = Index(self.corpus, storage=storage, **options)
            self.indexes[key] = (index, time.perf_counter() - started)
        return self.indexes[key]

    def run(self, queries, storage="float32", faiss_index=None, threads=None):
        index, _ = self.index(storage, faiss_index)
        if isinstance(queries, list):  # one user: single queries one after another
            return lambda: [index.search(query, k=K, threads=threads) for query in queries]
        return lambda: index.search(queries, k=K, batch_size=len(queries), threads=threads)

    def describe(self, storage="float32", faiss_index=None, **_):
        index, build = self.index(storage, faiss_index)
        return {"build_seconds": round(build, 2), "mib": round(index.nbytes / 2**20, 1)}


class FaissSide:
    """faiss `IndexFlatIP` (the exact baseline); `tensorflow=True` runs it in a process
    that just ran a TensorFlow op, as a pipeline embedding its queries would."""

    def __init__(self, corpus, tensorflow=False):
        import faiss

        self.faiss, self.tensorflow = faiss, tensorflow
        self.flat = faiss.IndexFlatIP(corpus.shape[1])
        self.flat.add(corpus)
        if tensorflow:
            import tensorflow as tf

            self.weights = tf.random.normal((256, 512))

    def run(self, queries, blas=True, threads=2):
        faiss = self.faiss

        def search():
            faiss.omp_set_num_threads(threads)
            faiss.cvar.distance_compute_blas_threshold = 20 if blas else 128_000
            if self.tensorflow:
                import tensorflow as tf

                tf.matmul(self.weights, self.weights, transpose_b=True).numpy()
            if isinstance(queries, list):
                return [self.flat.search(query[None], K) for query in queries]
            return self.flat.search(queries, K)
        return search

    def describe(self, **_):
        return {}


def worker(kind, size, dim):
    """Answers JSON commands on stdin: {"case": options, "batch": n} (one call with n
    queries) or {"case": options, "singles": n} (n calls with one query each)."""
    import numpy as np

    corpus = random_unit_vectors(size, dim)
    queries = random_unit_vectors(256, dim, seed=1)
    side = MmzooSide(corpus) if kind == "mmzoo" else FaissSide(
        corpus, tensorflow=kind == "faiss_in_tf")
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        command = json.loads(line)
        options = command["case"]
        batch = (list(queries[:command["singles"]]) if "singles" in command
                 else queries[:command["batch"]])
        run = side.run(batch, **options)
        if command.get("warm_up"):
            run()  # builds mmzoo variants, first-call costs
        started = time.perf_counter()
        found = run()
        seconds = time.perf_counter() - started
        reply = {"seconds": seconds, **side.describe(**options)}
        if command.get("ids"):
            reply["ids"] = np.asarray(found[1]).tolist()
        print(json.dumps(reply), flush=True)


class Worker:
    def __init__(self, kind, size, dim):
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(ROOT),
               **(FAISS_ENV if kind.startswith("faiss") else {})}
        self.process = subprocess.Popen(
            [sys.executable, __file__, "--worker", kind, "--size", str(size),
             "--dim", str(dim)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
            env=env)
        self.read()

    def ask(self, **command):
        self.process.stdin.write(json.dumps(command) + "\n")
        self.process.stdin.flush()
        return self.read()

    def read(self):
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"worker exited with {self.process.wait()}")
        return json.loads(line)

    def close(self):
        self.process.stdin.close()
        self.process.wait()


# ----- one size -----------------------------------------------------------------------
def cases(size, with_faiss):
    """(name, worker, options, queries per timed call): the sides timed alternately."""
    singles = max(4, min(64, 20_000_000 // size))
    listed = [("mmzoo", "mmzoo", {"threads": 2}, 256), ("mmzoo_1", "mmzoo", {"threads": 2}, -singles),
              ("mmzoo_1thread", "mmzoo", {"threads": 1}, 256)]
    listed += [(f"mmzoo_{storage}", "mmzoo", {"storage": storage, "threads": 2}, 256)
               for storage in ("bfloat16", "int8")]
    if not with_faiss:
        return listed
    default_queries = max(16, min(256, 25_600_000 // size))  # its cost is per query
    listed += [("faiss_blas", "faiss", {}, 256), ("faiss_1", "faiss", {}, -singles),
               ("faiss_blas_1thread", "faiss", {"threads": 1}, 256),
               ("faiss_default", "faiss", {"blas": False}, default_queries),
               ("faiss_blas_in_tf", "faiss_in_tf", {}, 256)]
    listed += [(f"mmzoo_faiss_{spec}", "mmzoo", {"faiss_index": spec}, 256)
               for spec in faiss_specs(size)]
    return listed


def faiss_specs(size):
    lists = 1 << max(4, round(size ** 0.5).bit_length() - 1)  # ~sqrt(N) lists
    specs = [f"IVF{lists},Flat"]
    if size <= 100_000:  # building HNSW over 1M rows takes many minutes on 2 cores
        specs.append("HNSW32")
    return specs


def measure(size, dim, reps, with_faiss):
    import numpy as np

    listed = cases(size, with_faiss)
    workers = {kind: Worker(kind, size, dim) for kind in {c[1] for c in listed}}
    load_before = os.getloadavg()[0]
    seconds, info, ids = {name: [] for name, *_ in listed}, {}, {}
    try:
        for rep in range(reps):
            for name, kind, options, queries in listed:
                command = ({"case": options, "singles": -queries} if queries < 0 else
                           {"case": options, "batch": queries,
                            "ids": rep == 0 and queries == 256})
                command["warm_up"] = rep == 0
                reply = workers[kind].ask(**command)
                seconds[name].append(reply.pop("seconds"))
                if "ids" in reply:
                    ids[name] = np.array(reply.pop("ids"))
                info[name] = reply
                print(f"  {size:,} rep {rep + 1}/{reps} {name}: "
                      f"{abs(queries) / seconds[name][-1]:,.1f} queries/s", flush=True)
    finally:
        for process in workers.values():
            process.close()
    row = {"size": size, "dim": dim, "k": K, "reps": reps,
           "load_average": [round(load_before, 1), round(os.getloadavg()[0], 1)]}
    for name, _, _, queries in listed:
        times = seconds[name]
        row[name] = {"queries_per_s": round(abs(queries) / float(np.median(times)), 1),
                     "queries_per_s_each": [round(abs(queries) / t, 1) for t in times],
                     "queries": abs(queries), **info[name]}
        if name in ids and name != "mmzoo":
            row[name]["recall_at_10"] = recall(ids[name], ids["mmzoo"])
    if "faiss_blas" in ids:
        row["same_ids_as_faiss"] = float((ids["faiss_blas"] == ids["mmzoo"]).all(axis=1)
                                         .mean())
    row["memory"] = memory_child(size, dim)
    return row


def recall(found, exact):
    return round(float(sum(len(set(a) & set(b)) for a, b in zip(found, exact))
                       / exact.size), 4)


def memory_child(size, dim):
    completed = subprocess.run(
        [sys.executable, __file__, "--memory", str(size), "--dim", str(dim)],
        capture_output=True, text=True, check=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(ROOT)})
    return json.loads(completed.stdout.strip().splitlines()[-1])


def memory(size, dim):
    """RSS of a float32 index above the process with TensorFlow loaded; save / load."""
    import tensorflow as tf

    from mmzoo.tasks.retrieval import Index

    tf.constant(0.0)
    baseline = rss_mib()
    index = Index(random_unit_vectors(size, dim), modality="image")
    steady = rss_mib() - baseline
    queries = random_unit_vectors(256, dim, seed=1)
    index.search(queries, k=K)
    figures = {"steady_rss_mib": round(steady, 1), "embeddings_mib": round(
        index.nbytes / 2**20, 1)}
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        path = index.save(os.path.join(folder, "index"))
        figures["save_seconds"] = round(time.perf_counter() - started, 2)
        figures["file_mib"] = round(os.path.getsize(path) / 2**20, 1)
        del index
        started = time.perf_counter()
        Index.load(path).search(queries[:1], k=K)
        figures["load_seconds"] = round(time.perf_counter() - started, 2)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    figures["peak_rss_mib"] = round(peak - baseline, 1)
    return figures


# ----- main ---------------------------------------------------------------------------
def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--size", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--memory", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args.worker, args.size, args.dim)
    if args.memory:
        return print(json.dumps(memory(args.memory, args.dim)))
    with_faiss = subprocess.run([sys.executable, "-c", "import faiss"],
                                capture_output=True, check=False).returncode == 0
    if not with_faiss:
        print("faiss-cpu is not installed: timing mmzoo alone "
              "(pip install faiss-cpu==1.15.1 for the comparison)")
    new = {}
    for size in args.sizes:
        new[str(size)] = measure(size, args.dim, args.reps, with_faiss)
        print(json.dumps(new[str(size)]), flush=True)
    import numpy

    versions = {"python": platform.python_version(), "numpy": numpy.__version__,
                "faiss": faiss_version() if with_faiss else None, "cpus": os.cpu_count()}
    for row in new.values():
        row["versions"] = versions
        row["command"] = "python benchmarks/retrieval_index.py " + " ".join(sys.argv[1:])
    if RESULTS.exists() and "results" in json.loads(RESULTS.read_text()):
        RESULTS.unlink()  # the format before the faiss comparison: one list of sizes
    merged = save_results(RESULTS, new)
    write_tables([merged[key] for key in sorted(merged, key=int) if key.isdigit()])


def faiss_version():
    return subprocess.run([sys.executable, "-c", "import faiss; print(faiss.__version__)"],
                          capture_output=True, text=True, check=False).stdout.strip()


def write_tables(rows):
    from retrieval_index_tables import tables

    replace_block("retrieval_index", tables(rows))


if __name__ == "__main__":
    main()
