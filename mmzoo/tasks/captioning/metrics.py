"""Caption metrics in NumPy / Python: corpus BLEU-1..4 and CIDEr-D.

Captions are compared as word lists. Strings are tokenized like the captioners'
vocabulary (`tokenize`: lower-cased, the punctuation of Keras' `TextVectorization`
stripped, split on whitespace); lists of words are used as given.

- `corpus_bleu` is BLEU (Papineni et al. 2002) over a corpus: clipped n-gram counts summed
  over every hypothesis, the brevity penalty over the corpus with the reference length
  closest to each hypothesis (ties to the shorter), uniform weights over orders 1..n.
  It follows `nltk.translate.bleu_score.corpus_bleu` without smoothing, including its
  per-hypothesis denominator `max(1, n-grams)`; where some order has no match at all the
  score is 0 (NLTK returns a float underflow, ~1e-78, there).
- `cider_d` is CIDEr-D (Vedantam et al. 2015) as in the COCO caption evaluation
  (pycocoevalcap `Cider`): TF-IDF vectors of 1- to 4-grams with the document frequency
  taken from the references of the evaluated set, hypothesis weights clipped at the
  reference weights, a Gaussian length penalty (sigma 6, on the lengths counted as
  pycocoevalcap does: the number of bigrams), averaged over references and orders, x10.

>>> refs = [["a dog runs on the grass", "a brown dog is running"], ["a man rides a bike"]]
>>> corpus_bleu(refs, ["a dog runs", "a man rides a bike"])   # [BLEU-1, ..., BLEU-4]
>>> cider_d(refs, ["a dog runs", "a man rides a bike"])       # (corpus, per-caption)
>>> caption_scores(refs, ["a dog runs", "a man rides a bike"])  # {"bleu1", ..., "cider"}
"""

import collections
import math
import re

import numpy as np

# The punctuation Keras' TextVectorization strips ("lower_and_strip_punctuation").
_PUNCTUATION = re.compile(r'[!"#$%&()\*\+,-\./:;<=>?@\[\\\]^_`{|}~\']')


def tokenize(text):
    """Lower-cased words of `text` without punctuation (the captioners' standardisation)."""
    if isinstance(text, bytes):
        text = text.decode("utf-8")
    return _PUNCTUATION.sub("", text.lower()).split()


def _words(caption, name):
    if isinstance(caption, (str, bytes)):
        return tokenize(caption)
    if isinstance(caption, (list, tuple)) and all(isinstance(w, str) for w in caption):
        return list(caption)
    raise ValueError(f"{name} must be a string or a list of words, received {caption!r:.80}.")


def _check_corpus(references, hypotheses):
    references, hypotheses = list(references), list(hypotheses)
    if len(references) != len(hypotheses):
        raise ValueError(
            f"references has {len(references)} entries but hypotheses has "
            f"{len(hypotheses)}; expected one list of references per hypothesis.")
    if not hypotheses:
        raise ValueError("No hypotheses: caption metrics of an empty set are undefined.")
    refs = []
    for index, group in enumerate(references):
        if isinstance(group, (str, bytes)):
            group = [group]
        group = [_words(r, f"references[{index}]") for r in group]
        if not group:
            raise ValueError(f"references[{index}] is empty; every hypothesis needs at "
                             "least one reference.")
        refs.append(group)
    hyps = [_words(h, f"hypotheses[{i}]") for i, h in enumerate(hypotheses)]
    return refs, hyps


def _ngrams(words, n):
    return collections.Counter(tuple(words[i:i + n]) for i in range(len(words) - n + 1))


def corpus_bleu(references, hypotheses, max_order=4):
    """[BLEU-1, ..., BLEU-`max_order`] of `hypotheses` against their `references`.

    references: one list of reference captions per hypothesis; hypotheses: captions.
    """
    refs, hyps = _check_corpus(references, hypotheses)
    matches, totals = np.zeros(max_order), np.zeros(max_order)
    hyp_length = ref_length = 0
    for group, hyp in zip(refs, hyps):
        for n in range(1, max_order + 1):
            counts = _ngrams(hyp, n)
            best = collections.Counter()
            for ref in group:
                for gram, count in _ngrams(ref, n).items():
                    best[gram] = max(best[gram], count)
            matches[n - 1] += sum(min(c, best[g]) for g, c in counts.items())
            totals[n - 1] += max(1, sum(counts.values()))
        hyp_length += len(hyp)
        ref_length += min((len(r) for r in group), key=lambda r: (abs(r - len(hyp)), r))
    if hyp_length == 0:
        penalty = 0.0
    elif hyp_length > ref_length:
        penalty = 1.0
    else:
        penalty = math.exp(1.0 - ref_length / hyp_length)
    scores = []
    for order in range(1, max_order + 1):
        precisions = matches[:order] / totals[:order]
        if np.any(precisions == 0):
            scores.append(0.0)
        else:
            scores.append(float(penalty * math.exp(np.mean(np.log(precisions)))))
    return scores


