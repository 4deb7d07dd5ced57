"""Weights folders: writing them atomically, checksums, resolving shipped names.

A weights folder holds `config.json` (task, preset and model config),
`model.weights.h5`, `metadata.json` (data set, splits, metrics, the command that
trained it, seed, library versions) and `checksums.json`, the sha256 of the other three,
written last: a folder without it was not finished. Loading verifies the checksums.
Shipped folders live in the repository's `weights/<preset>/<name>/` (installed as
`mmzoo/shipped_weights/`) and are also listed in `weights/manifest.json`. A shipped
name always means the shipped folder, even when a folder of that name exists in the
working directory; anything else is a folder path.

>>> resolve_weights("sentiment_late", "avdigits")      # a shipped name
PosixPath('.../weights/sentiment_late/avdigits')
>>> resolve_weights("sentiment_late", "runs/my_run")   # any folder of that layout
"""

import hashlib
import json
import os
import pathlib
import tempfile
import warnings

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.weights.h5"
METADATA_FILE = "metadata.json"
CHECKSUMS_FILE = "checksums.json"
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
    """The verified folder for `weights`: a shipped name for `preset` (first), or a
    weights folder path.

    Raises `WeightsError` for an unknown name, a folder that lacks files, or a file
    whose sha256 differs from the folder's `checksums.json` (or the manifest).
    """
    key = f"{preset}/{weights}"
    manifest = read_manifest()
    if key in manifest:
        folder = weights_root() / preset / str(weights)
        check_folder(folder)
        if verify:
            verify_folder(folder, manifest[key]["files"])
        return folder
    candidate = pathlib.Path(os.path.expanduser(str(weights)))
    if not candidate.is_dir():
        names = shipped_weights(preset)
        raise WeightsError(
            f"No weights named {weights!r} for preset {preset!r} and no folder at "
            f"{candidate}. Shipped weights for {preset!r}: {names or 'none'}."
        )
    check_folder(candidate)
    if verify:
        checksums = candidate / CHECKSUMS_FILE
        if checksums.exists():
            verify_folder(candidate, _read_json(checksums))
        else:
            warnings.warn(
                f"{candidate} has no {CHECKSUMS_FILE} (written by mmzoo 0.2 and later), so "
                "its files cannot be verified.", stacklevel=3)
    return candidate


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
                "restore it (git checkout, reinstall mmzoo, or train again)."
            )


def read_folder_config(folder):
    return _read_json(pathlib.Path(folder) / CONFIG_FILE)


def read_metadata(folder):
    path = pathlib.Path(folder) / METADATA_FILE
    return _read_json(path) if path.exists() else {}


def _read_json(path):
    try:
        with open(path) as handle:
            return json.load(handle)
    except json.JSONDecodeError as error:
        raise WeightsError(f"{path} is not valid JSON ({error.msg} at line "
                           f"{error.lineno}); restore or delete it.") from None


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
    """Writes `config.json`, `model.weights.h5`, `metadata.json` and then
    `checksums.json` for `model`. Each file is written to a temporary name and renamed,
    so a kill leaves the previous file or the new one, never a truncated one.

    A model with pretrained initial weights (`model.pretrained_init`: ImageNet, MiniLM,
    GloVe...) keeps only the variables that differ from that initialisation (the trained
    ones), and `config.json` records the initialisation: a weights folder of a head
    trained on a frozen 90 MB encoder holds the head.
    """
    from mmzoo.registry import TASKS

    folder = pathlib.Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    task = next(name for name in TASKS if type(model) is TASKS.get(name))
    config = {"task": task, "preset": preset, "config": model.get_config()}
    init = getattr(model, "pretrained_init", {})
    if init:
        config["pretrained_init"] = init
    stale = folder / CHECKSUMS_FILE
    if stale.exists():
        stale.unlink()  # the folder is being rewritten: not finished until the end
    with tempfile.TemporaryDirectory(dir=folder, prefix=".writing-") as scratch:
        scratch = pathlib.Path(scratch)
        _write_json(scratch / CONFIG_FILE, config)
        weights_of = _without_optimizer(model)
        if init:
            save_trained_variables(weights_of, model.rebuilt_with_pretrained_init(),
                                   scratch / WEIGHTS_FILE)
        else:
            weights_of.save_weights(scratch / WEIGHTS_FILE)
        _write_json(scratch / METADATA_FILE, metadata or {})
        checksums = {name: sha256(scratch / name) for name in FOLDER_FILES}
        for name in FOLDER_FILES:
            os.replace(scratch / name, folder / name)
        _write_json(scratch / CHECKSUMS_FILE, checksums)
        os.replace(scratch / CHECKSUMS_FILE, folder / CHECKSUMS_FILE)
    return folder


