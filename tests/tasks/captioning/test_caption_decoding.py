"""In-graph decoding: greedy, beam search and sampling against brute force, and cached
against uncached decoding of both captioning decoders."""

import itertools

import keras
import numpy as np
import pytest
import tensorflow as tf

from mmzoo.tasks.captioning import Captioner, decoding

START, END, VOCAB, TABLE = 2, 3, 7, 97
WORDS = (END, 4, 5, 6)  # ids 0..2 (padding, [UNK], start) are never generated


def _toy(seed, sharpness=2.0):
    """A history-dependent toy language model: logits = table[hash(prefix)].

    Returns (cached step, uncached step, initial state, log-prob function). The cached
    step carries the prefix hash as its state (so beam search must re-order it); the
    uncached one recomputes it from the token buffer.
    """
    rng = np.random.default_rng(seed)
    table = rng.normal(size=(TABLE, VOCAB)) * sharpness
    table[:, :3] = -1e9
    table_t = tf.constant(table, tf.float32)

    def code_after(code, token):
        return (code * VOCAB + token) % TABLE

    def cached(sequences, index, state, context):
        state = code_after(state, sequences[:, index])
        return tf.gather(table_t, state), state

    def uncached(sequences, index, state, context):
        code = tf.zeros(tf.shape(sequences)[:1], tf.int32)
        for column in range(sequences.shape[1]):
            token = sequences[:, column]
            code = tf.where(column <= index, code_after(code, token), code)
        return tf.gather(table_t, code), state

    def log_prob(tokens):
        code, total = code_after(0, START), 0.0
        for token in tokens:
            row = table[code]
            total += row[token] - np.log(np.exp(row - row.max()).sum()) - row.max()
            code = code_after(code, token)
        return total

    return cached, uncached, log_prob


def _run(step, batch=1, max_length=8, beams=None, sampling=None, state=None, **kwargs):
    """Greedy search, or beam search with `beams`, or sampling with `sampling` options."""
    state = tf.zeros([batch], tf.int32) if state is None else state

    def search():
        if beams:
            return decoding.beam_search(step, decoding.expand_to_beams(state, beams), (),
                                        batch, START, END, max_length, num_beams=beams,
                                        **kwargs)
        if sampling is not None:
            return decoding.sample(step, state, (), batch, START, END, max_length,
                                   **sampling)
        return decoding.greedy_search(step, state, (), batch, START, END, max_length)

    out = tf.function(search, autograph=False)()
    return out["tokens"].numpy(), out["scores"].numpy()


def _brute_force(log_prob, max_length, alpha):
    best = (-np.inf, None)
    for length in range(1, max_length + 1):
        for words in itertools.product(WORDS[1:], repeat=length - 1):
            for last in WORDS:
                tokens = list(words) + [last]
                if last != END and length < max_length:
                    continue  # unfinished hypotheses only count at max_length
                score = log_prob(tokens) / length ** alpha
                best = max(best, (score, tuple(tokens)))
    return best


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("alpha", [0.0, 1.0])
def test_wide_beam_finds_the_brute_force_optimum(seed, alpha):
    cached, _, log_prob = _toy(seed, sharpness=1.0)
    tokens, scores = _run(cached, max_length=4, beams=30, length_penalty=alpha,
                          early_stopping=False)
    score, best = _brute_force(log_prob, 4, alpha)
    found = tuple(t for t in tokens[0] if t)
    assert found == best, (found, best)
    np.testing.assert_allclose(scores[0], score, rtol=1e-5)


@pytest.mark.parametrize("seed", range(6))
def test_beam_width_one_is_greedy(seed):
    cached, _, _ = _toy(seed)
    greedy, _ = _run(cached, max_length=8)
    beam, _ = _run(cached, max_length=8, beams=1)
    np.testing.assert_array_equal(beam, greedy)


def test_beam_search_beats_greedy_where_greedy_is_myopic():
    # Greedy takes 4 (p=0.6), then faces four equal choices (p=0.25 each); 5 (p=0.4)
    # is followed by a sure end: beam search finds [5, end] (p=0.4 > 0.15).
    probs = np.zeros((3, VOCAB))
    probs[0, [4, 5]] = 0.6, 0.4       # after <start>
    probs[1, list(WORDS)] = 0.25      # after 4
    probs[2, END] = 1.0               # after 5
    table = tf.constant(np.log(np.maximum(probs, 1e-12)), tf.float32)

    def step(sequences, index, state, context):
        last = sequences[:, index]
        row = tf.where(index == 0, 0, tf.where(last == 4, 1, 2))
        return tf.gather(table, row), state

    greedy, _ = _run(step, max_length=2)
    beam, scores = _run(step, max_length=2, beams=2, length_penalty=0.0)
    assert list(greedy[0]) == [4, END] and list(beam[0]) == [5, END]
    np.testing.assert_allclose(scores[0], np.log(0.4), rtol=1e-5)


