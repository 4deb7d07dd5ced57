"""Exact top-k by inner product over a corpus, on NumPy's BLAS, without TensorFlow.

The corpus is scanned in chunks of rows: one float32 matrix product per chunk
(`chunk @ queries^T`, about 1 MiB of scores, so they stay in the core's cache), then the
maximum of each block of 16 rows is compared with each query's running k-th best score
(once every query's is positive: one cut on the scores divided by it, over blocks of
whole rows); only the blocks that beat it are looked at again, so the top-k costs about
one pass over the scores instead of a partition or a sort. Each candidate's score is
then computed again row by row, so every kept score comes from the same computation
whichever product found it (the products' float32 rounding is bounded and allowed
for). The corpus is split into one contiguous range of rows per thread; each thread
runs a single-threaded BLAS (`threadpoolctl`). That is faster than one multi-threaded
product per chunk, and much faster when the cores are shared with other work: no thread
waits for another at every product.

>>> scores, rows = top_k(queries, Float32Rows.encode(corpus), k=10)   # storage.py
"""

import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

SCORES_PER_CHUNK = 1 << 18  # float32 scores per chunk and thread: 1 MiB
BLOCK = 16  # rows whose maximum is compared with each query's k-th best score
_OFFSETS = np.arange(BLOCK)
ROW_BLOCK = 4  # whole rows (all queries) per maximum in the scaled search
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
        return _scan(corpus, int(bounds[part]), int(bounds[part + 1]), queries, transposed,
                     k, chunk)

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


def _scan(corpus, start, stop, queries, transposed, k, chunk):
    """Top-k candidates `(query, score, row)` of rows `start:stop`, one chunk at a time.

    Chunk products only find candidates; each candidate's score is then computed again,
    row by row (`_rescore`), so every score kept comes from the same computation
    whichever product found it (ties stay ties). `slack` bounds the difference between
    the two computations of a score (float32 rounding, any summation order)."""
    batch, dim = queries.shape
    chunk = min(chunk, stop - start)
    scores = np.empty((chunk, batch), np.float32)
    peaks = np.empty((chunk // BLOCK, batch), np.float32)
    buffer = np.empty((chunk, dim), np.float32) if corpus.decodes else None
    gamma = (dim + 1) * 2.0 ** -24 / (1 - (dim + 1) * 2.0 ** -24)
    slack = (4 * gamma * corpus.max_norm * np.linalg.norm(queries, axis=1)).astype(
        np.float32)
    pool, scaled = _Pool(batch, k), None
    for position in range(start, stop, chunk):
        count = min(chunk, stop - position)
        part, rows = scores[:count], corpus.rows(position, position + count, buffer)
        if position == start:
            np.matmul(rows, transposed, out=part)
            query, row = _above(part, _first_threshold(part, k) - 2 * slack)
        elif scaled is not None:  # every threshold > 0: scores / threshold > 1 - cut
            np.matmul(rows, scaled[0], out=part)
            query, row = _rows_above(part, scaled[1])
        else:
            np.matmul(rows, transposed, out=part)
            query, row = _blocks_above(part, peaks, pool.threshold - slack)
        if len(query):
            score = _rescore(rows, row, queries, query)
            keep = score > pool.threshold[query]
            pool.add(query[keep], score[keep], row[keep] + position)
        if (pool.trim() if position == start else pool.trim_if_full()):
            scaled = _scaled(transposed, pool.threshold, slack)
    pool.trim()
    return pool.queries, pool.scores, pool.rows


def _rescore(rows, row, queries, query):
    return np.einsum("ij,ij->i", rows[row], queries[query])


def _scaled(transposed, threshold, slack):
    """`(queries^T / threshold, cut)` for the scaled search, when every threshold is
    positive and the slack is small next to it; None otherwise."""
    if not (threshold > 0).all():
        return None
    margin = float((slack / threshold).max())
    if margin > 1e-3:
        return None
    return transposed / threshold, np.float32(1 - margin)


def _first_threshold(part, k, blocks_per_k=4):
    """A lower bound of each query's k-th best score in `part` [rows, queries]: the k-th
    largest of the maxima of `blocks_per_k * k` blocks of rows (k distinct rows score at
    least that much)."""
    count, batch = part.shape
    if count <= k:
        return np.full(batch, -np.inf, np.float32)
    blocks = min(count, blocks_per_k * k)
    size = count // blocks
    peaks = part[:blocks * size].reshape(blocks, size, batch).max(axis=1)
    return np.partition(peaks, blocks - k, axis=0)[blocks - k]


def _above(part, threshold):
    """`(query, row)` of every score in `part` [rows, queries] at or above its query's
    threshold, by query then row."""
    found = np.flatnonzero(part.T >= threshold[:, None])
    return np.divmod(found, part.shape[0])


def _rows_above(part, cut):
    """`(query, row)` of the scores in `part` [rows, queries] above one `cut`, looking
    only into the blocks of BLOCK whole rows (contiguous) whose maximum beats it."""
    count, batch = part.shape
    width = ROW_BLOCK * batch
    flat = part.reshape(-1)
    blocks = count // ROW_BLOCK
    hot = np.flatnonzero(flat[:blocks * width].reshape(blocks, width).max(axis=1) > cut)
    found = []
    if len(hot):
        within = np.flatnonzero(flat[:blocks * width].reshape(blocks, width)[hot] > cut)
        block, offset = np.divmod(within, width)
        found.append(hot[block] * width + offset)
    if blocks * ROW_BLOCK < count:
        found.append(np.flatnonzero(flat[blocks * width:] > cut) + blocks * width)
    if not found:
        return _NONE
    row, query = np.divmod(np.concatenate(found), batch)
    return query, row


def _blocks_above(part, peaks, threshold):
    """`(query, row)` of the scores in `part` [rows, queries] above their query's
    threshold, looking only into the blocks of BLOCK rows whose maximum for the query
    beats it; by block, then query, then row."""
    count, batch = part.shape
    blocks = count // BLOCK
    found_queries, found_rows = [], []
    if blocks:
        np.max(part[:blocks * BLOCK].reshape(blocks, BLOCK, batch), axis=1,
               out=peaks[:blocks])
        # flatnonzero + divmod: 2-D np.nonzero costs 4x more at these sizes.
        block, query = np.divmod(np.flatnonzero(peaks[:blocks] > threshold), batch)
        rows = block[:, None] * BLOCK + _OFFSETS  # [found blocks, BLOCK]
        values = part[rows, query[:, None]]
        which, offset = np.divmod(np.flatnonzero(values > threshold[query, None]), BLOCK)
        found_queries.append(query[which])
        found_rows.append(rows[which, offset])
    if blocks * BLOCK < count:
        row, query = np.divmod(np.flatnonzero(part[blocks * BLOCK:] > threshold), batch)
        found_queries.append(query)
        found_rows.append(row + blocks * BLOCK)
    if not found_queries:
        return _NONE
    return np.concatenate(found_queries), np.concatenate(found_rows)


_NONE = (np.zeros(0, np.int64), np.zeros(0, np.int64))


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
        """Trims once the new candidates are worth a sort; True if it did."""
        if self.pending_count > self.batch * self.k:
            return self.trim()
        return False

    def trim(self):
        if not self.pending:
            return False
        queries, scores, rows = (np.concatenate([old] + list(new)) for old, new in zip(
            (self.queries, self.scores, self.rows), zip(*self.pending)))
        self.pending, self.pending_count = [], 0
        self.queries, self.scores, self.rows, self.threshold = _best(
            queries, scores, rows, self.batch, self.k)
        return True


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
