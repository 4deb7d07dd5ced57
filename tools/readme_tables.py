"""Regenerates the preset table in README.md (between the `presets` markers).

    python tools/readme_tables.py

tests/test_readme.py checks that the table in the README is what this script writes.
"""

import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[1]
START, END = "<!-- presets:start -->", "<!-- presets:end -->"


def preset_table():
    import mmzoo
    from mmzoo.zoo import summarize

    rows = ["| preset | task | modalities | backbones | fusion | parameters | weights |",
            "|---|---|---|---|---|---|---|"]
    for name in mmzoo.list_models():
        info = summarize(name)
        parameters = mmzoo.load(name, compile=False).count_params()
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
