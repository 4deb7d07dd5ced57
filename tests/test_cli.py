import json
import os
import pathlib
import subprocess
import sys

import pytest

import mmzoo


def cli_command():
    """The installed `mmzoo` console script (as a user runs it), else `python -m`."""
    script = pathlib.Path(sys.executable).parent / "mmzoo"
    return [str(script)] if script.exists() else [sys.executable, "-m", "mmzoo.cli"]


def run_cli(*args, env=None):
    return subprocess.run(cli_command() + list(args), capture_output=True, text=True,
                          timeout=900, env=env)


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
    assert "  fusion          gated\n" in result.stdout and "parameters" in result.stdout
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


def test_predict_takes_bundled_samples_and_prints_no_tensorflow_logs():
    env = {k: v for k, v in os.environ.items()  # as a user's shell: no log settings
           if k not in ("TF_CPP_MIN_LOG_LEVEL", "MMZOO_VERBOSE")}
    result = run_cli("predict", "sentiment_late", "--weights", "avdigits",
                     "--image", "sample:digit_3", "--audio", "sample:digit_3", "--json",
                     env=env)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)[0]["label"] == "3"
    assert result.stderr == ""


def test_unknown_sample_is_a_clear_error(capsys):
    from mmzoo.cli import main

    code = main(["predict", "vqa_san", "--weights", "easy_vqa", "--image",
                 "sample:blue_circel", "--question", "what shape is in the image?"])
    assert code == 2
    assert ("'image': No bundled image sample named 'blue_circel'. Did you mean "
            "'sample:blue_circle'? Image samples: astronaut, blue_circle,") in \
        capsys.readouterr().err


def test_predict_refuses_retrievers_clearly(capsys):
    from mmzoo.cli import main

    assert main(["predict", "retrieval_dual_encoder", "--image", "sample:coffee"]) == 2
    assert "Python pipeline" in capsys.readouterr().err
