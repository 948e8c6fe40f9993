"""What every ``querytrack-*`` tool does with bad input: one mechanism, one format.

A tool raises :class:`UserError` (or a subclass: ``YTVISFormatError``, ``InvalidResultsError``,
``VideoReadError``, ``FrameReadError``, ``CheckpointError``) for anything wrong with what the user gave it: a
missing or unreadable file, malformed JSON, a field of the wrong type, an output path that would overwrite an
input. :func:`cli_main` turns it into ``tool: path: what is wrong`` on stderr and exit code 1, without a
traceback. Anything else is a bug: it is reported on one line too (``tool: internal error: ...``, exit 3), and
``QUERYTRACK_TRACEBACK=1`` shows the traceback.

The file rules every tool follows (no output over an input, atomic writes, one output-folder rule) are in
:mod:`querytrack.core.files`; :class:`UserError` is in :mod:`querytrack.core.errors`.
"""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any

from querytrack.core.errors import UserError

EXIT_USER_ERROR = 1
EXIT_INTERNAL_ERROR = 3
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143  # 128 + SIGTERM, what a shell reports for a process killed by it
TRACEBACK_ENV = "QUERYTRACK_TRACEBACK"


class Terminated(BaseException):
    """SIGTERM (a scheduler's kill, ``timeout``), raised in the main thread so that ``finally`` blocks run: the
    output-folder rule (``core.files.output_folder``) then removes the unfinished folder."""


def _raise_terminated(signum: int, frame: object) -> None:
    raise Terminated


@contextlib.contextmanager
def _sigterm_raises() -> Iterator[None]:
    """While the block runs, SIGTERM raises :class:`Terminated` (main thread only; elsewhere nothing changes)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def cli_main(tool: str) -> Callable[[Callable[..., int]], Callable[..., int]]:
    """Decorate a tool's ``main(argv) -> int`` so that no input can end it with a traceback.

    ``UserError`` → ``tool: <message>`` on stderr, exit 1; ``KeyboardInterrupt`` → exit 130; SIGTERM → its
    ``finally`` blocks run (no unfinished output is left), ``tool: terminated``, exit 143; any other exception
    → ``tool: internal error: Type: message`` on one line, exit 3 (the traceback with ``QUERYTRACK_TRACEBACK=1``).
    Argument errors stay argparse's (usage + exit 2).
    """

    def wrap(main: Callable[..., int]) -> Callable[..., int]:
        @functools.wraps(main)
        def wrapped(*args: Any, **kwargs: Any) -> int:
            try:
                with _sigterm_raises():
                    return main(*args, **kwargs)
            except UserError as e:
                print(f"{tool}: {e}", file=sys.stderr)
                return EXIT_USER_ERROR
            except KeyboardInterrupt:
                print(f"{tool}: interrupted", file=sys.stderr)
                return EXIT_INTERRUPTED
            except Terminated:
                print(f"{tool}: terminated", file=sys.stderr)
                return EXIT_TERMINATED
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
