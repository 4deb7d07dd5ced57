"""Image-text retrieval metrics: recall@K and median rank, both directions, in NumPy.

The standard protocol of Flickr8k/30k and COCO (Karpathy & Fei-Fei 2015): every image
has several captions (5). Image -> text: an image query hits at K when ANY of its
captions is among the K best texts; text -> image: each caption query hits at K when ITS
image is among the K best images. Recalls are in percent (0..100), as in the literature;
ranks start at 1. Ties are broken pessimistically: an item that scores the same as the
query's best relevant item counts as ranked above it, so a collapsed model that gives
every pair the same score gets the worst rank, never the best.

>>> similarity = np.array([[0.9, 0.1, 0.2, 0.0],    # 2 images x 4 captions,
...                        [0.8, 0.3, 0.1, 0.7]])   # captions 0, 1 of image 0; 2, 3 of 1
>>> retrieval_metrics(similarity, caption_images=[0, 0, 1, 1], ks=(1,))
{'i2t_r1': 50.0, 't2i_r1': 50.0, 'i2t_medr': 1.5, 't2i_medr': 1.5}
"""

import math

import numpy as np


def _check(similarity, caption_images):
    similarity = np.asarray(similarity, dtype=np.float64)
    if similarity.ndim != 2 or 0 in similarity.shape:
        raise ValueError(f"similarity must be a non-empty [images, captions] matrix, "
                         f"received shape {similarity.shape}.")
    caption_images = np.asarray(caption_images).reshape(-1)
    num_images, num_captions = similarity.shape
    if caption_images.shape[0] != num_captions:
        raise ValueError(f"caption_images has {caption_images.shape[0]} entries for "
                         f"{num_captions} captions (similarity columns).")
    if caption_images.dtype.kind not in "iu" or caption_images.min() < 0 or (
            caption_images.max() >= num_images):
        raise ValueError(f"caption_images must be image indices in [0, {num_images}), "
                         f"received values in [{caption_images.min()}, "
                         f"{caption_images.max()}].")
    if np.isnan(similarity).any():
        raise ValueError("similarity holds NaN values.")
    return similarity, caption_images


def image_to_text_ranks(similarity, caption_images):
    """`[images]` rank (1-based) of each image's best-placed own caption among all texts.

    rank = 1 + number of OTHER images' captions scoring at least as high (pessimistic).
    An image without captions gets rank `num_captions + 1` (never a hit).
    """
    similarity, caption_images = _check(similarity, caption_images)
    num_images = similarity.shape[0]
    relevant = caption_images[None, :] == np.arange(num_images)[:, None]
    best = np.where(relevant, similarity, -np.inf).max(axis=1, keepdims=True)
    above = np.sum((similarity >= best) & ~relevant, axis=1)
    ranks = 1 + above
    ranks[~relevant.any(axis=1)] = similarity.shape[1] + 1
    return ranks


def text_to_image_ranks(similarity, caption_images):
    """`[captions]` rank (1-based) of each caption's own image among all images.

    rank = 1 + number of OTHER images scoring at least as high (pessimistic).
    """
    similarity, caption_images = _check(similarity, caption_images)
    columns = np.arange(similarity.shape[1])
    own = similarity[caption_images, columns]
    at_least = np.sum(similarity >= own[None, :], axis=0)
    return at_least  # counts the own image once: 1 + others


def recall_at_k(ranks, k):
    """Percentage of queries whose rank is at most `k`."""
    ranks = np.asarray(ranks)
    if ranks.size == 0:
        raise ValueError("recall_at_k of an empty set of ranks is undefined.")
    return float(100.0 * np.mean(ranks <= k))


def retrieval_metrics(similarity, caption_images=None, captions_per_image=5, ks=(1, 5, 10)):
    """`i2t_r{k}`, `t2i_r{k}` (percent) and `i2t_medr`, `t2i_medr` of a similarity matrix.

    similarity: `[images, captions]` scores (higher = more similar). caption_images:
    `[captions]` index of each caption's image; by default captions are grouped by image,
    `captions_per_image` consecutive columns each (column j belongs to image
    `j // captions_per_image`).
    """
    similarity = np.asarray(similarity)
    if similarity.ndim != 2 or 0 in similarity.shape:
        raise ValueError(f"similarity must be a non-empty [images, captions] matrix, "
                         f"received shape {similarity.shape}.")
    if caption_images is None:
        if similarity.ndim != 2 or similarity.shape[1] != similarity.shape[0] * (
                captions_per_image):
            raise ValueError(
                f"similarity of shape {similarity.shape} does not hold "
                f"{captions_per_image} captions per image; pass caption_images.")
        caption_images = np.repeat(np.arange(similarity.shape[0]), captions_per_image)
    i2t = image_to_text_ranks(similarity, caption_images)
    t2i = text_to_image_ranks(similarity, caption_images)
    results = {}
    for k in ks:
        results[f"i2t_r{k}"] = recall_at_k(i2t, k)
    for k in ks:
        results[f"t2i_r{k}"] = recall_at_k(t2i, k)
    results["i2t_medr"] = float(np.median(i2t))
    results["t2i_medr"] = float(np.median(t2i))
    return results


def random_ranking_floor(num_images, captions_per_image=5, ks=(1, 5, 10)):
    """Expected recall@K (percent) and median rank of a uniformly random ranking.

    Image -> text: with M = images x captions texts of which c are relevant, the best
    relevant rank r has P(r > K) = C(M - c, K) / C(M, K). Text -> image: the own image's
    rank is uniform on 1..N. `*_medr` is the median of that rank distribution (the
    smallest r with P(rank <= r) >= 1/2), what the median rank of a random model
    approaches on many queries.

    >>> random_ranking_floor(105)["t2i_r10"]   # 10 / 105
    9.523809523809524
    """
    num_images, per_image = int(num_images), int(captions_per_image)
    if num_images < 1 or per_image < 1:
        raise ValueError(f"Need at least one image and one caption per image, received "
                         f"{num_images} images, {captions_per_image} captions per image.")
    texts = num_images * per_image
    irrelevant = texts - per_image

    def i2t_cdf(k):  # P(best relevant rank <= k)
        k = min(k, texts)
        if k > irrelevant:
            return 1.0
        return 1.0 - math.comb(irrelevant, k) / math.comb(texts, k)

    results = {}
    for k in ks:
        results[f"i2t_r{k}"] = 100.0 * i2t_cdf(k)
    for k in ks:
        results[f"t2i_r{k}"] = 100.0 * min(k, num_images) / num_images
    results["i2t_medr"] = float(next(r for r in range(1, irrelevant + 2)
                                     if i2t_cdf(r) >= 0.5))
    results["t2i_medr"] = float(math.ceil(num_images / 2))
    return results