@pytest.mark.parametrize("beams", [1, 3])
def test_beam_search_reorders_the_cached_state(beams):
    cached, uncached, _ = _toy(7)
    with_cache, _ = _run(cached, batch=2, max_length=6, beams=beams)
    without, _ = _run(uncached, batch=2, max_length=6, beams=beams)
    np.testing.assert_array_equal(with_cache, without)


def test_batched_beam_search_decodes_each_example_independently():
    cached, _, _ = _toy(3)
    state = tf.constant([0, 5, 11], tf.int32)  # three different starting hashes
    together, _ = _run(cached, batch=3, max_length=6, beams=3, state=state)
    for row in range(3):
        alone, _ = _run(cached, batch=1, max_length=6, beams=3, state=state[row:row + 1])
        np.testing.assert_array_equal(together[row], alone[0])


def test_tokens_after_the_end_token_are_padding():
    cached, _, _ = _toy(1, sharpness=4.0)
    tokens, _ = _run(cached, batch=4, max_length=12)
    for row in tokens:
        if END in row:
            after = row[list(row).index(END) + 1:]
            assert not after.any()


def test_sampling_is_seeded_and_top_k_one_is_greedy():
    cached, _, _ = _toy(2, sharpness=0.5)
    def sample(seed, **options):
        return _run(cached, batch=16, sampling={"seed": seed, **options})[0]

    np.testing.assert_array_equal(sample(5), sample(5))
    assert not np.array_equal(sample(5), sample(6))
    greedy, _ = _run(cached, batch=16)
    np.testing.assert_array_equal(sample(9, top_k=1), greedy)
    # A tiny temperature is greedy too; top_k=2 only ever picks a top-2 token.
    np.testing.assert_array_equal(sample(9, temperature=1e-4), greedy)


@pytest.mark.parametrize("kwargs, message", [
    ({"max_length": 0}, "max_length must be a positive integer"),
    ({"max_length": 5, "num_beams": 0}, "num_beams \\(the beam width\\) must be"),
    ({"max_length": 5, "temperature": 0.0}, "temperature must be a positive finite number"),
    ({"max_length": 5, "top_k": -1}, "top_k must be a non-negative"),
    ({"max_length": 5, "num_beams": 2, "top_k": 3}, "Beam search is deterministic"),
    ({"max_length": 30, "limit": 20}, "exceeds the model's sequence_length=20"),
])
def test_bad_decoding_arguments_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        decoding.check_decoding_arguments(**kwargs)


# ----- the captioning decoders ------------------------------------------------------------

CAPTIONS = ["a dog runs on the grass", "two people ride bikes on a road",
            "a black dog jumps over a log", "a man in a red shirt climbs a rock"]


def tiny_captioner(decoder, **overrides):
    keras.utils.set_random_seed(0)
    config = dict(decoder=decoder, image_size=32, image_options={"filters": [8, 16]},
                  vocab_size=40, sequence_length=12, embed_dim=32, feature_dim=32,
                  num_heads=4, ffn_dim=64, lstm_units=32, attention_units=16,
                  encoder_layers=1, dropout=0.0, attention_regularizer=0.0)
    model = Captioner(**{**config, **overrides})
    model.adapt_text(CAPTIONS)
    return model


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(0).uniform(0, 255, (5, 40, 36, 3)).astype("float32")


@pytest.fixture(scope="module", params=["transformer", "lstm_attention"])
def captioner(request, images):
    """A tiny captioner that has memorised one caption per image (a few seconds)."""
    model = tiny_captioner(request.param, augment=False)
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    data = tf.data.Dataset.from_tensor_slices(
        {"image": images[:4], "captions": np.array([[c] * 5 for c in CAPTIONS])})
    model.fit(data.batch(4).repeat(25), epochs=1, verbose=0)
    return model


def test_the_tiny_captioner_captions_each_image(captioner, images):
    captions = captioner.generate(images[:4], num_beams=1)["captions"]
    assert len(set(captions)) >= 3, captions


