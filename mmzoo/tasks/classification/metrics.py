"""Evaluation metrics computed in NumPy on whole splits.

>>> accuracy([0, 1, 1], [0, 1, 0])
0.6666666666666666
>>> macro_f1([0, 1, 1], [0, 1, 0])
0.6666666666666666
>>> weighted_f1([0, 1, 1], [0, 1, 0])   # per-class F1 weighted by class support
0.6666666666666666
"""

import numpy as np


def accuracy(y_true, y_pred):
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_true.size == 0:
        raise ValueError("accuracy of an empty set is undefined.")
    return float(np.mean(y_true == y_pred))


def confusion_matrix(y_true, y_pred, num_classes):
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(matrix, (np.asarray(y_true), np.asarray(y_pred)), 1)
    return matrix


def f1_per_class(y_true, y_pred, num_classes=None):
    """`(f1, support)`: per-class F1 (0 where a class is neither true nor predicted) and
    the number of true examples of each class."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    num_classes = num_classes or int(max(y_true.max(), y_pred.max())) + 1
    matrix = confusion_matrix(y_true, y_pred, num_classes)
    true_positive = np.diag(matrix).astype(float)
    predicted, actual = matrix.sum(0), matrix.sum(1)
    f1 = np.divide(2 * true_positive, predicted + actual,
                   out=np.zeros(num_classes), where=(predicted + actual) > 0)
    return f1, actual


def macro_f1(y_true, y_pred, num_classes=None):
    """Unweighted mean of per-class F1 over the classes present in `y_true` or `y_pred`."""
    f1, support = f1_per_class(y_true, y_pred, num_classes)
    predicted = np.bincount(np.asarray(y_pred), minlength=len(f1))[: len(f1)]
    present = (support + predicted) > 0
    return float(f1[present].mean())


def weighted_f1(y_true, y_pred, num_classes=None):
    """Per-class F1 weighted by each class's number of true examples (scikit-learn's
    `average="weighted"`, the figure MVSA papers report)."""
    f1, support = f1_per_class(y_true, y_pred, num_classes)
    return float((f1 * support).sum() / max(support.sum(), 1))


def cross_entropy(y_true, probabilities):
    """Mean negative log-probability of the true classes (probabilities clipped at 1e-7)."""
    probabilities = np.asarray(probabilities, dtype=np.float64)
    picked = probabilities[np.arange(len(probabilities)), np.asarray(y_true)]
    return float(-np.mean(np.log(np.clip(picked, 1e-7, 1.0))))
