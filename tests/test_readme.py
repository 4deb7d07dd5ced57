"""The README's commands and tables are true."""

import pathlib
import re

from tools.readme_tables import END, START, preset_table

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _bash_blocks(text):
    return [block.strip() for block in re.findall(r"```bash\n(.*?)```", text, re.S)]


def test_ci_runs_the_readme_fresh_machine_commands():
    readme = (ROOT / "README.md").read_text()
    install, tests = _bash_blocks(readme)[:2]
    ci = [line for line in (ROOT / ".ci" / "run").read_text().splitlines()
          if line and not line.startswith(("#", "set ", "cd "))]
    assert ci == [install, tests]
    assert "pip install" in install and "mmzoo demo" in install
    assert "pytest" in tests


def test_preset_table_is_current():
    readme = (ROOT / "README.md").read_text()
    table = readme[readme.index(START) + len(START):readme.index(END)].strip()
    assert table == preset_table().strip(), "run: python tools/readme_tables.py"