@pytest.mark.parametrize("num_beams", [1, 3])
def test_cached_and_uncached_decoding_give_identical_tokens(captioner, images, num_beams):
    cached = captioner.generate(images, num_beams=num_beams)
    uncached = captioner.generate(images, num_beams=num_beams, use_cache=False)
    np.testing.assert_array_equal(cached["token_ids"], uncached["token_ids"])
    assert cached["captions"] == uncached["captions"]
    np.testing.assert_allclose(cached["scores"], uncached["scores"], rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("use_cache", [True, False])
def test_captioner_beam_width_one_is_greedy(captioner, images, use_cache):
    size = len(captioner.vocabulary)

    def search(beams):
        memory = captioner.image_encoder(images, training=False)
        step, state, context = captioner.decoding_step(memory, 12, use_cache,
                                                       vocabulary_size=size)
        if beams is None:
            return decoding.greedy_search(step, state, context, 5, 2, 3, 12)
        return decoding.beam_search(step, state, context, 5, 2, 3, 12, num_beams=beams)

    greedy = tf.function(lambda: search(None), autograph=False)()["tokens"].numpy()
    beam = tf.function(lambda: search(1), autograph=False)()["tokens"].numpy()
    np.testing.assert_array_equal(beam, greedy)
    np.testing.assert_array_equal(greedy, captioner.generate(images, num_beams=1)[
        "token_ids"])


def test_xla_compiled_decoding_gives_the_same_tokens(captioner, images):
    if captioner.get_config()["decoder"] != "transformer":
        pytest.skip("one decoder is enough (XLA compiling takes seconds)")
    jit = captioner.generate(images, num_beams=3, jit_compile=True)
    np.testing.assert_array_equal(jit["token_ids"], captioner.generate(
        images, num_beams=3)["token_ids"])
    # Greedy at batch 1 decodes a padding copy under XLA; it never shows.
    for batch in (images[:1], images[:2]):
        jit = captioner.generate(batch, num_beams=1, jit_compile=True)
        graph = captioner.generate(batch, num_beams=1)
        assert jit["token_ids"].shape == graph["token_ids"].shape
        assert len(jit["captions"]) == len(jit["scores"]) == len(batch)
        np.testing.assert_array_equal(jit["token_ids"], graph["token_ids"])
        np.testing.assert_allclose(jit["scores"], graph["scores"], rtol=1e-4, atol=1e-4)


def test_cached_step_logits_match_the_teacher_forced_pass(captioner, images):
    """The step function reproduces the full forward pass position by position."""
    ids = captioner.generate(images, num_beams=1)["token_ids"]
    inputs = np.concatenate([np.full((len(ids), 1), 2), ids[:, :-1]], axis=1)
    full = captioner({"image": images, "caption": inputs}).numpy()
    decoder = captioner.caption_decoder
    context = decoder.prepare_context(captioner.image_encoder(images, training=False))
    state = decoder.initial_state(context, inputs.shape[1])
    for index in range(inputs.shape[1]):
        logits, state = decoder.step(tf.constant(inputs[:, index]), tf.constant(index),
                                     state, context)
        np.testing.assert_allclose(logits.numpy(), full[:, index], atol=1e-4)


def test_generated_captions_and_ids_agree(captioner, images):
    out = captioner.generate(images, num_beams=2, max_length=6)
    assert out["token_ids"].shape == (5, 6) and out["token_ids"].dtype == np.int32
    vocabulary = captioner.vocabulary
    for ids, caption in zip(out["token_ids"], out["captions"]):
        words = [vocabulary[i] for i in ids if i > 3]
        assert caption == " ".join(words)
        assert 0 not in ids[: list(ids).index(3)] if 3 in ids else 0 not in ids
        assert not {1, 2} & set(ids)  # never [UNK] or <start>
    sampled = captioner.generate(images, num_beams=1, temperature=1.5, top_k=5, seed=3)
    again = captioner.generate(images, num_beams=1, temperature=1.5, top_k=5, seed=3)
    np.testing.assert_array_equal(sampled["token_ids"], again["token_ids"])


def test_generate_rejects_bad_arguments(captioner, images):
    with pytest.raises(ValueError, match="max_length must be a positive integer"):
        captioner.generate(images, max_length=0)
    with pytest.raises(ValueError, match="beam width"):
        captioner.generate(images, num_beams=0)
    with pytest.raises(ValueError, match="exceeds the model's sequence_length=12"):
        captioner.generate(images, max_length=13)
    with pytest.raises(ValueError, match="Input 'image' expected shape .* received shape"):
        captioner.generate(np.zeros((2, 8, 8, 4), "float32"))
    with pytest.raises(ValueError, match="Input 'image' is empty"):
        captioner.generate(np.zeros((0, 8, 8, 3), "float32"))


def test_generate_encodes_with_folded_batch_norms_to_the_same_captions(captioner, images):
    """`generate` runs the image encoder with its BatchNormalizations folded into the
    convolutions (trained moving statistics here): the same memory and the same tokens
    as the search on the plain encoder."""
    folded = captioner._inference_encoder()(tf.constant(images))
    plain = captioner.image_encoder(images, training=False)
    np.testing.assert_allclose(folded.numpy(), plain.numpy(), atol=1e-4)
    tokens = captioner.search(tf.constant(images), captioner.sequence_length, 3)["tokens"]
    np.testing.assert_array_equal(captioner.generate(images, num_beams=3)["token_ids"],
                                  tokens.numpy())