def _all_ngrams(words, max_order):
    """Counter of every n-gram of `words`, n = 1..max_order."""
    counts = collections.Counter()
    for n in range(1, max_order + 1):
        counts.update(_ngrams(words, n))
    return counts


def _reference_statistics(refs, max_order):
    """CIDEr's view of the references: per image, each reference's n-gram counts; the
    document frequency of each n-gram (in how many images' references it occurs); and
    log(number of images)."""
    ref_counts = [[_all_ngrams(r, max_order) for r in group] for group in refs]
    document_frequency = collections.Counter()
    for group in ref_counts:
        document_frequency.update(set(g for counts in group for g in counts))
    return ref_counts, document_frequency, math.log(float(len(refs)))


def _tfidf(counts, document_frequency, log_documents, max_order):
    """Per-order {n-gram: weight}, per-order norms, and the length in bigrams."""
    vectors = [{} for _ in range(max_order)]
    norms = np.zeros(max_order)
    for gram, count in counts.items():
        weight = count * (log_documents - math.log(max(1.0, document_frequency[gram])))
        vectors[len(gram) - 1][gram] = weight
        norms[len(gram) - 1] += weight * weight
    length = sum(c for g, c in counts.items() if len(g) == 2)
    return vectors, np.sqrt(norms), length


def cider_d(references, hypotheses, sigma=6.0, max_order=4):
    """CIDEr-D of `hypotheses`: `(corpus score, per-hypothesis scores)`.

    The document frequencies come from `references` (one list per hypothesis), so the
    score depends on the evaluated set, as in the COCO evaluation.
    """
    refs, hyps = _check_corpus(references, hypotheses)
    ref_counts, document_frequency, log_documents = _reference_statistics(refs, max_order)
    scores = []
    for hyp, group in zip(hyps, ref_counts):
        vec, norm, length = _tfidf(_all_ngrams(hyp, max_order), document_frequency,
                                   log_documents, max_order)
        total = np.zeros(max_order)
        for counts in group:
            vec_ref, norm_ref, length_ref = _tfidf(
                counts, document_frequency, log_documents, max_order)
            similarity = np.zeros(max_order)
            for n in range(max_order):
                for gram, weight in vec[n].items():
                    ref_weight = vec_ref[n].get(gram, 0.0)
                    similarity[n] += min(weight, ref_weight) * ref_weight
                if norm[n] != 0 and norm_ref[n] != 0:
                    similarity[n] /= norm[n] * norm_ref[n]
            delta = float(length - length_ref)
            total += similarity * math.exp(-(delta ** 2) / (2 * sigma ** 2))
        scores.append(float(np.mean(total) / len(group) * 10.0))
    scores = np.array(scores)
    return float(scores.mean()), scores


def caption_scores(references, hypotheses):
    """`{"bleu1", "bleu2", "bleu3", "bleu4", "cider"}` of `hypotheses`."""
    bleu = corpus_bleu(references, hypotheses)
    cider, _ = cider_d(references, hypotheses)
    return {**{f"bleu{n}": score for n, score in enumerate(bleu, start=1)}, "cider": cider}


