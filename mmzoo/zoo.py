"""Models by name: `load` (listing and describing presets is `mmzoo.listing`).

>>> model = load("sentiment_late")                          # random init, compiled
>>> model = load("sentiment_late", weights="avdigits")      # shipped weights
>>> model = load("sentiment_late", weights="avdigits", num_classes=3)  # new head
"""

import inspect
import pathlib

from mmzoo import presets  # noqa: F401  (registers the presets)
from mmzoo import tasks  # noqa: F401  (registers the tasks)
from mmzoo.registry import PRESETS, TASKS
from mmzoo.weights import (
    WEIGHTS_FILE,
    WeightsError,
    load_weights_file,
    read_folder_config,
    read_metadata,
    resolve_weights,
)

# Overriding one of these drops the preset's options for the thing it replaces (options
# given with the override are then used as they are, not merged into the preset's).
_OPTION_OF = {
    "fusion": "fusion_options",
    "text_backbone": "text_options",
    "image_backbone": "image_options",
    "audio_backbone": "audio_options",
}


def load(name, weights=None, compile=True, **overrides):
    """Builds preset `name`; `weights` is a shipped weights name or a weights folder.

    Overrides replace constructor arguments of the preset's task (dict options are
    merged one level deep). With weights, every layer whose shapes still match gets the
    trained values, so `num_classes=` gives a trained model with a fresh head.
    """
    spec = PRESETS.get(name)
    task_class = TASKS.get(spec["task"])
    _check_arguments(name, task_class, overrides)
    if weights is None:
        model = task_class(**merge_config(spec["config"], overrides))
    else:
        model = _load_trained(name, spec, task_class, weights, overrides)
    if compile:
        model.compile()
    return model


def _load_trained(name, spec, task_class, weights, overrides):
    folder = resolve_weights(name, weights)
    saved = read_folder_config(folder)
    if saved.get("task") != spec["task"]:
        raise WeightsError(
            f"Weights in {folder} are for a {saved.get('task')!r} model, but preset "
            f"{name!r} is a {spec['task']!r}."
        )
    if saved.get("preset") not in (None, name):
        raise WeightsError(
            f"Weights in {folder} were trained as preset {saved['preset']!r}, not "
            f"{name!r}: load them with mmzoo.load({saved['preset']!r}, weights=...).")
    config = merge_config(saved["config"], saved.get("pretrained_init", {}))
    trained = task_class.from_config(config)
    try:
        load_weights_file(trained, pathlib.Path(folder) / WEIGHTS_FILE)
    except WeightsError:
        raise
    except Exception as error:  # h5py raises OSError/ValueError/KeyError variants
        raise WeightsError(
            f"Could not read {pathlib.Path(folder) / WEIGHTS_FILE}: {error}"
        ) from error
    trained.weights_metadata = read_metadata(folder)
    if not overrides:
        return trained
    overrides = dict(overrides)
    if overrides.get("num_classes", saved["config"].get("num_classes")) != \
            saved["config"].get("num_classes") and "class_names" not in overrides:
        overrides["class_names"] = None  # a new head: the trained names no longer apply
    model = task_class.from_config(merge_config(saved["config"], overrides))
    transfer_weights(trained, model)
    model.weights_metadata = trained.weights_metadata
    return model


def merge_config(config, overrides):
    """`config` updated by `overrides`; dict values merge one level deep."""
    merged = {key: (dict(value) if isinstance(value, dict) else value)
              for key, value in config.items()}
    for key, option in _OPTION_OF.items():
        if key in overrides and overrides[key] != merged.get(key):
            merged.pop(option, None)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = {**merged[key], **value}
        else:
            merged[key] = value
    return merged


def _check_arguments(name, task_class, overrides):
    accepted = [p for p in inspect.signature(task_class.__init__).parameters
                if p not in ("self", "kwargs")] + ["name", "dtype"]
    unknown = [key for key in overrides if key not in accepted]
    if unknown:
        raise ValueError(
            f"Unknown argument {unknown[0]!r} for preset {name!r} "
            f"({task_class.__name__}); accepted: {', '.join(sorted(accepted))}."
        )


def transfer_weights(source, target):
    """Copies weights from `source` into `target` wherever layer names and shapes match.

    Returns the names of the target layers left as initialised (e.g. a resized head).
    """
    skipped = []
    _transfer(source, target, target.name, skipped)
    return skipped


def _transfer(source, target, path, skipped):
    if not target.weights:
        return
    if [w.shape for w in source.weights] == [w.shape for w in target.weights]:
        target.set_weights(source.get_weights())
        return
    own = {v.name: v for v in _own_variables(source)}
    for variable in _own_variables(target):
        match = own.get(variable.name)
        if match is not None and match.shape == variable.shape:
            variable.assign(match)
        else:
            skipped.append(f"{path}/{variable.name}")
    children = {layer.name: layer for layer in _children(source)}
    for layer in _children(target):
        if layer.name in children:
            _transfer(children[layer.name], layer, f"{path}/{layer.name}", skipped)
        elif layer.weights:
            skipped.append(f"{path}/{layer.name}")


def _children(layer):
    return list(layer._flatten_layers(include_self=False, recursive=False))


def _own_variables(layer):
    return list(layer._trainable_variables) + list(layer._non_trainable_variables)
