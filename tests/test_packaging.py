"""What a wheel (`pip install .`) carries: the shipped weights and the samples."""

import json
import pathlib
import subprocess
import sys
import zipfile

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out),
                    str(ROOT)], check=True, capture_output=True, timeout=600)
    (path,) = out.glob("mmzoo-*.whl")
    return zipfile.ZipFile(path)


def test_wheel_carries_every_shipped_weights_file(wheel):
    names = set(wheel.namelist())
    manifest = json.loads((ROOT / "weights" / "manifest.json").read_text())
    assert manifest, "weights/manifest.json lists no shipped weights"
    assert "mmzoo/shipped_weights/manifest.json" in names
    for key, entry in manifest.items():
        for file_name in entry["files"]:
            assert f"mmzoo/shipped_weights/{key}/{file_name}" in names


def test_wheel_carries_the_demo_samples_and_the_console_script(wheel):
    names = set(wheel.namelist())
    for digit in range(10):
        assert f"mmzoo/samples/avdigits/digit_{digit}.png" in names
        assert f"mmzoo/samples/avdigits/digit_{digit}.wav" in names
    samples = ROOT / "mmzoo" / "samples"
    for path in samples.rglob("*"):
        if path.is_file():
            assert f"mmzoo/samples/{path.relative_to(samples).as_posix()}" in names
    assert "mmzoo/preset_parameters.json" in names  # mmzoo list / describe read it
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "mmzoo = mmzoo.cli:main" in wheel.read(entry_points).decode()


def test_shipped_weights_load_without_the_repository_or_shared_data(tmp_path):
    """A fresh process, started far from the repository and ../shared, loads by name."""
    manifest = json.loads((ROOT / "weights" / "manifest.json").read_text())
    preset, name = next(iter(manifest)).split("/")
    code = (f"import mmzoo; m = mmzoo.load({preset!r}, weights={name!r}); "
            "print(m.count_params())")
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    assert int(result.stdout.split()[-1]) > 0
