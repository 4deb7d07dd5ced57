"""Writes mmzoo/preset_parameters.json: the parameter count of every preset, built.

    python tools/preset_parameters.py

`mmzoo list` and `mmzoo describe` read the counts from that file so that they need not
import TensorFlow; tests/test_listing.py checks that they are what this script writes.
"""

import json

from mmzoo.listing import PARAMETERS_FILE


def count_parameters(names=None):
    """`{preset: count}` from built models (random initialisation)."""
    import mmzoo

    return {name: int(mmzoo.load(name, compile=False).count_params())
            for name in names or mmzoo.list_models()}


def main():
    PARAMETERS_FILE.write_text(json.dumps(count_parameters(), indent=1) + "\n")
    print(f"wrote {PARAMETERS_FILE}")


if __name__ == "__main__":
    main()
