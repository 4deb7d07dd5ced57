"""Autoregressive decoding inside the TensorFlow graph: greedy, beam search, sampling.

The search functions are model-agnostic. A model supplies a step function

    step_fn(sequences, index, state, context) -> (logits [N, V], new state)

where `sequences` is the int32 token buffer `[N, max_length + 1]` (column 0 the start
token, column `i + 1` the token chosen at step `i`, zeros after), `index` the step (a
scalar int32 tensor: the position whose next token is asked for), `state` a nest of
tensors with leading dimension N that the step updates (e.g. key/value caches or LSTM
`(h, c)`) and `context` a nest of tensors with leading dimension N that stays fixed (e.g.
the image keys/values of cross-attention). A cached step reads only `sequences[:, index]`;
an uncached one may re-run the model over the whole buffer. N is the batch size, times
`num_beams` in beam search, where `state` is re-ordered along with the beams at every
step and `context` (identical for the beams of one example) is not.

Everything is built from `tf.while_loop`, `tf.gather` and `tf.math.top_k`, so it runs in
a `tf.function` (also with `jit_compile=True`) and exports in a SavedModel.

>>> out = greedy_search(step_fn, state, context, batch_size, start_id=2, end_id=3,
...                     max_length=20)
>>> out["tokens"]   # int32 [B, 20]: the tokens after the start token, zeros after the end
>>> beam_search(step_fn, expand_to_beams(state, 3), expand_to_beams(context, 3),
...             batch_size, 2, 3, 20, num_beams=3, length_penalty=1.0)
"""

import math
import numbers

import tensorflow as tf

NEG_INF = -1.0e9


