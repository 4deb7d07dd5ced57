"""Copying a trained run into the shipped weights (a maintainer's step).

>>> ship_folder("runs/vqa/easy_vqa/vqa_san", "vqa_san", "easy_vqa")
"""

import pathlib

from mmzoo.weights import (
    read_folder_config,
    read_metadata,
    save_folder,
    update_manifest,
    weights_root,
)
from mmzoo.zoo import load


def ship_folder(source, preset, name, root=None):
    """Copies the weights folder `source` (a `mmzoo train --out` folder) to
    `<root>/<preset>/<name>/`, leaving out optimizer slots older folders may hold, and
    refreshes the manifest.

    >>> ship_folder("runs/vqa/easy_vqa/vqa_san", "vqa_san", "easy_vqa")
    """
    from mmzoo.training.fit import pretrained_sources

    target = pathlib.Path(root or weights_root()) / preset / name
    model = load(preset, weights=str(source), compile=False)
    metadata = read_metadata(source)
    metadata.setdefault("pretrained_sources", pretrained_sources(model))
    save_folder(model, target, preset=read_folder_config(source).get("preset", preset),
                metadata=metadata)
    update_manifest(target.parent.parent)
    return target
