import json
import pathlib
import subprocess
import sys

import pytest

import mmzoo


def cli_command():
    """The installed `mmzoo` console script (as a user runs it), else `python -m`."""
    script = pathlib.Path(sys.executable).parent / "mmzoo"
    return [str(script)] if script.exists() else [sys.executable, "-m", "mmzoo.cli"]


def run_cli(*args):
    return subprocess.run(cli_command() + list(args), capture_output=True, text=True,
                          timeout=900)


def test_list_prints_every_preset():
    result = run_cli("list")
    assert result.returncode == 0, result.stderr
    for name in mmzoo.list_models():
        assert name in result.stdout
    rows = json.loads(run_cli("list", "--json").stdout)
    assert [row["name"] for row in rows] == mmzoo.list_models()


def test_describe_human_and_json():
    result = run_cli("describe", "sentiment_gmu")
    assert result.returncode == 0, result.stderr
    assert "fusion      gated" in result.stdout and "parameters" in result.stdout
    info = json.loads(run_cli("describe", "sentiment_gmu", "--json").stdout)
    assert info["fusion"] == "gated" and info["parameters"] > 0


def test_unknown_preset_is_a_clear_error():
    result = run_cli("describe", "sentiment_lte")
    assert result.returncode == 2
    assert "Unknown preset 'sentiment_lte'. Did you mean 'sentiment_late'" in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize("argv", [[], ["nonsense"], ["list", "--bogus"]])
def test_usage_errors(argv):
    result = run_cli(*argv)
    assert result.returncode == 2 and "usage: mmzoo" in result.stderr
