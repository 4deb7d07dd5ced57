"""Shipped weights: the manifest, sha256 checks, and weights folders.

A weights folder holds `config.json` (task, preset and model config),
`model.weights.h5` and `metadata.json` (data set, splits, metrics, the command that
trained it, seed, library versions). Shipped folders live in the repository's
`weights/<preset>/<name>/` (installed as `mmzoo/shipped_weights/`) and are listed in
`weights/manifest.json` with the sha256 of every file; loading verifies them.

>>> resolve_weights("sentiment_late", "avdigits")      # a shipped name
PosixPath('.../weights/sentiment_late/avdigits')
>>> resolve_weights("sentiment_late", "runs/my_run")   # any folder of that layout
"""

import hashlib
import json
import os
import pathlib

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.weights.h5"
METADATA_FILE = "metadata.json"
FOLDER_FILES = (CONFIG_FILE, WEIGHTS_FILE, METADATA_FILE)
MANIFEST_FILE = "manifest.json"


class WeightsError(ValueError):
    """Missing, unknown, truncated or modified weights."""


def weights_root():
    """Where shipped weights live: $MMZOO_WEIGHTS_DIR, else the package's `shipped_weights/`."""
    override = os.environ.get("MMZOO_WEIGHTS_DIR")
    if override:
        return pathlib.Path(override)
    return pathlib.Path(__file__).resolve().parent / "shipped_weights"


def read_manifest(root=None):
    """`{"<preset>/<name>": {"files": {file: sha256}, "metrics": {...}}}`."""
    path = pathlib.Path(root or weights_root()) / MANIFEST_FILE
    if not path.exists():
        return {}
    with open(path) as handle:
        return json.load(handle)


def shipped_weights(preset=None):
    """Names of shipped weights, `{"<preset>": ["<name>", ...]}` or a list for one preset."""
    by_preset = {}
    for key in read_manifest():
        name_of_preset, name = key.split("/", 1)
        by_preset.setdefault(name_of_preset, []).append(name)
    return sorted(by_preset.get(preset, [])) if preset else by_preset


def sha256(path, chunk=1 << 20):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def resolve_weights(preset, weights, verify=True):
    """The folder for `weights`: a shipped name for `preset`, or a folder path.

    Shipped folders are checked against the manifest's sha256 of every file.
    """
    candidate = pathlib.Path(os.path.expanduser(str(weights)))
    if candidate.is_dir():
        check_folder(candidate)
        return candidate
    key = f"{preset}/{weights}"
    manifest = read_manifest()
    if key not in manifest:
        names = shipped_weights(preset)
        raise WeightsError(
            f"No weights named {weights!r} for preset {preset!r} and no folder at "
            f"{candidate}. Shipped weights for {preset!r}: {names or 'none'}."
        )
    folder = weights_root() / preset / str(weights)
    check_folder(folder)
    if verify:
        verify_folder(folder, manifest[key]["files"])
    return folder


def check_folder(folder):
    missing = [name for name in (CONFIG_FILE, WEIGHTS_FILE)
               if not (pathlib.Path(folder) / name).exists()]
    if missing:
        raise WeightsError(f"Weights folder {folder} lacks {', '.join(missing)}.")


def verify_folder(folder, expected):
    """Raises WeightsError naming the first file whose sha256 differs from `expected`."""
    for name, digest in expected.items():
        path = pathlib.Path(folder) / name
        if not path.exists():
            raise WeightsError(f"Weights file {path} is missing.")
        actual = sha256(path)
        if actual != digest:
            raise WeightsError(
                f"Checksum mismatch for {path} ({path.stat().st_size} bytes): expected "
                f"sha256 {digest}, found {actual}. The file is truncated or modified; "
                "restore it (git checkout) or reinstall mmzoo."
            )


def read_folder_config(folder):
    with open(pathlib.Path(folder) / CONFIG_FILE) as handle:
        return json.load(handle)


def read_metadata(folder):
    path = pathlib.Path(folder) / METADATA_FILE
    if not path.exists():
        return {}
    with open(path) as handle:
        return json.load(handle)


def _without_optimizer(model):
    """`model`, or an uncompiled copy of it: `save_weights` of a compiled model also
    writes the optimizer's slots (Adam: twice the model), which users of shipped weights
    never need."""
    if getattr(model, "optimizer", None) is None:
        return model
    copy = type(model).from_config(model.get_config())
    copy.set_weights(model.get_weights())
    return copy


def save_folder(model, folder, preset=None, metadata=None):
    """Writes `config.json`, `model.weights.h5` and `metadata.json` for `model`."""
    from mmzoo.registry import TASKS

    folder = pathlib.Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    task = next(name for name in TASKS if type(model) is TASKS.get(name))
    config = {"task": task, "preset": preset, "config": model.get_config()}
    with open(folder / CONFIG_FILE, "w") as handle:
        json.dump(config, handle, indent=1)
    _without_optimizer(model).save_weights(folder / WEIGHTS_FILE)
    with open(folder / METADATA_FILE, "w") as handle:
        json.dump(metadata or {}, handle, indent=1)
    return folder


def update_manifest(root=None):
    """Recomputes `manifest.json` from the folders under `root` (shipped weights)."""
    root = pathlib.Path(root or weights_root())
    manifest = {}
    for config_path in sorted(root.glob(f"*/*/{CONFIG_FILE}")):
        folder = config_path.parent
        key = f"{folder.parent.name}/{folder.name}"
        metadata = read_metadata(folder)
        manifest[key] = {
            "files": {name: sha256(folder / name) for name in FOLDER_FILES
                      if (folder / name).exists()},
            "metrics": metadata.get("metrics", {}),
        }
    with open(root / MANIFEST_FILE, "w") as handle:
        json.dump(manifest, handle, indent=1, sort_keys=True)
        handle.write("\n")
    return manifest
