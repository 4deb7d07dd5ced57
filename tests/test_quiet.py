"""TensorFlow's start-up logs are dropped, anything else it prints is passed on."""

import os
import subprocess
import sys
import textwrap

import pytest

from mmzoo.quiet import is_startup_noise

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

NOISE = [
    "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
    "I0000 00:00:1795856956.376930   11076 port.cc:153] oneDNN custom operations are on.",
    "I0000 00:00:1795856956.377910   11076 cudart_stub.cc:31] Could not find cuda drivers "
    "on your machine, GPU will not be used.",
    "I0000 00:00:1795856956.504329   11076 cpu_feature_guard.cc:227] This TensorFlow binary "
    "is optimized to use available CPU instructions in performance-critical operations.",
    "To enable the following instructions: AVX2 AVX512F AVX512_VNNI FMA, in other "
    "operations, rebuild TensorFlow with the appropriate compiler flags.",
    "E0000 00:00:1795856959.308059   11076 cuda_platform.cc:52] failed call to cuInit: "
    "INTERNAL: CUDA error: Failed call to cuInit: UNKNOWN ERROR (303)",
    "W0000 00:00:1700000000.000000   11076 gpu_device.cc:2344] Cannot dlopen some GPU libraries.",
]
KEPT = ["E0000 00:00:1795856959.308059   11076 some_kernel.cc:12] out of memory",
        "F0000 00:00:1795856959.308059   11076 cpu_info.cc:12] needs AVX",
        "a plain line a library printed"]


@pytest.mark.parametrize("line", NOISE)
def test_startup_lines_are_noise(line):
    assert is_startup_noise(line)


@pytest.mark.parametrize("line", KEPT)
def test_other_lines_are_not(line):
    assert not is_startup_noise(line)


@pytest.fixture
def fake_tensorflow(tmp_path):
    """A `tensorflow` package that writes start-up noise and one real line to fd 2 while
    it is imported and while its devices are listed, as TensorFlow does."""
    package = tmp_path / "tensorflow"
    package.mkdir()
    at_import = "\n".join(NOISE[:5] + ["import-time message", ""])
    listing_devices = NOISE[5] + "\n"
    (package / "__init__.py").write_text(textwrap.dedent(f"""
        import os
        os.write(2, {at_import!r}.encode())
        class config:
            @staticmethod
            def list_physical_devices():
                os.write(2, {listing_devices!r}.encode())
                return []
        """))
    return tmp_path


def _import(fake_tensorflow, verbose):
    code = ("import os; from mmzoo.quiet import import_tensorflow; "
            f"import_tensorflow(verbose={verbose}); "
            "print(os.environ.get('TF_CPP_MIN_LOG_LEVEL'))")
    env = {k: v for k, v in os.environ.items()
           if k not in ("TF_CPP_MIN_LOG_LEVEL", "MMZOO_VERBOSE")}
    env["PYTHONPATH"] = os.pathsep.join([str(fake_tensorflow), REPO])
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, timeout=60)


def test_quiet_import_keeps_only_what_is_not_startup_noise(fake_tensorflow):
    result = _import(fake_tensorflow, verbose=False)
    assert result.returncode == 0, result.stderr
    assert result.stderr == "import-time message\n"
    assert result.stdout.strip() == "3"


def test_verbose_import_keeps_everything(fake_tensorflow):
    result = _import(fake_tensorflow, verbose=True)
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == NOISE[:5] + ["import-time message"]
    assert result.stdout.strip() == "None"
