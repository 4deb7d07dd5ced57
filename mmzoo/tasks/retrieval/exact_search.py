"""Exact top-k by inner product over a corpus, on NumPy's BLAS, without TensorFlow.

The corpus is scanned in chunks of rows: one float32 matrix product per chunk
(`chunk @ queries^T`, about 1 MiB of scores, so they stay in the core's cache), then each
query's maximum over the chunk is compared with its running k-th best score: only the
queries it beats are looked at again (their few scores above it become candidates), so
the top-k costs one pass over the scores instead of a partition or a sort. The corpus
is split into one contiguous range of rows per thread; each thread runs a
single-threaded BLAS (`threadpoolctl`). That is faster than one multi-threaded product
per chunk, and much faster when the cores are shared with other work: no thread waits
for another at every product.

>>> scores, rows = top_k(queries, Float32Rows.encode(corpus), k=10)   # storage.py
"""

import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

SCORES_PER_CHUNK = 1 << 18  # float32 scores per chunk and thread: 1 MiB
MIN_WORK_PER_PART = 1 << 24  # multiply-adds (~0.2 ms) below which one thread is faster
PARTS_PER_THREAD = 1  # more parts balance threads under load but cost more than they save


def default_threads():
    """CPU cores this process may use."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def chunk_rows(batch):
    """Corpus rows per chunk for `batch` queries."""
    return min(1 << 16, max(256, SCORES_PER_CHUNK // max(1, batch)))


def top_k(queries, corpus, k, threads=None, chunk_size=None):
    """Exact top-k of `queries @ corpus^T`: `(scores [B, k] float32, rows [B, k] int64)`,
    best first, equal scores lower row first.

    queries: `[B, D]` float32; corpus: `len(corpus)` rows served as float32 by
    `corpus.rows(start, stop, out)` (a view, or decoded into `out`, a `[chunk, D]`
    float32 buffer that the scan allocates when `corpus.decodes`); k <= len(corpus).
    threads: CPU threads (default: the cores this process may use).
    """
    queries = np.ascontiguousarray(queries, np.float32)
    size = len(corpus)
    batch, dim = queries.shape
    chunk = max(1, int(chunk_size)) if chunk_size else chunk_rows(batch)
    threads = default_threads() if threads is None else max(1, int(threads))
    if not _can_limit_blas():
        threads = 1  # threads each running a multi-threaded BLAS are slower than one
    by_work = max(1, size * batch * dim // MIN_WORK_PER_PART)
    parts = max(1, min(threads * PARTS_PER_THREAD, by_work, -(-size // chunk)))
    bounds = np.linspace(0, size, parts + 1).astype(np.int64)
    transposed = np.ascontiguousarray(queries.T)

    def scan(part):
        return _scan(corpus, int(bounds[part]), int(bounds[part + 1]), transposed, k,
                     chunk)

    with _single_threaded_blas():
        if parts == 1 or threads == 1:
            found = [scan(part) for part in range(parts)]
        else:  # parts in row order; idle threads take the next part
            found = list(_executor(min(threads, parts)).map(scan, range(parts)))
    # Each part's candidates are sorted and in row order after the previous part's.
    candidates = [np.concatenate(column) for column in zip(*found)]
    best_queries, best_scores, best_rows, _ = _best(*candidates, batch, k)
    if len(best_queries) != batch * k:  # scores overflowed to -inf or NaN
        raise ValueError("Scores are not finite: the embeddings or queries are too large.")
    return best_scores.reshape(batch, k), best_rows.reshape(batch, k)


def _scan(corpus, start, stop, transposed, k, chunk):
    """Top-k candidates `(query, score, row)` of rows `start:stop`, one chunk at a time."""
    batch = transposed.shape[1]
    chunk = min(chunk, stop - start)
    scores = np.empty((chunk, batch), np.float32)
    peak = np.empty(batch, np.float32)
    buffer = np.empty((chunk, transposed.shape[0]), np.float32) if corpus.decodes else None
    pool = _Pool(batch, k)
    for position in range(start, stop, chunk):
        count = min(chunk, stop - position)
        part = scores[:count]
        np.matmul(corpus.rows(position, position + count, buffer), transposed, out=part)
        if position == start:
            pool.add(*_above(part, _first_threshold(part, k), position))
            pool.trim()
            continue
        np.max(part, axis=0, out=peak)
        pool.add(*_above(part, pool.threshold, position, peak))
        pool.trim_if_full()
    pool.trim()
    return pool.queries, pool.scores, pool.rows


def _first_threshold(part, k, blocks_per_k=4):
    """A lower bound of each query's k-th best score in `part` [rows, queries]: the k-th
    largest of the maxima of `blocks_per_k * k` blocks of rows (k distinct rows score at
    least that much), minus one ulp so that `x > bound` keeps ties."""
    count, batch = part.shape
    if count <= k:
        return np.full(batch, -np.inf, np.float32)
    blocks = min(count, blocks_per_k * k)
    size = count // blocks
    peaks = part[:blocks * size].reshape(blocks, size, batch).max(axis=1)
    bound = np.partition(peaks, blocks - k, axis=0)[blocks - k]
    return np.nextafter(bound, np.float32(-np.inf))


def _above(part, threshold, position, peak=None):
    """`(query, score, row)` of the scores in `part` [rows, queries] above their query's
    threshold; only the queries whose `peak` (column maximum) beats it are looked at."""
    hit = np.flatnonzero(peak > threshold) if peak is not None else np.arange(len(threshold))
    if not len(hit):
        return ()
    rows = part.T[hit]  # [hits, rows]: one copy of the few columns that matter
    found = np.flatnonzero(rows > threshold[hit, None])
    which, row = np.divmod(found, part.shape[0])
    return hit[which], rows.ravel()[found], row + position


class _Pool:
    """Candidates of one thread; `threshold[q]` is a lower bound of query q's k-th best
    score so far (exact after `trim`; -inf while q has fewer than k candidates)."""

    def __init__(self, batch, k):
        self.batch, self.k = batch, k
        self.threshold = np.full(batch, -np.inf, np.float32)
        self.queries = np.zeros(0, np.int64)
        self.scores = np.zeros(0, np.float32)
        self.rows = np.zeros(0, np.int64)
        self.pending, self.pending_count = [], 0

    def add(self, *found):
        if found and len(found[0]):
            self.pending.append(found)
            self.pending_count += len(found[0])

    def trim_if_full(self):
        # Trimming costs a sort: wait until the new candidates are worth it.
        if self.pending_count > self.batch * self.k:
            self.trim()

    def trim(self):
        if not self.pending:
            return
        queries, scores, rows = (np.concatenate([old] + list(new)) for old, new in zip(
            (self.queries, self.scores, self.rows), zip(*self.pending)))
        self.pending, self.pending_count = [], 0
        self.queries, self.scores, self.rows, self.threshold = _best(
            queries, scores, rows, self.batch, self.k)


def _best(queries, scores, rows, batch, k):
    """The k best candidates of each query, sorted by (query, score desc, row), and the
    k-th best score per query (-inf where a query has fewer than k).

    Candidates must come in an order where equal (query, score) pairs are in row order
    (as the scan finds them): one stable sort by (query, score desc) then keeps ties in
    row order."""
    order = np.argsort(_sort_key(queries, scores), kind="stable")
    queries, scores, rows = queries[order], scores[order], rows[order]
    rank = np.arange(len(queries)) - np.searchsorted(queries, np.arange(batch))[queries]
    keep = rank < k
    queries, scores, rows, rank = queries[keep], scores[keep], rows[keep], rank[keep]
    threshold = np.full(batch, -np.inf, np.float32)
    last = rank == k - 1
    threshold[queries[last]] = scores[last]
    return queries.astype(np.int64), scores, rows.astype(np.int64), threshold


def _sort_key(queries, scores):
    """uint64 keys ordered as (query ascending, score descending)."""
    bits = (scores + np.float32(0)).view(np.uint32)  # + 0 turns -0.0 into 0.0
    negative = (bits >> np.uint32(31)).astype(bool)
    ascending = np.where(negative, ~bits, bits | np.uint32(0x80000000))
    return (queries.astype(np.uint64) << np.uint64(32)) | (~ascending).astype(np.uint64)


# ----- threads ---------------------------------------------------------------------
_lock = threading.Lock()
_executors = {}
_blas = {"users": 0, "limiter": None}


def _executor(workers):
    with _lock:
        if workers not in _executors:
            _executors[workers] = ThreadPoolExecutor(workers, "mmzoo-index")
        return _executors[workers]


class _single_threaded_blas:
    """Limits the BLAS libraries to one thread while any search is inside (a counted,
    process-wide setting: BLAS thread counts are global). No-op without threadpoolctl."""

    def __enter__(self):
        with _lock:
            if _blas["users"] == 0:
                _blas["limiter"] = _limit_blas()
            _blas["users"] += 1

    def __exit__(self, *error):
        with _lock:
            _blas["users"] -= 1
            if _blas["users"] == 0 and _blas["limiter"] is not None:
                _blas["limiter"].restore_original_limits()
                _blas["limiter"] = None


def _can_limit_blas():
    return _controller() is not None


def _controller():
    if "controller" not in _blas:
        try:
            from threadpoolctl import ThreadpoolController
            _blas["controller"] = ThreadpoolController()
        except ImportError:
            _blas["controller"] = None
    return _blas["controller"]


def _limit_blas():
    controller = _controller()
    return None if controller is None else controller.limit(limits=1, user_api="blas")
