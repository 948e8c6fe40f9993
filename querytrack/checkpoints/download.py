"""``init_checkpoint=NAME | PATH | URL | builtin:NAME`` → a local file, downloading it once into the weights cache.

:func:`resolve_init_checkpoint` accepts:

- ``builtin:NAME``: a checkpoint shipped in the package (``querytrack/assets/NAME.pt``);
- a name of :data:`querytrack.checkpoints.registry.REGISTRY` or an alias (``coco_r50``, ``coco_r101``,
  ``coco_swin_l``): the official COCO QueryInst file, from the cache or downloaded into it;
- an ``http://`` or ``https://`` URL: downloaded into the cache under the URL's file name;
- anything else: a local file path.

The cache is ``$QUERYTRACK_CACHE/weights/`` (default ``~/.cache/querytrack/weights``). A file already there is
used as is, without network. A download goes to a temporary file in the same folder
(``torch.hub.download_url_to_file``), its sha256 is checked, and only then is it renamed into place, so the cache
never holds a partial or mismatching file: the check is the full sha256 where the table has one, else torch.hub's
convention, a file name ending in ``-<hex>.<suffix>`` whose sha256 must start with ``<hex>`` (mmdetection's URLs
carry 8 digits). A URL without either is downloaded unchecked. A mismatch or an unreachable URL raises
:class:`UserError` naming the URL (and the expected / actual hash). Google Drive files (hustvl/QueryInst's) cannot
be fetched by a program: the error says where to download the file and the exact cache path to save it under.

CLI::

    python -m querytrack.checkpoints.download --list     # the table
    python -m querytrack.checkpoints.download coco_r50   # fetch one (prints its path)
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from urllib.error import HTTPError, URLError

import torch.hub

from querytrack.checkpoints.compact import BUILTIN_PREFIX, resolve_checkpoint_path
from querytrack.checkpoints.registry import (
    ALIASES,
    REGISTRY,
    CheckpointEntry,
    get_entry,
    hash_prefix_of,
    url_filename,
)
from querytrack.core.cli import cli_main
from querytrack.core.errors import UserError
from querytrack.core.files import atomic_path, sha256_file

_URL_SCHEMES = ("http://", "https://")


def weights_dir(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """The folder downloads go to: ``cache_dir`` if given, else ``$QUERYTRACK_CACHE/weights``.

    ``$QUERYTRACK_CACHE`` defaults to ``~/.cache/querytrack``, the rule of
    ``querytrack.data.synthetic.default_cache_dir`` (not imported: ``checkpoints`` does not depend on ``data``; a
    test keeps the two equal).
    """
    if cache_dir is not None:
        return Path(cache_dir)
    return Path(os.environ.get("QUERYTRACK_CACHE", Path.home() / ".cache" / "querytrack")) / "weights"


def is_url(value: str) -> bool:
    """``value`` is an ``http(s)://`` URL."""
    return value.lower().startswith(_URL_SCHEMES)


def init_entry(value: str) -> CheckpointEntry | None:
    """The registry entry ``value`` designates: its name, an alias, its URL, or a path or URL ending in its file name.

    Lets the caller see that an ``init_checkpoint`` is a COCO QueryInst file (80 classes, backbone included),
    e.g. to skip the ImageNet backbone download and to pick the COCO class map.
    """
    if value.startswith(BUILTIN_PREFIX):
        return None
    if (entry := get_entry(value)) is not None:
        return entry
    name = url_filename(value) if is_url(value) else Path(value).name
    for entry in REGISTRY.values():
        if value == entry.url or name == entry.filename:
            return entry
    return None


def is_coco_init(value: str | None) -> bool:
    """``value`` names one of the official COCO QueryInst checkpoints (see :func:`init_entry`)."""
    return bool(value) and init_entry(str(value)) is not None


def download(
    url: str,
    dst: str | os.PathLike[str],
    expected_sha256: str | None = None,
    progress: bool = True,
) -> Path:
    """Download ``url`` to ``dst`` unless ``dst`` exists; check the sha256; never leave a partial or bad file.

    Args:
        url: an ``http(s)`` URL.
        dst: the cache file.
        expected_sha256: the full hex sha256 or a prefix of it; None: the prefix in ``url``'s file name, if any.
        progress: show torch.hub's progress bar on stderr.

    Returns:
        ``dst``.

    Raises:
        UserError: the URL cannot be reached or read (``url: cannot download (...)``), the file's sha256 does not
            match (``url: sha256 mismatch: expected ..., got ...``), or the cache folder cannot be written.
    """
    dst = Path(dst)
    if dst.is_file():
        return dst
    expected = (expected_sha256 or hash_prefix_of(url_filename(url)) or "").lower() or None
    # torch.hub writes to its own ``<tmp>.<uuid>.partial`` beside ``tmp`` and moves it there when complete;
    # atomic_path renames ``tmp`` to ``dst`` only after the hash check, so ``dst`` appears complete and checked, or
    # not at all.
    with atomic_path(dst) as tmp:
        try:
            torch.hub.download_url_to_file(url, str(tmp), hash_prefix=None, progress=progress)
        except HTTPError as e:
            raise UserError(url, f"cannot download (HTTP {e.code} {e.reason})") from None
        except URLError as e:
            raise UserError(url, f"cannot download ({_one_line(e.reason)})") from None
        except (OSError, ValueError) as e:  # connection reset mid-file, bad URL, disk full
            raise UserError(url, f"cannot download ({type(e).__name__}: {_one_line(e)})") from None
        if expected is not None:
            actual = sha256_file(tmp)
            if not actual.startswith(expected):
                raise UserError(
                    url, f"sha256 mismatch: expected {expected}, got {actual} (the download was deleted)"
                )
    return dst


