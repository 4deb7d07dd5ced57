"""BLEU and CIDEr-D against the established implementations, computed live:
`nltk.translate.bleu_score.corpus_bleu` and pycocoevalcap's `Cider` (test-only
dependencies; mmzoo never imports them)."""

import random
import sys
import warnings

import numpy as np
import pytest

from mmzoo.tasks.captioning import metrics as cm

nltk_bleu = pytest.importorskip("nltk.translate.bleu_score")
cider_module = pytest.importorskip("pycocoevalcap.cider.cider")

REFERENCES = [
    ["A black dog is running through the grass .", "A dog runs on the lawn.",
     "The black dog runs outside", "a dog running in a field of green grass",
     "A black and white dog is running in the grass"],
    ["Two children play in the water at the beach", "kids splash in the ocean",
     "Two young kids are playing in the surf .", "Children in swimsuits play in waves",
     "Two kids playing in the ocean"],
    ["A man rides a bike down a dirt road .", "a cyclist on a dirt path",
     "A man on a mountain bike", "Someone riding a bicycle on a trail in the woods",
     "A biker rides down a hill"],
    ["A girl in a pink dress jumps", "A little girl is jumping on the bed",
     "girl jumping", "A young girl in pink jumps on a bed .",
     "The child jumps up and down on a mattress"],
]
HYPOTHESES = [
    "a black dog is running in the grass",
    "two kids are playing in the water",
    "a man rides a bike",
    "girl",                                   # shorter than 2..4-grams
]


def _corpus(seed, size=40):
    """Random hypotheses drawn from other images' references (with partial overlap)."""
    rng = random.Random(seed)
    words = sorted({w for group in REFERENCES for r in group for w in cm.tokenize(r)})
    references, hypotheses = [], []
    for _ in range(size):
        group = rng.choice(REFERENCES)
        references.append(rng.sample(group, rng.randint(1, 5)))
        base = cm.tokenize(rng.choice(rng.choice(REFERENCES)))
        cut = rng.randint(1, len(base))
        hypotheses.append(" ".join(base[:cut] + rng.sample(words, rng.randint(0, 3))))
    return references, hypotheses


def _nltk(references, hypotheses, order):
    tokens = [[cm.tokenize(r) for r in group] for group in references]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # NLTK warns when an order has no match
        return nltk_bleu.corpus_bleu(tokens, [cm.tokenize(h) for h in hypotheses],
                                     weights=tuple([1.0 / order] * order))


def _coco_cider(references, hypotheses):
    gts = {i: [" ".join(cm.tokenize(r)) for r in group]
           for i, group in enumerate(references)}
    res = {i: [" ".join(cm.tokenize(h))] for i, h in enumerate(hypotheses)}
    return cider_module.Cider().compute_score(gts, res)


@pytest.mark.parametrize("seed", range(5))
def test_corpus_bleu_matches_nltk(seed):
    references, hypotheses = _corpus(seed)
    ours = cm.corpus_bleu(references, hypotheses)
    for order in range(1, 5):
        assert ours[order - 1] == pytest.approx(_nltk(references, hypotheses, order),
                                                abs=1e-12), order


def test_bleu_fixed_examples_brevity_penalty_and_no_match():
    ours = cm.corpus_bleu(REFERENCES, HYPOTHESES)
    for order in range(1, 5):
        assert ours[order - 1] == pytest.approx(_nltk(REFERENCES, HYPOTHESES, order))
    # Short hypotheses: the brevity penalty with the closest reference lengths.
    short = cm.corpus_bleu([["a b c d e f"]], ["a b c"])
    assert short[0] == pytest.approx(np.exp(1 - 6 / 3))
    # No 4-gram in common: BLEU-4 is 0 (NLTK: a float underflow), BLEU-1 is not.
    scores = cm.corpus_bleu([["the cat sat on the mat"]], ["cat mat the on sat"])
    assert scores[3] == 0.0 and _nltk([["the cat sat on the mat"]],
                                      ["cat mat the on sat"], 4) < 1e-60
    assert scores[0] == pytest.approx(_nltk([["the cat sat on the mat"]],
                                            ["cat mat the on sat"], 1))
    assert cm.corpus_bleu(REFERENCES, [r[0] for r in REFERENCES])[3] > 0.9


@pytest.mark.parametrize("seed", range(5))
def test_cider_d_matches_pycocoevalcap(seed):
    references, hypotheses = _corpus(seed)
    ours, per_caption = cm.cider_d(references, hypotheses)
    theirs, theirs_per_caption = _coco_cider(references, hypotheses)
    assert ours == pytest.approx(theirs, rel=1e-9)
    np.testing.assert_allclose(per_caption, theirs_per_caption, rtol=1e-9, atol=1e-12)


def test_cider_d_fixed_examples():
    ours, per_caption = cm.cider_d(REFERENCES, HYPOTHESES)
    theirs, theirs_per_caption = _coco_cider(REFERENCES, HYPOTHESES)
    assert ours == pytest.approx(theirs, rel=1e-9)
    np.testing.assert_allclose(per_caption, theirs_per_caption, rtol=1e-9)
    # The same caption for every image scores far below image-specific ones.
    constant, _ = cm.cider_d(REFERENCES, [HYPOTHESES[0]] * 4)
    assert constant < ours


def test_best_constant_caption_is_the_brute_force_best():
    references, _ = _corpus(11, size=30)
    candidates = sorted({" ".join(cm.tokenize(r)) for g in references for r in g})
    caption, score = cm.best_constant_caption(references)
    scores = {c: cm.cider_d(references, [c] * len(references))[0] for c in candidates}
    best = max(scores.values())
    assert score == pytest.approx(best, rel=1e-9)
    assert scores[caption] == pytest.approx(best, rel=1e-9)
    assert score == pytest.approx(_coco_cider(references, [caption] * 30)[0], rel=1e-9)


def test_caption_scores_tokenization_and_errors():
    assert cm.tokenize("A dog, running!  In the 'park'.") == [
        "a", "dog", "running", "in", "the", "park"]
    scores = cm.caption_scores(REFERENCES, HYPOTHESES)
    assert set(scores) == {"bleu1", "bleu2", "bleu3", "bleu4", "cider"}
    # Tokenised or not, the same numbers.
    tokenized = cm.caption_scores([[cm.tokenize(r) for r in g] for g in REFERENCES],
                                  [cm.tokenize(h) for h in HYPOTHESES])
    assert tokenized == pytest.approx(scores)
    with pytest.raises(ValueError, match="references has 4 entries but hypotheses has 3"):
        cm.corpus_bleu(REFERENCES, HYPOTHESES[:3])
    with pytest.raises(ValueError, match="No hypotheses"):
        cm.cider_d([], [])
    with pytest.raises(ValueError, match=r"references\[1\] is empty"):
        cm.cider_d([["a dog"], []], ["a dog", "a cat"])
    with pytest.raises(ValueError, match=r"hypotheses\[0\] must be a string"):
        cm.corpus_bleu([["a dog"]], [3])


def test_mmzoo_does_not_import_the_reference_implementations():
    import subprocess

    code = ("import sys, mmzoo.tasks.captioning.metrics, mmzoo.tasks.classification.metrics; "
            "assert 'nltk' not in sys.modules and 'pycocoevalcap' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)
