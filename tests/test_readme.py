"""The README's commands and tables are true, and every code block runs as written.

Python blocks run in a subprocess (tests/readme_runner.py: the values shown in their
comments are checked), shell blocks line by line with bash; both in a temporary working
directory with `../shared` beside it when this checkout has one. The two fresh-machine
commands are exempt: .ci/run runs them (checked below). Blocks and lines that read
`../shared/data` (they train or evaluate) skip without the data; they and the exports
(tens of seconds each) are marked slow.
"""

import os
import pathlib
import re
import subprocess
import sys

import pytest

from mmzoo.quiet import is_startup_noise
from tools.readme_tables import END, START, preset_table

ROOT = pathlib.Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
SHARED = ROOT.parent / "shared"
DATA = "../shared/data"


def code_blocks(language, text=README):
    """[(README line of the block's first code line, code)] of the ```language blocks."""
    return [(text[:match.start(1)].count("\n") + 1, match.group(1))
            for match in re.finditer(rf"```{language}\n(.*?)```", text, re.S)]


def _bash_blocks(text):
    return [code.strip() for _, code in code_blocks("bash", text)]


def test_ci_runs_the_readme_fresh_machine_commands():
    install, tests = _bash_blocks(README)[:2]
    ci = [line for line in (ROOT / ".ci" / "run").read_text().splitlines()
          if line and not line.startswith(("#", "set ", "cd "))]
    assert ci == [install, tests]
    assert "pip install" in install and "mmzoo demo" in install
    assert "pytest" in tests


def test_preset_table_is_current():
    table = README[README.index(START) + len(START):README.index(END)].strip()
    assert table == preset_table().strip(), "run: python tools/readme_tables.py"


def test_readme_links_only_what_users_have():
    assert "../shared/DESIGN.md" not in README
    for target in re.findall(r"\]\(([^)#]+)\)", README):
        if not target.startswith("http"):
            assert (ROOT / target).exists(), target


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """A working directory with ../shared beside it (when this checkout has one), the
    environment a user's shell would have, and a fresh pretrained cache."""
    base = tmp_path_factory.mktemp("readme")
    work = base / "work"
    work.mkdir()
    if SHARED.is_dir():
        (base / "shared").symlink_to(SHARED)
    env = {k: v for k, v in os.environ.items()
           if k not in ("TF_CPP_MIN_LOG_LEVEL", "MMZOO_VERBOSE")}
    env["PATH"] = os.pathsep.join([os.path.dirname(sys.executable), env.get("PATH", "")])
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env["MMZOO_HOME"] = str(base / "mmzoo_home")
    return work, env


def _needs_data(code):
    return DATA in code


def _params(blocks):
    return [pytest.param(first, code, id=f"line{first}",
                         marks=[pytest.mark.slow] if _needs_data(code) else [])
            for first, code in blocks]


def _skip_without_data(code):
    if _needs_data(code) and not (SHARED / "data").is_dir():
        pytest.skip(f"{SHARED / 'data'} is not available")


@pytest.mark.parametrize("first, code", _params(code_blocks("python")))
def test_python_block_runs_as_written(first, code, workdir):
    _skip_without_data(code)
    work, env = workdir
    block = work.parent / f"block_{first}.py"
    block.write_text(code)
    result = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "readme_runner.py"), str(block), str(first)],
        cwd=work, env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


def _shell_lines():
    lines = []
    for first, code in code_blocks("bash")[2:]:  # after the two fresh-machine commands
        for offset, line in enumerate(code.splitlines()):
            if line.strip() and not line.lstrip().startswith("#"):
                lines.append((first + offset, line))
    return lines


def test_readme_has_shell_commands_for_every_command():
    commands = {line.split()[1] for _, line in _shell_lines() if line.startswith("mmzoo ")}
    assert {"list", "describe", "predict", "train", "evaluate", "export"} <= commands


def _run_shell(lines, workdir):
    work, env = workdir
    outputs = {}
    for number, line in lines:
        result = subprocess.run(["bash", "-c", line], cwd=work, env=env,
                                capture_output=True, text=True, timeout=900)
        assert result.returncode == 0, f"README.md line {number}: {line}\n{result.stderr}"
        noise = [text for text in result.stderr.splitlines() if is_startup_noise(text)]
        assert not noise, f"README.md line {number} printed TensorFlow logs: {noise}"
        outputs[line.split("#")[0].strip()] = result.stdout
    return outputs


def _is_slow(line):
    return _needs_data(line) or line.startswith("mmzoo export")


def test_shell_commands_run_as_written(workdir):
    outputs = _run_shell([(n, line) for n, line in _shell_lines() if not _is_slow(line)],
                         workdir)
    printed = "\n".join(outputs.values())
    assert "sentiment_gmu" in printed and "gated" in printed
    assert "label: 7  score: 0.99" in printed
    assert "answer: circle" in printed


@pytest.mark.slow
def test_training_evaluation_and_export_commands_run_as_written(workdir):
    if not (SHARED / "data").is_dir():
        pytest.skip(f"{SHARED / 'data'} is not available")
    lines = [(n, line) for n, line in _shell_lines() if _is_slow(line)]
    assert [line.split()[1] for _, line in lines] == ["train", "evaluate", "export", "export"]
    outputs = _run_shell(lines, workdir)
    work, _ = workdir
    assert (work / "runs" / "late" / "checksums.json").is_file()
    evaluation = outputs[lines[1][1].split("#")[0].strip()]
    assert '"examples": 256' in evaluation and evaluation.count("\n") == 1
    assert (work / "exported" / "late" / "saved_model.pb").is_file()
    assert (work / "exported" / "late.tflite").stat().st_size > 100_000
