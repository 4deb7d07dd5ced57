"""Name -> object registries shared by every task.

`BACKBONES`, `FUSIONS`, `TASKS` and `PRESETS` are instances of one small `Registry`
class. Registering is a decorator::

    from mmzoo.registry import BACKBONES

    @BACKBONES.register("tiny_cnn", modality="image")
    def tiny_cnn(image_size=32, name="tiny_cnn"):
        ...

    BACKBONES.get("tiny_cnn")          # the factory
    BACKBONES.names(modality="image")  # ['efficientnet_b0', ..., 'tiny_cnn', ...]
"""

import difflib


class UnknownNameError(KeyError, ValueError):
    """An unknown registry name; catchable as `KeyError` or `ValueError`."""

    def __str__(self):  # KeyError would print the message with quotes around it.
        return str(self.args[0])


class Registry:
    """A mapping from names to objects plus free-form metadata (e.g. a modality)."""

    def __init__(self, kind):
        self.kind = kind
        self._entries = {}

    def register(self, name, obj=None, **metadata):
        """Registers `obj` under `name`; without `obj`, returns a decorator."""

        def add(target):
            if name in self._entries:
                raise KeyError(f"{self.kind} '{name}' is already registered.")
            self._entries[name] = (target, dict(metadata))
            return target

        return add if obj is None else add(obj)

    def get(self, name, **required):
        """Returns the object named `name`; `required` metadata must match.

        Raises `UnknownNameError` (a `KeyError` and a `ValueError`) that lists the closest registered names.
        """
        names = self.names(**required)
        if name not in names:
            raise UnknownNameError(self._unknown_message(name, names, required))
        return self._entries[name][0]

    def metadata(self, name):
        self.get(name)
        return dict(self._entries[name][1])

    def names(self, **required):
        """Sorted names whose metadata matches every `key=value` in `required`."""
        return sorted(
            name
            for name, (_, meta) in self._entries.items()
            if all(meta.get(key) == value for key, value in required.items())
        )

    def __contains__(self, name):
        return name in self._entries

    def __iter__(self):
        return iter(self.names())

    def __len__(self):
        return len(self._entries)

    def _unknown_message(self, name, names, required):
        qualifier = " ".join(str(v) for v in required.values())
        kind = f"{qualifier} {self.kind}".strip()
        close = difflib.get_close_matches(str(name), names, n=3, cutoff=0.5)
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        return f"Unknown {kind} {name!r}.{hint} Registered: {', '.join(names) or '(none)'}."


BACKBONES = Registry("backbone")
FUSIONS = Registry("fusion")
TASKS = Registry("task")
PRESETS = Registry("preset")
DATASETS = Registry("dataset")
