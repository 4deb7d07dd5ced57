"""Fine-tuning helpers.

>>> model = mmzoo.load("sentiment_late", image_backbone="resnet50",
...                    image_weights="imagenet", num_classes=3)
>>> mmzoo.freeze_backbones(model)          # train the fusion and head only
>>> model.fit(train, epochs=3)
>>> mmzoo.freeze_backbones(model, trainable=True)   # then unfreeze to fine-tune all
"""

import keras


def backbones(model):
    """dict modality -> backbone model of an mmzoo task model (also those nested in a
    tower or an image encoder, as in the retrieval and captioning tasks)."""
    found = {}

    def visit(layers):
        for layer in layers:
            if layer.name.endswith("_backbone"):
                found.setdefault(layer.name[: -len("_backbone")], layer)
            elif isinstance(layer, keras.Model):
                visit(layer.layers)

    visit(model.layers)
    if not found:
        raise ValueError(f"{model.name} has no layers named '<modality>_backbone'.")
    return found


def freeze_backbones(model, trainable=False, modalities=None):
    """Sets `trainable` on the backbones (all, or those of `modalities`).

    A frozen backbone runs its BatchNorm layers in inference mode, so their moving
    statistics do not move during `fit`. A compiled model is re-compiled with its
    compile arguments (and a fresh optimizer) so that the change takes effect.
    """
    found = backbones(model)
    unknown = [m for m in (modalities or []) if m not in found]
    if unknown:
        raise ValueError(f"{model.name} has no {unknown[0]!r} backbone; it has {list(found)}.")
    for name, backbone in found.items():
        if modalities is None or name in modalities:
            backbone.trainable = trainable
    if getattr(model, "compiled", False):
        model.compile_from_config(model.get_compile_config())
    return model
