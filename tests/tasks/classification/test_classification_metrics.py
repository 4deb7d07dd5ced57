"""Classification metrics against values worked out by hand (scikit-learn's definitions)."""

import numpy as np
import pytest

from mmzoo.tasks.classification.metrics import f1_per_class, macro_f1, weighted_f1

TRUE = [0, 0, 0, 1, 1, 2]
PREDICTED = [0, 0, 1, 1, 2, 2]
# class 0: tp 2, predicted 2, true 3 -> 0.8; class 1: 1/2/2 -> 0.5; class 2: 1/2/1 -> 2/3


def test_per_class_f1_and_support():
    f1, support = f1_per_class(TRUE, PREDICTED, 3)
    np.testing.assert_allclose(f1, [0.8, 0.5, 2 / 3])
    np.testing.assert_array_equal(support, [3, 2, 1])


def test_macro_and_weighted_f1():
    assert macro_f1(TRUE, PREDICTED, 3) == pytest.approx((0.8 + 0.5 + 2 / 3) / 3)
    assert weighted_f1(TRUE, PREDICTED, 3) == pytest.approx((0.8 * 3 + 0.5 * 2 + 2 / 3) / 6)


def test_a_class_never_seen_counts_in_neither_average():
    assert macro_f1([0, 1], [0, 1], 3) == pytest.approx(1.0)
    assert weighted_f1([0, 1], [0, 1], 3) == pytest.approx(1.0)
    assert weighted_f1([0, 0], [1, 1], 2) == 0.0