def best_constant_caption(references, candidates=None, sigma=6.0, max_order=4):
    """The caption that, emitted for every example, has the best CIDEr-D: `(caption,
    score)`. The "constant-caption floor" a captioner must beat.

    candidates: captions to try (default: every distinct reference caption). Scores equal
    `cider_d(references, [caption] * len(references))[0]`, computed at once for all
    candidates from an inverted index of the references' n-grams.
    """
    refs, _ = _check_corpus(references, [""] * len(references))
    if candidates is None:
        candidates = sorted({" ".join(r) for group in refs for r in group})
    if not candidates:
        raise ValueError("No candidate captions to choose from.")
    ref_counts, document_frequency, log_documents = _reference_statistics(refs, max_order)
    # One row per reference: its image, norms and length; postings per n-gram.
    image_of, norms, lengths, postings = [], [], [], collections.defaultdict(list)
    for image, group in enumerate(ref_counts):
        for counts in group:
            vectors, norm, length = _tfidf(counts, document_frequency, log_documents,
                                           max_order)
            row = len(image_of)
            image_of.append(image)
            norms.append(norm)
            lengths.append(length)
            for order in vectors:
                for gram, weight in order.items():
                    postings[gram].append((row, weight))
    image_of, norms, lengths = np.array(image_of), np.array(norms), np.array(lengths)
    postings = {g: (np.array([r for r, _ in p]), np.array([w for _, w in p]))
                for g, p in postings.items()}
    refs_per_image = np.bincount(image_of)
    best = (-1.0, None)
    for caption in candidates:
        counts = _all_ngrams(_words(caption, "candidates"), max_order)
        vectors, norm, length = _tfidf(counts, document_frequency, log_documents, max_order)
        similarity = np.zeros((len(image_of), max_order))
        for n in range(max_order):
            for gram, weight in vectors[n].items():
                if gram in postings:
                    rows, ref_weights = postings[gram]
                    similarity[rows, n] += np.minimum(weight, ref_weights) * ref_weights
        denominator = norm[None, :] * norms
        similarity = np.where(denominator != 0, similarity / np.where(
            denominator != 0, denominator, 1.0), similarity)
        penalty = np.exp(-((length - lengths) ** 2) / (2 * sigma ** 2))
        per_ref = similarity.mean(axis=1) * penalty
        per_image = np.bincount(image_of, per_ref) / refs_per_image * 10.0
        score = float(per_image.mean())
        if score > best[0]:
            best = (score, caption)
    return best[1], best[0]


# Words that name the main subject of most Flickr8k photos, grouped.
OBJECT_GROUPS = {
    "dog": ("dog", "dogs", "puppy", "puppies"),
    "man": ("man", "men", "guy", "guys"),
    "woman": ("woman", "women", "lady", "ladies"),
    "boy": ("boy", "boys"),
    "girl": ("girl", "girls"),
    "child": ("child", "children", "kid", "kids", "baby", "toddler"),
    "people": ("people", "person", "group", "crowd"),
}


def object_mentions(references, hypotheses, groups=None, min_references=3):
    """Do captions name the image's main object more often than chance?

    An object group (default `OBJECT_GROUPS`) is *in* an image when at least
    `min_references` of its references use one of its words; the image's *main object*
    is the group used by the most references (ties to the first group; images without
    one are skipped). Returns, per group, `images` (how many have it), `hit_rate`
    (their captions that name it), `other_rate` (captions of the other images that
    name it) and, for the main object, `hit_rate` against `chance_rate`: the rate at
    which the caption of another image names this image's main object (the expected
    hit rate of captions shuffled between images).
    """
    refs, hyps = _check_corpus(references, hypotheses)
    groups = OBJECT_GROUPS if groups is None else groups
    names = list(groups)
    said = np.array([[bool(set(h) & set(groups[g])) for g in names] for h in hyps])
    counts = np.array([[sum(bool(set(r) & set(groups[g])) for r in group) for g in names]
                       for group in refs])
    present = counts >= min_references
    result = {}
    for k, name in enumerate(names):
        inside = present[:, k]
        result[name] = {
            "images": int(inside.sum()),
            "hit_rate": float(said[inside, k].mean()) if inside.any() else None,
            "other_rate": float(said[~inside, k].mean()) if (~inside).any() else None,
        }
    main = np.where(present.any(axis=1), counts.argmax(axis=1), -1)
    rows = np.flatnonzero(main >= 0)
    hits = said[rows, main[rows]]
    # Another image's caption naming this image's main object, averaged over pairs.
    mentions = said[:, main[rows]].sum(axis=0) - hits
    chance = mentions / max(len(hyps) - 1, 1)
    result["main_object"] = {
        "images": int(len(rows)),
        "hit_rate": float(hits.mean()) if len(rows) else None,
        "chance_rate": float(chance.mean()) if len(rows) else None,
    }
    return result