def _one_line(reason: object) -> str:
    return " ".join(str(reason).split())


def _manual_error(entry: CheckpointEntry, dst: Path) -> UserError:
    return UserError(
        None,
        f"init checkpoint {entry.name} is on Google Drive and must be downloaded by hand: open {entry.url} in a "
        f"browser and save the file as {dst} (or pass init_checkpoint=/path/to/the/file.pth)",
    )


def resolve_init_checkpoint(
    value: str, cache_dir: str | os.PathLike[str] | None = None, progress: bool = True
) -> Path:
    """The local file for an ``init_checkpoint`` value, downloaded into the cache on first use.

    Args:
        value: ``builtin:NAME``, a registry name or alias, an ``http(s)`` URL, or a local path.
        cache_dir: the weights folder (default ``$QUERYTRACK_CACHE/weights``, see :func:`weights_dir`).
        progress: show a progress bar while downloading.

    Returns:
        An existing file.

    Raises:
        UserError: the file does not exist, a Google Drive file is not in the cache yet, or a download failed
            (see :func:`download`).
    """
    value = str(value)
    folder = weights_dir(cache_dir)
    if value.startswith(BUILTIN_PREFIX):
        path = resolve_checkpoint_path(value)
        if not path.is_file():
            raise UserError(path, f"no checkpoint {value!r} ships with the package")
        return path
    entry = get_entry(value)
    if entry is not None:
        dst = folder / entry.filename
        if dst.is_file():
            return dst
        if entry.manual:
            raise _manual_error(entry, dst)
        return download(entry.url, dst, entry.expected_sha256, progress)
    if is_url(value):
        name = url_filename(value)
        if not name:
            raise UserError(value, "the URL does not end in a file name")
        return download(value, folder / name, None, progress)
    path = Path(value).expanduser()
    if path.is_file():
        return path
    what = "is a folder, not a checkpoint file" if path.is_dir() else "init checkpoint not found"
    raise UserError(
        path,
        f"{what} (a file path, an http(s) URL, builtin:NAME or one of the names that "
        "python -m querytrack.checkpoints.download --list prints)",
    )


def format_table(cache_dir: str | os.PathLike[str] | None = None) -> str:
    """The registry as a text table, with whether each file is in the cache."""
    folder = weights_dir(cache_dir)
    alias_of = {v: k for k, v in ALIASES.items()}
    rows = [("name", "alias", "backbone", "queries", "box AP", "mask AP", "source", "cached")]
    for e in REGISTRY.values():
        source = "hustvl/QueryInst (Google Drive, by hand)" if e.manual else "open-mmlab/mmdetection"
        cached = "yes" if (folder / e.filename).is_file() else "no"
        ap = (f"{e.box_ap:.1f}", f"{e.mask_ap:.1f}")
        rows.append((e.name, alias_of.get(e.name, ""), e.backbone, str(e.num_queries), *ap, source, cached))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    lines.append(f"(COCO val2017 AP as published; cache: {folder})")
    return "\n".join(lines)


@cli_main("querytrack.checkpoints.download")
def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m querytrack.checkpoints.download",
        description="List the official COCO QueryInst checkpoints, or fetch one into the weights cache.",
    )
    p.add_argument("checkpoint", nargs="?", help="a name or alias from --list, or an http(s) URL")
    p.add_argument("--list", action="store_true", help="print the table of named checkpoints")
    p.add_argument("--cache-dir", default=None, help="weights folder (default $QUERYTRACK_CACHE/weights)")
    args = p.parse_args(argv)
    if args.list or not args.checkpoint:
        print(format_table(args.cache_dir))
        return 0
    if not (get_entry(args.checkpoint) or is_url(args.checkpoint)):
        raise UserError(
            None, f"unknown checkpoint {args.checkpoint!r}: use a name from --list or an http(s) URL"
        )
    print(resolve_init_checkpoint(args.checkpoint, args.cache_dir))
    return 0


if __name__ == "__main__":
    sys.exit(main())
