"""What every ``querytrack-*`` tool does with bad input: one mechanism, one format.

A tool raises :class:`UserError` (or a subclass: ``YTVISFormatError``, ``InvalidResultsError``,
``VideoReadError``, ``FrameReadError``, ``CheckpointError``) for anything wrong with what the user gave it: a
missing or unreadable file, malformed JSON, a field of the wrong type, an output path that would overwrite an
input. :func:`cli_main` turns it into ``tool: path: what is wrong`` on stderr and exit code 1, without a
traceback. Anything else is a bug: it is reported on one line too (``tool: internal error: ...``, exit 3), and
``QUERYTRACK_TRACEBACK=1`` shows the traceback.

Outputs never overwrite inputs (:func:`check_outputs`, on resolved paths, so links count) and files are written
atomically (:func:`atomic_path`: a temporary file in the same folder, ``os.replace`` on success). Output
*folders* follow one rule (:func:`output_folder`): an existing non-empty folder is refused unless the tool was
given ``--overwrite``; the run is built in a hidden temporary folder beside it, renamed into place when the
run ends, and removed if the run fails, so a folder at the output path always holds one complete run.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import shutil
import sys
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

EXIT_USER_ERROR = 1
EXIT_INTERNAL_ERROR = 3
EXIT_INTERRUPTED = 130
TRACEBACK_ENV = "QUERYTRACK_TRACEBACK"


class UserError(Exception):
    """Bad input (or output path) given to a tool; ``str(e)`` is ``path: message`` (``message`` without path).

    Args:
        path: the file or folder at fault (``None`` when there is none).
        message: what is wrong, naming the video / frame / entry where it applies.
    """

    def __init__(self, path: str | os.PathLike[str] | None, message: str) -> None:
        self.path = None if path is None else str(path)
        self.message = message
        super().__init__(message if self.path is None else f"{self.path}: {message}")


def cli_main(tool: str) -> Callable[[Callable[..., int]], Callable[..., int]]:
    """Decorate a tool's ``main(argv) -> int`` so that no input can end it with a traceback.

    ``UserError`` → ``tool: <message>`` on stderr, exit 1; ``KeyboardInterrupt`` → exit 130; any other exception
    → ``tool: internal error: Type: message`` on one line, exit 3 (the traceback with ``QUERYTRACK_TRACEBACK=1``).
    Argument errors stay argparse's (usage + exit 2).
    """

    def wrap(main: Callable[..., int]) -> Callable[..., int]:
        @functools.wraps(main)
        def wrapped(*args: Any, **kwargs: Any) -> int:
            try:
                return main(*args, **kwargs)
            except UserError as e:
                print(f"{tool}: {e}", file=sys.stderr)
                return EXIT_USER_ERROR
            except KeyboardInterrupt:
                print(f"{tool}: interrupted", file=sys.stderr)
                return EXIT_INTERRUPTED
            except Exception as e:
                if os.environ.get(TRACEBACK_ENV):
                    raise
                detail = " ".join(str(e).split())[:300]
                print(
                    f"{tool}: internal error: {type(e).__name__}: {detail} "
                    f"(a bug; {TRACEBACK_ENV}=1 shows the traceback)",
                    file=sys.stderr,
                )
                return EXIT_INTERNAL_ERROR

        return wrapped

    return wrap


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
    """Yield a temporary path beside ``path``; on success it replaces ``path`` (``os.replace``), else is removed.

    Raises:
        UserError: the output folder cannot be created or written.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise UserError(path.parent, f"cannot create the output folder ({e.strerror or e})") from None
        yield tmp
        try:
            os.replace(tmp, path)
        except OSError as e:
            raise UserError(path, f"cannot write the output ({e.strerror or e})") from None
    except OSError as e:  # writing the temporary file failed (no space, not a folder, no permission)
        raise UserError(path, f"cannot write the output ({e.strerror or e})") from None
    finally:
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
