"""VQA metrics: accuracy overall and per answer type, VQA consensus accuracy, and the
most-frequent-answer floor.

>>> vqa_metrics(["yes", "red"], ["yes", "blue"])["accuracy"]
0.5
"""

import numpy as np

YES_NO = ("yes", "no")


def _grouped_accuracy(correct, group):
    """Mean of `correct` over `group` (None when the group is empty)."""
    return float(correct[group].mean()) if group.any() else None


def vqa_metrics(true_answers, predicted_answers, relational=None):
    """Exact-match answer accuracy, overall and by question kind.

    Returns `accuracy`, `yes_no_accuracy` and `other_accuracy` (questions whose true
    answer is / is not "yes" or "no"), their counts `yes_no_examples` and
    `examples`, and, when `relational` flags are given (Sort-of-CLEVR),
    `relational_accuracy` and `non_relational_accuracy`. A group with no question
    gets None.

    >>> vqa_metrics(["yes", "red", "no"], ["yes", "blue", "no"])["yes_no_accuracy"]
    1.0
    """
    truth = np.asarray([str(a) for a in true_answers], dtype=object)
    predicted = np.asarray([str(a) for a in predicted_answers], dtype=object)
    if truth.size == 0:
        raise ValueError("accuracy of an empty set is undefined.")
    if truth.shape != predicted.shape:
        raise ValueError(f"{truth.size} true answers but {predicted.size} predictions.")
    correct = truth == predicted
    yes_no = np.isin(truth, YES_NO)
    results = {
        "accuracy": float(correct.mean()),
        "yes_no_accuracy": _grouped_accuracy(correct, yes_no),
        "other_accuracy": _grouped_accuracy(correct, ~yes_no),
    }
    if relational is not None:
        relational = np.asarray(relational, dtype=bool)
        if relational.shape != truth.shape:
            raise ValueError(f"{relational.size} relational flags for {truth.size} answers.")
        results["relational_accuracy"] = _grouped_accuracy(correct, relational)
        results["non_relational_accuracy"] = _grouped_accuracy(correct, ~relational)
    results["examples"] = int(truth.size)
    results["yes_no_examples"] = int(yes_no.sum())
    return results


def vqa_consensus_accuracy(predicted_answers, reference_answers):
    """The VQA benchmark's accuracy against several human answers per question.

    For each question, `min(1, #humans who gave the answer / 3)` averaged over the 10
    leave-one-out subsets of its references (as the official evaluation does), then
    averaged over questions. With a single reference it is exact-match accuracy.
    Answers are compared lower-cased and stripped.

    >>> vqa_consensus_accuracy(["two"], [["two"] * 4 + ["2"] * 6])
    1.0
    >>> vqa_consensus_accuracy(["two"], [["two"] * 2 + ["2"] * 8])  # 2 of 10 humans
    0.6
    """
    predicted = [str(a).strip().lower() for a in predicted_answers]
    if len(predicted) != len(reference_answers) or not predicted:
        raise ValueError(f"{len(predicted)} predictions for {len(reference_answers)} "
                         "reference lists (both must be equal and non-empty).")
    scores = []
    for answer, references in zip(predicted, reference_answers):
        references = [str(r).strip().lower() for r in references]
        if len(references) == 1:
            scores.append(float(answer == references[0]))
            continue
        matches = [sum(r == answer for j, r in enumerate(references) if j != i)
                   for i in range(len(references))]
        scores.append(float(np.mean([min(1.0, m / 3.0) for m in matches])))
    return float(np.mean(scores))


def most_frequent_answer_accuracy(train_answers, eval_answers):
    """The floor of always answering the most frequent training answer:
    `(answer, accuracy on eval_answers)`."""
    values, counts = np.unique(np.asarray([str(a) for a in train_answers]),
                               return_counts=True)
    answer = str(values[counts.argmax()])
    truth = np.asarray([str(a) for a in eval_answers])
    return answer, float(np.mean(truth == answer))
