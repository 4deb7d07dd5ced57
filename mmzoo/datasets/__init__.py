"""mmzoo data sets: TFDS builders of local folders, a synthetic generator, catalog adapters.

`load` returns a `tf.data.Dataset` of UNBATCHED `(inputs_dict, label)` elements that
follow the model input contract (`"image"` float32 `[H, W, 3]` 0..255, `"audio"` float32
`[samples]` in [-1, 1], `"text"` / `"question"` tf.string, `"captions"` tf.string `[5]`;
int64 class ids or answer strings as labels; `flickr8k` and `coco_captions` yield just
the inputs dict). Callers shuffle, batch and prefetch:

>>> import mmzoo.datasets as mds
>>> mds.list_datasets()
['avdigits', 'clevr', 'coco_captions', 'easy_vqa', 'flickr8k', 'fsdd', 'imdb_reviews', ...]
>>> train = mds.load("avdigits/noisy", split="train", data_dir="../shared/data")
>>> train = train.shuffle(2048).batch(32).prefetch(tf.data.AUTOTUNE)
>>> dataset, info = mds.load("easy_vqa", split="validation", with_info=True)
>>> info["answers"], info["splits"]

Local data sets are prepared once per source folder into TFRecords under
`$MMZOO_CACHE_DIR` (default `~/.cache/mmzoo/tfds`), in a subfolder keyed by a hash of the
folder's absolute path, its files' names, sizes and mtimes, `skip_bad` and the
preparation options; later loads of the same folder reuse them. See README.md in this
folder for every data set's layout and split rule.
"""

from mmzoo.datasets import _common
from mmzoo.datasets import (avdigits, catalog, easy_vqa, flickr8k, fsdd, mnist, mvsa_single,
                            sort_of_clevr)
from mmzoo.datasets._common import cache_root, split_80_10_10, stable_bucket
from mmzoo.datasets.sort_of_clevr import answer_question, encode_question
from mmzoo.registry import DATASETS

SPLITS = (*_common.SPLITS, _common.ALL)


def _resolve(name):
    """`"avdigits/noisy"` -> (the registered spec, "noisy")."""
    if not isinstance(name, str) or not name:
        raise ValueError(f"A data set name must be a non-empty string, received {name!r}. "
                         f"Registered: {', '.join(DATASETS.names())}.")
    base, _, config = name.partition("/")
    return DATASETS.get(base), (config or None)


def load(name, split="train", data_dir=None, skip_bad=False, with_info=False, **options):
    """A `tf.data.Dataset` of unbatched `(inputs_dict, label)` examples of data set `name`.

    Args:
      name: a registered name (`list_datasets()`), optionally with a config:
        `"avdigits/noisy"`.
      split: `"train"`, `"validation"`, `"test"` or `"all"` (the TFDS union of the
        non-empty splits). An empty split raises a `ValueError` saying why.
      data_dir: the source folder, with the layout of the matching folder under
        `shared/data` (for `avdigits` the parent of `mnist/` and `fsdd/`); default
        `../shared/data/<folder>` relative to the working directory. For the TFDS catalog
        adapters, TFDS' own data_dir.
      skip_bad: skip (and count, see `info()["skipped"]`) corrupted files and rows
        instead of raising a `ValueError` that names them.
      with_info: also return `info(...)`'s dict: `(dataset, info)`.
      **options: per data set, e.g. `image_size`, `sample_rate`, `clip_seconds`, `seed`,
        `num_images`, and `cache` (default True: `.cache()` the decoded examples in memory).

    The dataset is neither shuffled, batched nor prefetched: call
    `.shuffle(n).batch(b).prefetch(tf.data.AUTOTUNE)`.
    """
    spec, config = _resolve(name)
    dataset, described = spec.load(split, data_dir, skip_bad, config, options)
    return (dataset, described) if with_info else dataset


def info(name, data_dir=None, skip_bad=False, **options):
    """A dict about data set `name` (preparing it if needed).

    Keys include `splits` (examples per split), `num_examples`, `split_rule`, `skipped`
    (`{"count", "files"}` of bad files/rows skipped with `skip_bad=True`), and per data
    set `class_names` or `answers`, `sample_rate`, `image_shape`, ...
    """
    spec, config = _resolve(name)
    return spec.info(data_dir, skip_bad, config, options)


def list_datasets(kind=None):
    """Sorted registered names; `kind` filters: "local", "synthetic" or "catalog"."""
    return DATASETS.names(**({} if kind is None else {"kind": kind}))


__all__ = ["DATASETS", "SPLITS", "answer_question", "cache_root", "encode_question",
           "info", "list_datasets", "load", "split_80_10_10", "stable_bucket"]
