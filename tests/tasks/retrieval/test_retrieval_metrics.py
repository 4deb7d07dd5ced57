"""Recall@K and median rank on hand-made similarity matrices with known answers."""

import numpy as np
import pytest

from mmzoo.tasks.retrieval.metrics import (
    image_to_text_ranks,
    random_ranking_floor,
    recall_at_k,
    retrieval_metrics,
    text_to_image_ranks,
)


def test_perfect_retrieval():
    # 3 images x 2 captions each (columns 0-1 image 0, 2-3 image 1, 4-5 image 2).
    similarity = np.repeat(np.eye(3), 2, axis=1)
    results = retrieval_metrics(similarity, captions_per_image=2, ks=(1, 2))
    assert results == {"i2t_r1": 100.0, "i2t_r2": 100.0, "t2i_r1": 100.0, "t2i_r2": 100.0,
                       "i2t_medr": 1.0, "t2i_medr": 1.0}


def test_hand_computed_ranks():
    caption_images = [0, 0, 1, 1, 2, 2]
    similarity = np.array([
        # captions of: image 0   image 1    image 2
        [0.1, 0.9, 0.8, 0.0, 0.2, 0.3],  # image 0: own best 0.9 is first -> rank 1
        [0.5, 0.6, 0.1, 0.4, 0.7, 0.0],  # image 1: own best 0.4; 0.5, 0.6, 0.7 above -> 4
        [0.9, 0.8, 0.7, 0.6, 0.1, 0.2],  # image 2: own best 0.2; 4 others above -> 5
    ])
    np.testing.assert_array_equal(image_to_text_ranks(similarity, caption_images), [1, 4, 5])
    # caption 0 (image 0): column [0.1, 0.5, 0.9] -> own 0.1 is third -> 3
    # caption 1 (image 0): [0.9, 0.6, 0.8] -> 1; caption 2 (image 1): [0.8, 0.1, 0.7] -> 3
    # caption 3 (image 1): [0.0, 0.4, 0.6] -> 2; caption 4 (image 2): [0.2, 0.7, 0.1] -> 3
    # caption 5 (image 2): [0.3, 0.0, 0.2] -> 2
    np.testing.assert_array_equal(text_to_image_ranks(similarity, caption_images),
                                  [3, 1, 3, 2, 3, 2])
    results = retrieval_metrics(similarity, caption_images, ks=(1, 5, 10))
    assert results["i2t_r1"] == pytest.approx(100 / 3)
    assert results["i2t_r5"] == 100.0 and results["i2t_medr"] == 4.0
    assert results["t2i_r1"] == pytest.approx(100 / 6)
    assert results["t2i_r5"] == 100.0 and results["t2i_medr"] == 2.5


def test_any_of_the_captions_counts_for_image_queries():
    # Image 0's first caption is last, its second caption is first: a hit at 1.
    similarity = np.array([[0.0, 0.9, 0.5, 0.4], [0.1, 0.2, 0.3, 0.4]])
    assert image_to_text_ranks(similarity, [0, 0, 1, 1])[0] == 1


def test_ties_are_pessimistic():
    # A collapsed model (every score equal) must rank last, not first.
    similarity = np.ones((4, 20))
    results = retrieval_metrics(similarity, captions_per_image=5)
    assert results["i2t_r1"] == results["i2t_r10"] == results["t2i_r1"] == 0.0
    assert results["i2t_medr"] == 16.0  # 15 other captions tie with the own ones
    assert results["t2i_medr"] == 4.0


def test_captions_need_not_be_grouped():
    similarity = np.array([[0.9, 0.1, 0.8], [0.2, 0.7, 0.3]])
    results = retrieval_metrics(similarity, caption_images=[0, 1, 0], ks=(1,))
    assert results == {"i2t_r1": 100.0, "t2i_r1": 100.0, "i2t_medr": 1.0, "t2i_medr": 1.0}


def test_random_floor_is_exact():
    # 2 images, 1 caption each: a coin flip for R@1, certain for R@2.
    floor = random_ranking_floor(2, captions_per_image=1, ks=(1, 2))
    assert floor["i2t_r1"] == floor["t2i_r1"] == 50.0
    assert floor["i2t_r2"] == floor["t2i_r2"] == 100.0
    # 3 images x 2 captions: P(neither of 2 relevant among 6 in the top 1) = 4/6.
    assert random_ranking_floor(3, 2, ks=(1,))["i2t_r1"] == pytest.approx(100 * 2 / 6)
    floor = random_ranking_floor(105)
    assert floor["t2i_r10"] == pytest.approx(100 * 10 / 105)
    assert floor["i2t_r1"] == pytest.approx(100 * 5 / 525)
    assert floor["t2i_medr"] == 53.0


def test_random_floor_matches_simulated_random_models():
    rng = np.random.default_rng(0)
    runs = [retrieval_metrics(rng.normal(size=(20, 100))) for _ in range(400)]
    floor = random_ranking_floor(20)
    for key in ("i2t_r1", "i2t_r5", "i2t_r10", "t2i_r1", "t2i_r5", "t2i_r10"):
        assert np.mean([run[key] for run in runs]) == pytest.approx(floor[key], abs=1.5)
    assert np.mean([run["i2t_medr"] for run in runs]) == pytest.approx(floor["i2t_medr"],
                                                                        abs=1.5)
    assert np.mean([run["t2i_medr"] for run in runs]) == pytest.approx(floor["t2i_medr"],
                                                                        abs=1.0)


def test_bad_inputs_are_clear_errors():
    with pytest.raises(ValueError, match="does not hold 5 captions per image"):
        retrieval_metrics(np.zeros((3, 10)))
    with pytest.raises(ValueError, match="caption_images has 2 entries for 3 captions"):
        retrieval_metrics(np.zeros((2, 3)), caption_images=[0, 1])
    with pytest.raises(ValueError, match=r"image indices in \[0, 2\)"):
        retrieval_metrics(np.zeros((2, 3)), caption_images=[0, 1, 2])
    with pytest.raises(ValueError, match="non-empty"):
        retrieval_metrics(np.zeros((0, 5)))
    with pytest.raises(ValueError, match="NaN"):
        retrieval_metrics(np.full((1, 5), np.nan))
    with pytest.raises(ValueError, match="empty set"):
        recall_at_k([], 1)
