"""Writes a benchmark's table into benchmarks/README.md between its markers.

>>> replace_block("avdigits", "| model | accuracy |\n|---|---|")
# README.md: <!-- avdigits:start --> ... <!-- avdigits:end --> replaced (appended if absent)
"""

import pathlib

README = pathlib.Path(__file__).resolve().parent / "README.md"


def replace_block(name, body, readme=README):
    """Puts `body` between `<!-- name:start -->` and `<!-- name:end -->` in `readme`."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    readme = pathlib.Path(readme)
    text = readme.read_text() if readme.exists() else "# Benchmarks\n"
    block = f"{start}\n{body.strip(chr(10))}\n{end}"
    if start in text:
        text = text[: text.index(start)] + block + text[text.index(end) + len(end):]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    readme.write_text(text)
