"""Reading user files and writing outputs safely, for every tool and library function.

Outputs never overwrite inputs (:func:`check_outputs`, on resolved paths, so links count) and files are written
atomically (:func:`atomic_path`: a temporary file in the same folder, ``os.replace`` on success). Output
*folders* follow one rule (:func:`output_folder`): an existing non-empty folder is refused unless the tool was
given ``--overwrite``; the run is built in a hidden temporary folder beside it, renamed into place when the
run ends, and removed if the run fails, so a folder at the output path always holds one complete run.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from querytrack.core.errors import UserError


def read_json(path: str | os.PathLike[str], what: str = "file") -> Any:
    """Load a JSON file, raising :class:`UserError` (naming ``path``) for every way it can be unreadable.

    Args:
        path: the file.
        what: what the file should be, for the messages (e.g. ``"results file"``).

    Raises:
        UserError: missing, a folder, unreadable, not UTF-8, empty, not JSON, or nested too deeply.
    """
    p = Path(path)
    try:
        data = p.read_bytes()
    except FileNotFoundError:
        raise UserError(p, f"{what} not found") from None
    except IsADirectoryError:
        raise UserError(p, f"is a folder, expected a {what} (JSON)") from None
    except OSError as e:
        raise UserError(p, f"cannot read the {what} ({e.strerror or e})") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise UserError(p, f"not a UTF-8 text file (byte {e.start}): not a JSON {what}") from None
    if not text.strip():
        raise UserError(p, f"empty file, expected a JSON {what}")
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise UserError(p, f"not valid JSON: {e.msg} (line {e.lineno}, column {e.colno})") from None
    except RecursionError:
        raise UserError(p, "JSON nested too deeply to be a YouTube-VIS file") from None


def _same_file(a: Path, b: Path) -> bool:
    """True when ``a`` and ``b`` name the same file (resolved links, or the same inode)."""
    if a.resolve() == b.resolve():
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def check_outputs(
    outputs: Iterable[str | os.PathLike[str]], inputs: Iterable[str | os.PathLike[str] | None]
) -> None:
    """Refuse an output path that is one of the inputs (after resolving links) or an existing folder.

    Raises:
        UserError: naming the output path.
    """
    ins = [Path(i) for i in inputs if i is not None]
    for out in map(Path, outputs):
        for i in ins:
            if _same_file(out, i):
                raise UserError(out, f"output would overwrite the input {i}; choose another output path")
        if out.is_dir():
            raise UserError(out, "output path is an existing folder, expected a file path")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path (unique, beside ``path``); on success it replaces ``path`` (``os.replace``), else
    is removed.

    Raises:
        UserError: the output folder cannot be created or written.
    """
    path = Path(path)
    tmp: Path | None = None
    try:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise UserError(path.parent, f"cannot create the output folder ({e.strerror or e})") from None
        # A unique name (not the process id, which can repeat across the nodes of a job): several processes may
        # write the same file at once; each replace is atomic, so a reader sees one complete copy.
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.close(fd)
        tmp = Path(name)
        yield tmp
        try:
            os.replace(tmp, path)
        except OSError as e:
            raise UserError(path, f"cannot write the output ({e.strerror or e})") from None
    except OSError as e:  # writing the temporary file failed (no space, not a folder, no permission)
        raise UserError(path, f"cannot write the output ({e.strerror or e})") from None
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                tmp.unlink()


def write_text_atomic(text: str, path: str | os.PathLike[str]) -> None:
    """Write ``text`` to ``path`` atomically (see :func:`atomic_path`)."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def _inside(path: Path, folder: Path) -> bool:
    """True when ``path`` is ``folder`` or lies under it (both resolved)."""
    p, f = path.resolve(), folder.resolve()
    return p == f or f in p.parents


@contextlib.contextmanager
def output_folder(
    out: str | os.PathLike[str], overwrite: bool = False, inputs: Iterable[str | os.PathLike[str]] = ()
) -> Iterator[Path]:
    """The output-folder rule of every tool: yield a temporary folder that becomes ``out`` on success.

    ``out`` may be absent or an empty folder; a non-empty one is refused unless ``overwrite`` (the old run is
    then replaced only once the new one is complete). The temporary folder ``.NAME.partial<pid>`` beside ``out``
    is renamed to ``out`` when the block ends normally and removed when it raises, so ``out`` never holds a
    mixture of two runs nor the remains of a crashed one.

    Raises:
        UserError: ``out`` is a file, a non-empty folder without ``overwrite``, an input or a folder holding one,
            or cannot be created.
    """
    out = Path(out)
    for i in map(Path, inputs):
        if _inside(i, out):
            raise UserError(out, f"output folder is or contains the input {i}; choose another output folder")
    if out.exists() and not out.is_dir():
        raise UserError(out, "exists and is not a folder; choose an output folder path")
    if out.is_dir() and not overwrite and any(out.iterdir()):
        raise UserError(out, "output folder is not empty (an earlier run?); pass --overwrite to replace it")
    tmp = out.parent / f".{out.name}.partial{os.getpid()}"
    try:
        if tmp.exists():
            shutil.rmtree(tmp)
        tmp.mkdir(parents=True)
    except OSError as e:
        raise UserError(out, f"cannot create the output folder ({e.strerror or e})") from None
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = out.parent / f".{out.name}.old{os.getpid()}"
    moved = False
    try:
        if out.exists():
            os.replace(out, old)
            moved = True
        os.replace(tmp, out)
    except OSError as e:
        if moved:
            with contextlib.suppress(OSError):
                os.replace(old, out)
        shutil.rmtree(tmp, ignore_errors=True)
        raise UserError(out, f"cannot move the finished run into place ({e.strerror or e})") from None
    shutil.rmtree(old, ignore_errors=True)


def write_json_atomic(obj: Any, path: str | os.PathLike[str]) -> None:
    """Write JSON to ``path`` via a temporary file in the same folder and ``os.replace`` (atomic).

    Raises:
        UserError: the output cannot be written (the previous file, if any, is left as it was).
    """
    with atomic_path(path) as tmp, tmp.open("w") as f:
        json.dump(obj, f)


def cached_folder(target: str | os.PathLike[str], marker: str, build: Callable[[Path], object]) -> Path:
    """``target``, built on first use by ``build(folder)`` unless ``target/marker`` exists.

    ``build`` writes into a temporary sibling folder that is renamed to ``target`` when it returns (``marker``
    must be the last file it writes), so an interrupted build never leaves a half-written folder, and two
    processes racing both end with a complete one.
    """
    target = Path(target)
    if (target / marker).is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        build(tmp)
        try:
            os.replace(tmp, target)
        except OSError:
            if not (target / marker).is_file():  # lost a race with a broken target: replace it
                shutil.rmtree(target, ignore_errors=True)
                os.replace(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Hex sha256 of a file's bytes, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()