# ----- weights files that hold only what training changed ---------------------------------
PARTIAL_ATTRIBUTE = "mmzoo_trained_variables_only"


def save_trained_variables(model, reference, path):
    """Writes the variables of `model` that differ from `reference` (the same
    architecture at its pretrained initialisation) to `path`, in Keras' weights-file
    layout, marked as partial."""
    import h5py

    with tempfile.TemporaryDirectory() as scratch:
        full, initial = pathlib.Path(scratch) / "full.weights.h5", \
            pathlib.Path(scratch) / "initial.weights.h5"
        model.save_weights(full)
        reference.save_weights(initial)
        with h5py.File(full, "r") as source, h5py.File(initial, "r") as base, \
                h5py.File(path, "w") as target:
            target.attrs[PARTIAL_ATTRIBUTE] = True
            kept = []
            source.visititems(lambda name, item: kept.append(name) if isinstance(
                item, h5py.Dataset) and not _same(item, base.get(name)) else None)
            for name in kept:
                source.copy(source[name], target.require_group(
                    str(pathlib.PurePosixPath(name).parent)), name=pathlib.PurePosixPath(name).name)
            target.attrs["variables_kept"] = len(kept)


def _same(dataset, other):
    import numpy as np

    return other is not None and dataset.shape == other.shape and np.array_equal(
        dataset[()], other[()])


def load_weights_file(model, path):
    """`model.load_weights(path)`; a partial file (see `save_trained_variables`) is laid
    over the model's current (pretrained) values."""
    import h5py

    with h5py.File(path, "r") as handle:
        partial = bool(handle.attrs.get(PARTIAL_ATTRIBUTE, False))
    if not partial:
        model.load_weights(path)
        return
    with tempfile.TemporaryDirectory() as scratch:
        full = pathlib.Path(scratch) / "full.weights.h5"
        model.save_weights(full)
        with h5py.File(path, "r") as source, h5py.File(full, "a") as target:
            names = []
            source.visititems(lambda name, item: names.append(name)
                              if isinstance(item, h5py.Dataset) else None)
            for name in names:
                if name not in target or target[name].shape != source[name].shape:
                    raise WeightsError(
                        f"{path} holds {name} {source[name].shape}, which this model "
                        f"does not have ({target[name].shape if name in target else 'absent'}).")
                target[name][()] = source[name][()]
        model.load_weights(full)


def _write_json(path, value):
    with open(path, "w") as handle:
        json.dump(value, handle, indent=1)
        handle.write("\n")


def is_complete(folder):
    """True when `folder` holds a finished weights folder (its checksums were written)."""
    return (pathlib.Path(folder) / CHECKSUMS_FILE).exists()


def update_manifest(root=None):
    """Recomputes `manifest.json` from the folders under `root` (shipped weights)."""
    root = pathlib.Path(root or weights_root())
    manifest = {}
    for config_path in sorted(root.glob(f"*/*/{CONFIG_FILE}")):
        folder = config_path.parent
        key = f"{folder.parent.name}/{folder.name}"
        metadata = read_metadata(folder)
        manifest[key] = {
            "files": {name: sha256(folder / name) for name in FOLDER_FILES + (CHECKSUMS_FILE,)
                      if (folder / name).exists()},
            "metrics": metadata.get("metrics", {}),
        }
    with open(root / MANIFEST_FILE, "w") as handle:
        json.dump(manifest, handle, indent=1, sort_keys=True)
        handle.write("\n")
    return manifest
