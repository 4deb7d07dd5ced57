"""Regenerates the preset table in README.md (between the `presets` markers).

    python tools/preset_parameters.py   # first, when a preset's architecture changed
    python tools/readme_tables.py

tests/test_readme.py checks that the table in the README is what this script writes.
"""

import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[1]
START, END = "<!-- presets:start -->", "<!-- presets:end -->"


def preset_table():
    """The table, from the preset data and the recorded parameter counts (no build:
    tests/test_listing.py checks the counts against built models)."""
    from mmzoo.listing import list_models, parameter_counts, summarize

    counts = parameter_counts()
    rows = ["| preset | task | modalities | backbones | fusion | parameters | weights |",
            "|---|---|---|---|---|---|---|"]
    for name in list_models():
        info = summarize(name)
        parameters = counts[name]
        rows.append(
            f"| `{name}` | {info['task']} | {' + '.join(info['modalities'])} | "
            f"{', '.join(info['backbones'].values())} | {info['fusion']} | "
            f"{parameters:,} | {', '.join(info['weights']) or '-'} |")
    return "\n".join(rows) + "\n"


def replace_block(text, start, end, block):
    if start not in text or end not in text:
        raise ValueError(f"README.md lacks the markers {start} ... {end}")
    return text[: text.index(start) + len(start)] + "\n" + block + text[text.index(end):]


def main():
    readme = ROOT / "README.md"
    readme.write_text(replace_block(readme.read_text(), START, END, preset_table()))
    print(f"updated {readme}")


if __name__ == "__main__":
    main()
