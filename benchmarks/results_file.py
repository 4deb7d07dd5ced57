"""Adds a benchmark's new entries to its `results/*.json` without losing other runs'.

>>> results = save_results(RESULTS, {"easy_vqa/vqa_san": {...}})  # all results after
"""

import json
import pathlib


def save_results(path, new):
    """Merges the `new` entries into the JSON file at `path` (another process may have
    written it since this one read it); returns everything the file now holds."""
    path = pathlib.Path(path)
    merged = json.loads(path.read_text()) if path.exists() else {}
    merged.update(new)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(merged, indent=1) + "\n")
    return merged
