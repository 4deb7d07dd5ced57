"""Listing and describing presets without importing TensorFlow (`mmzoo list`, `describe`).

Presets are plain data (`mmzoo.presets`), shipped weights are listed in
`weights/manifest.json`, and parameter counts are recorded in `preset_parameters.json`
(written by `python tools/preset_parameters.py`), so none of this builds a model.
tests/test_listing.py checks the defaults table below against the task classes'
constructors, each summary against the task's own `summarize_config`, and the counts
against built models.

>>> import mmzoo
>>> mmzoo.list_models(task="vqa")
['vqa_concat', 'vqa_mfb', 'vqa_rn', 'vqa_san']
>>> mmzoo.describe("sentiment_late")        # a dict that prints as a table
sentiment_late: Text + image + audio classifier, late fusion: ...
  task        classifier
  ...
"""

import json
import pathlib

from mmzoo import presets  # noqa: F401  (registers the presets)
from mmzoo.registry import PRESETS, Registry
from mmzoo.weights import read_manifest, shipped_weights

PARAMETERS_FILE = pathlib.Path(__file__).resolve().parent / "preset_parameters.json"

# The constructor defaults that summaries read, per task (checked against the classes).
TASK_DEFAULTS = {
    "classifier": {"modalities": ("text", "image", "audio"), "fusion": "concat",
                   "text_backbone": "bigru", "image_backbone": "simple_cnn",
                   "audio_backbone": "mel_cnn"},
    "vqa": {"modalities": ("image", "question"), "fusion": "hadamard",
            "image_backbone": "simple_cnn", "text_backbone": "bigru"},
    "captioner": {"decoder": "transformer", "image_backbone": "simple_cnn"},
    "retriever": {"image_backbone": "simple_cnn", "text_backbone": "cnn",
                  "loss": "infonce"},
}

_TASKS = Registry("task")
for _task in TASK_DEFAULTS:
    _TASKS.register(_task, _task)


def list_models(task=None):
    """Sorted preset names, optionally only those of one task."""
    if task is not None:
        _TASKS.get(task)
        return PRESETS.names(task=task)
    return PRESETS.names()


def summarize_config(task, config):
    """Modalities, backbones and fusion of a task's config, as the task class's own
    `summarize_config` computes them (without building anything)."""
    config = {**TASK_DEFAULTS[_TASKS.get(task)], **config}
    if task == "classifier":
        modalities = _as_list(config["modalities"])
        return {"modalities": modalities,
                "backbones": {m: config[f"{m}_backbone"] for m in modalities},
                "fusion": config["fusion"]}
    if task == "vqa":
        modalities = _as_list(config["modalities"])
        backbones = {"image": config["image_backbone"], "question": config["text_backbone"]}
        return {"modalities": modalities,
                "backbones": {m: backbones[m] for m in modalities},
                "fusion": config["fusion"] if "image" in modalities else "none"}
    if task == "captioner":
        transformer = config["decoder"] == "transformer"
        return {"modalities": ["image", "text"],
                "backbones": {"image": config["image_backbone"],
                              "text": "transformer decoder" if transformer
                              else "lstm decoder"},
                "fusion": "cross_attention" if transformer else "soft_attention"}
    return {"modalities": ["image", "text"],
            "backbones": {m: config[f"{m}_backbone"] for m in ("image", "text")},
            "fusion": "cosine", "loss": config["loss"]}


def _as_list(modalities):
    return [modalities] if isinstance(modalities, str) else list(modalities)


def summarize(name):
    """Task, description, modalities, backbones, fusion and shipped weights of a preset."""
    spec = PRESETS.get(name)
    return {
        "name": name,
        "task": spec["task"],
        "description": spec["description"],
        **summarize_config(spec["task"], spec["config"]),
        "weights": shipped_weights(name),
    }


def parameter_counts():
    """`{preset: number of parameters}` as recorded in `preset_parameters.json`."""
    return json.loads(PARAMETERS_FILE.read_text())


def describe(name):
    """A `Description` of preset `name`: `summarize` plus its parameter count, the
    preset's own constructor arguments (`config`; every other argument takes the
    task's default: `mmzoo.load(name).get_config()` lists all) and the recorded metrics
    of each shipped weights. It is a dict (`json.dumps` works) that prints as a table.
    """
    spec = PRESETS.get(name)
    manifest = read_manifest()
    return Description({
        **summarize(name),
        "parameters": parameter_counts()[name],
        "config": spec["config"],
        "weights": {weights_name: manifest[f"{name}/{weights_name}"].get("metrics", {})
                    for weights_name in shipped_weights(name)},
    })


class Description(dict):
    """What `mmzoo.describe` returns: a plain dict whose repr is the table that
    `mmzoo describe NAME` prints."""

    def __repr__(self):
        return "\n".join(description_lines(self))

    __str__ = __repr__

    def _repr_pretty_(self, printer, cycle):  # IPython and Jupyter
        printer.text(repr(self))


def description_lines(info):
    """The lines `mmzoo describe` prints for a `describe` dict."""
    rows = [("task", info["task"]), ("modalities", ", ".join(info["modalities"]))]
    rows += [(f"{modality} backbone", backbone)
             for modality, backbone in info["backbones"].items()]
    rows.append(("fusion", info["fusion"]))
    if "loss" in info:
        rows.append(("loss", info["loss"]))
    rows.append(("parameters", f"{info['parameters']:,}"))
    if not info["weights"]:
        rows.append(("weights", "none shipped (random initialisation)"))
    for weights_name, metrics in info["weights"].items():
        shown = ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
                          for k, v in metrics.items())
        rows.append(("weights", f"{weights_name}: {shown}"))
    width = max(len(label) for label, _ in rows) + 2
    return [f"{info['name']}: {info['description']}"] + [
        f"  {label:<{width}}{value}" for label, value in rows]