def _is_integer(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def check_decoding_arguments(max_length, num_beams=1, temperature=None, top_k=None,
                             length_penalty=0.0, limit=None, min_length=0):
    """Raises a ValueError naming the first invalid decoding argument."""
    if not _is_integer(max_length) or max_length < 1:
        raise ValueError(f"max_length must be a positive integer, received {max_length!r}.")
    if limit is not None and max_length > limit:
        raise ValueError(
            f"max_length={max_length} exceeds the model's sequence_length={limit} "
            "(the positions it was built for).")
    if not _is_integer(min_length) or not 0 <= min_length <= max_length:
        raise ValueError(
            f"min_length must be an integer in [0, max_length={max_length}], received "
            f"{min_length!r}.")
    if not _is_integer(num_beams) or num_beams < 1:
        raise ValueError(
            f"num_beams (the beam width) must be a positive integer, received "
            f"{num_beams!r}.")
    if temperature is not None and not (isinstance(temperature, numbers.Real)
                                        and math.isfinite(temperature) and temperature > 0):
        raise ValueError(f"temperature must be a positive finite number, received "
                         f"{temperature!r}.")
    if top_k is not None and (not _is_integer(top_k) or top_k < 0):
        raise ValueError(f"top_k must be a non-negative integer, received {top_k!r}.")
    if num_beams > 1 and (temperature is not None or top_k is not None):
        raise ValueError("Beam search is deterministic: pass num_beams=1 to sample with "
                         "temperature / top_k.")
    if isinstance(length_penalty, bool) or not isinstance(length_penalty, numbers.Real) or \
            not math.isfinite(length_penalty):
        raise ValueError(f"length_penalty must be a finite number, received "
                         f"{length_penalty!r}.")


def expand_to_beams(nest, num_beams):
    """Repeats every row of every tensor in `nest` `num_beams` times: [B, ...] ->
    [B * num_beams, ...] with the beams of one example next to each other."""
    return tf.nest.map_structure(lambda t: tf.repeat(t, num_beams, axis=0), nest)


def _start_buffer(batch_size, start_id, max_length):
    start = tf.fill([batch_size, 1], tf.constant(start_id, tf.int32))
    return tf.concat([start, tf.zeros([batch_size, max_length], tf.int32)], axis=1)


def _set_column(sequences, column, values):
    """`sequences` with `sequences[..., column] = values` (column a scalar tensor)."""
    width = tf.shape(sequences)[-1]
    hit = tf.equal(tf.range(width), column)
    return tf.where(hit, tf.expand_dims(values, -1), sequences)


def _token_search(step_fn, state, context, batch_size, start_id, end_id, max_length,
                  choose):
    """Shared loop of greedy search and sampling; `choose(logits, index)` -> ids [N]."""
    sequences = _start_buffer(batch_size, start_id, max_length)
    finished = tf.zeros([batch_size], tf.bool)
    scores = tf.zeros([batch_size], tf.float32)

    def condition(index, sequences, state, finished, scores):
        return tf.logical_and(index < max_length,
                              tf.logical_not(tf.reduce_all(finished)))

    def body(index, sequences, state, finished, scores):
        logits, state = step_fn(sequences, index, state, context)
        logits = tf.cast(logits, tf.float32)
        tokens = tf.cast(choose(logits, index), tf.int32)
        log_probs = tf.nn.log_softmax(logits)
        picked = tf.gather(log_probs, tokens, batch_dims=1)
        tokens = tf.where(finished, tf.zeros_like(tokens), tokens)
        scores = scores + tf.where(finished, tf.zeros_like(picked), picked)
        sequences = _set_column(sequences, index + 1, tokens)
        finished = tf.logical_or(finished, tf.equal(tokens, end_id))
        return index + 1, sequences, state, finished, scores

    _, sequences, _, _, scores = tf.while_loop(
        condition, body, (tf.constant(0), sequences, state, finished, scores),
        maximum_iterations=max_length)
    return {"tokens": sequences[:, 1:], "scores": scores}


def greedy_search(step_fn, state, context, batch_size, start_id, end_id, max_length):
    """The most probable token at every step, until the end token or `max_length`.

    Returns `{"tokens": int32 [B, max_length], "scores": float32 [B]}` (the summed
    log-probabilities of the chosen tokens, end token included). Stops early when every
    sequence has produced the end token.
    """
    return _token_search(step_fn, state, context, batch_size, start_id, end_id,
                         max_length, lambda logits, index: tf.argmax(logits, axis=-1))


def sample(step_fn, state, context, batch_size, start_id, end_id, max_length,
           temperature=1.0, top_k=0, seed=0):
    """Samples each token from softmax(logits / temperature), restricted to the `top_k`
    most probable tokens when `top_k > 0`. Deterministic given `seed` (stateless random
    ops seeded with `(seed, step)`). Returns what `greedy_search` returns."""
    seed = tf.cast(seed, tf.int32)

    def choose(logits, index):
        logits = logits / tf.cast(temperature, tf.float32)
        if top_k:
            kth = tf.math.top_k(logits, k=top_k).values[:, -1:]
            logits = tf.where(logits < kth, tf.fill(tf.shape(logits), NEG_INF), logits)
        return tf.random.stateless_categorical(
            logits, 1, seed=tf.stack([seed, index]), dtype=tf.int32)[:, 0]

    return _token_search(step_fn, state, context, batch_size, start_id, end_id,
                         max_length, choose)


def _length_penalty(length, alpha):
    """Hypothesis scores are summed log-probabilities divided by length ** alpha."""
    return tf.pow(tf.cast(length, tf.float32), tf.cast(alpha, tf.float32))


def beam_search(step_fn, state, context, batch_size, start_id, end_id, max_length,
                num_beams=3, length_penalty=1.0, early_stopping=True):
    """Beam search over `num_beams` hypotheses per example.

    `state` and `context` must already hold `num_beams` rows per example
    (`expand_to_beams`). Each step expands the live beams, keeps the best `num_beams`
    continuations that do not end, and moves the ones that end (if they rank among the
    best `num_beams` of the step, as in Hugging Face's beam search) to a pool of finished
    hypotheses scored by `sum(log p) / length ** length_penalty` (length counted in
    generated tokens, end token included). With `early_stopping` an example is done once
    it has `num_beams` finished hypotheses; without, once no live beam can still beat
    the worst of them. Examples that finish nothing by `max_length` keep their live
    beams. `num_beams=1` gives exactly greedy search.

    Returns `{"tokens": int32 [B, max_length], "scores": float32 [B]}`, the best
    hypothesis and its (length-normalised) score.
    """
    beams = int(num_beams)
    width = max_length + 1
    alive_sequences = tf.reshape(
        _start_buffer(batch_size * beams, start_id, max_length), [-1, beams, width])
    # Only the first beam is live at the start, so the first step expands one copy.
    alive_scores = tf.tile(
        tf.concat([[0.0], tf.fill([beams - 1], NEG_INF)], axis=0)[None], [batch_size, 1])
    finished_sequences = tf.zeros_like(alive_sequences)
    finished_scores = tf.fill([batch_size, beams], NEG_INF)
    finished_flags = tf.zeros([batch_size, beams], tf.bool)
    done = tf.zeros([batch_size], tf.bool)
    rank_ok = tf.range(2 * beams) < beams
    offsets = tf.range(batch_size)[:, None] * beams

    def condition(index, alive_sequences, alive_scores, finished_sequences,
                  finished_scores, finished_flags, done, state):
        return tf.logical_and(index < max_length, tf.logical_not(tf.reduce_all(done)))

    def body(index, alive_sequences, alive_scores, finished_sequences, finished_scores,
             finished_flags, done, state):
        flat = tf.reshape(alive_sequences, [-1, width])
        logits, state = step_fn(flat, index, state, context)
        log_probs = tf.nn.log_softmax(tf.cast(logits, tf.float32))
        vocab = tf.shape(log_probs)[-1]
        candidates = alive_scores[:, :, None] + tf.reshape(log_probs, [-1, beams, vocab])
        top_scores, top_ids = tf.math.top_k(
            tf.reshape(candidates, [-1, beams * vocab]), k=2 * beams)
        source_beams = top_ids // vocab
        tokens = top_ids % vocab
        top_sequences = _set_column(
            tf.gather(alive_sequences, source_beams, batch_dims=1), index + 1, tokens)
        ends = tf.equal(tokens, end_id)

        # Live beams: the best continuations that do not end.
        live_scores = tf.where(ends, tf.fill(tf.shape(top_scores), NEG_INF), top_scores)
        live_scores, picked = tf.math.top_k(live_scores, k=beams)
        new_alive_sequences = tf.gather(top_sequences, picked, batch_dims=1)
        parents = tf.gather(source_beams, picked, batch_dims=1) + offsets
        state = tf.nest.map_structure(
            lambda t: tf.gather(t, tf.reshape(parents, [-1]), axis=0), state)

        # Finished pool: merge the hypotheses that end here (examples not yet done).
        length = _length_penalty(index + 1, length_penalty)
        newly = tf.logical_and(ends, rank_ok[None])
        newly = tf.logical_and(newly, tf.logical_not(done)[:, None])
        new_scores = tf.where(newly, top_scores / length,
                              tf.fill(tf.shape(top_scores), NEG_INF))
        pool_sequences = tf.concat([finished_sequences, top_sequences], axis=1)
        pool_scores = tf.concat([finished_scores, new_scores], axis=1)
        pool_flags = tf.concat([finished_flags, newly], axis=1)
        finished_scores, kept = tf.math.top_k(pool_scores, k=beams)
        finished_sequences = tf.gather(pool_sequences, kept, batch_dims=1)
        finished_flags = tf.gather(pool_flags, kept, batch_dims=1)

        if early_stopping:
            now_done = tf.reduce_all(finished_flags, axis=1)
        else:
            best_penalty = tf.maximum(_length_penalty(index + 2, length_penalty),
                                      _length_penalty(max_length, length_penalty))
            bound = live_scores[:, 0] / best_penalty
            worst = tf.where(tf.reduce_all(finished_flags, axis=1),
                             tf.reduce_min(finished_scores, axis=1), NEG_INF)
            now_done = worst >= bound
        done = tf.logical_or(done, now_done)
        return (index + 1, new_alive_sequences, live_scores, finished_sequences,
                finished_scores, finished_flags, done, state)

    (steps, alive_sequences, alive_scores, finished_sequences, finished_scores,
     finished_flags, done, _) = tf.while_loop(
        condition, body,
        (tf.constant(0), alive_sequences, alive_scores, finished_sequences,
         finished_scores, finished_flags, done, state),
        maximum_iterations=max_length)

    # Examples not done at max_length: their live beams compete with what finished.
    alive_final = tf.where(done[:, None], tf.fill(tf.shape(alive_scores), NEG_INF),
                           alive_scores / _length_penalty(steps, length_penalty))
    pool_sequences = tf.concat([finished_sequences, alive_sequences], axis=1)
    pool_scores = tf.concat([finished_scores, alive_final], axis=1)
    best = tf.argmax(pool_scores, axis=1, output_type=tf.int32)
    sequences = tf.gather(pool_sequences, best, batch_dims=1)
    return {"tokens": sequences[:, 1:], "scores": tf.gather(pool_scores, best,
                                                            batch_dims=1)}


def decode(step_fn, state, context, batch_size, start_id, end_id, max_length,
           num_beams=1, length_penalty=1.0, early_stopping=True, temperature=None,
           top_k=None, seed=0):
    """Greedy search, beam search (`num_beams > 1`) or sampling (`temperature` or
    `top_k` given), on `state` / `context` with one row per example (expanded to the
    beams here)."""
    if num_beams > 1:
        return beam_search(step_fn, expand_to_beams(state, num_beams),
                           expand_to_beams(context, num_beams), batch_size, start_id,
                           end_id, max_length, num_beams, length_penalty, early_stopping)
    if temperature is not None or top_k is not None:
        return sample(step_fn, state, context, batch_size, start_id, end_id, max_length,
                      1.0 if temperature is None else temperature, top_k or 0, seed)
    return greedy_search(step_fn, state, context, batch_size, start_id, end_id,
                         max_length)
