"""The shared bad-input mechanism (querytrack.core.cli): one-line errors, atomic outputs, the output-folder rule."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from querytrack.core.cli import cli_main
from querytrack.core.errors import UserError
from querytrack.core.files import atomic_path, check_outputs, output_folder, write_text_atomic
from tests.bad_input.helpers import small_gt, small_results, write


@cli_main("tool")
def _main(kind: str) -> int:
    if kind == "user":
        raise UserError("some/file.json", "video 3: what is wrong")
    if kind == "bug":
        raise KeyError("oops")
    if kind == "interrupt":
        raise KeyboardInterrupt
    return 0


@pytest.mark.parametrize(
    ("kind", "rc", "line"),
    [
        ("user", 1, "tool: some/file.json: video 3: what is wrong"),
        (
            "bug",
            3,
            "tool: internal error: KeyError: 'oops' (a bug; QUERYTRACK_TRACEBACK=1 shows the traceback)",
        ),
        ("interrupt", 130, "tool: interrupted"),
        ("ok", 0, None),
    ],
)
def test_cli_main(kind: str, rc: int, line: str | None, capsys: pytest.CaptureFixture[str]) -> None:
    assert _main(kind) == rc
    err = capsys.readouterr().err
    assert err == ("" if line is None else line + "\n")


_KILLED_TOOL = """
import sys, time
from querytrack.core.cli import cli_main
from querytrack.core.files import output_folder

@cli_main("tool")
def main(out):
    with output_folder(out) as work:
        (work / "half.txt").write_text("half")
        print("started", flush=True)
        time.sleep(60)
    return 0

sys.exit(main(sys.argv[1]))
"""


def test_sigterm_leaves_no_unfinished_output(tmp_path: Path) -> None:
    """A tool killed by SIGTERM (a scheduler, ``timeout``) runs its cleanups: no ``.NAME.partial<pid>`` folder,
    no output; one line and exit 143."""
    import signal

    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    proc = subprocess.Popen(
        [sys.executable, "-c", _KILLED_TOOL, str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        text=True,
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "started"
    assert [p.name for p in tmp_path.iterdir()] == [f".out.partial{proc.pid}"]
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 143 and err.strip() == "tool: terminated"
    assert list(tmp_path.iterdir()) == []


def test_traceback_on_request(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QUERYTRACK_TRACEBACK", "1")
    with pytest.raises(KeyError):
        _main("bug")


def test_atomic_path_keeps_the_old_file_on_failure(tmp_path: Path) -> None:
    out = tmp_path / "a.json"
    out.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(out) as tmp:
        tmp.write_text("half")
        raise RuntimeError("crash")
    assert out.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["a.json"]
    write_text_atomic("new", out)
    assert out.read_text() == "new" and [p.name for p in tmp_path.iterdir()] == ["a.json"]


def test_atomic_path_unwritable_folder(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("")
    with pytest.raises(UserError, match="cannot create the output folder"):
        write_text_atomic("x", tmp_path / "f" / "a.txt")


def test_check_outputs_resolves_links(tmp_path: Path) -> None:
    src = tmp_path / "in.json"
    src.write_text("{}")
    (tmp_path / "sub").mkdir()
    check_outputs([tmp_path / "out.json"], [src])
    with pytest.raises(UserError, match="would overwrite the input"):
        check_outputs([tmp_path / "sub" / ".." / "in.json"], [src])
    (tmp_path / "link.json").symlink_to(src)
    with pytest.raises(UserError, match="would overwrite the input"):
        check_outputs([tmp_path / "link.json"], [src])


def test_output_folder_rule(tmp_path: Path) -> None:
    out = tmp_path / "run"
    with output_folder(out) as work:
        (work / "a").write_text("1")
        assert not out.exists()
    assert (out / "a").read_text() == "1"
    with pytest.raises(UserError, match="not empty"), output_folder(out):
        pass
    with pytest.raises(RuntimeError), output_folder(out, overwrite=True) as work:
        (work / "b").write_text("2")
        raise RuntimeError("crash")
    assert [p.name for p in out.iterdir()] == ["a"]  # the earlier run, whole
    with output_folder(out, overwrite=True) as work:
        (work / "b").write_text("2")
    assert [p.name for p in out.iterdir()] == ["b"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def test_eval_on_garbage_rle_does_not_hang(tmp_path: Path) -> None:
    """The end-to-end hang guard: a real process, killed after a timeout if pycocotools ever saw the string."""
    gt = small_gt()
    res = small_results(gt)
    gt["annotations"][0]["segmentations"][
        next(t for t, s in enumerate(gt["annotations"][0]["segmentations"]) if s is not None)
    ]["counts"] = "\x7f\x7f!!"
    for r in res:
        for s in r["segmentations"]:
            if s is not None:
                s["counts"] = "zzzz"
    g, r = write(tmp_path / "gt.json", gt), write(tmp_path / "res.json", res)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    for argv in ([str(g), str(r)], [str(write(tmp_path / "ok.json", small_gt())), str(r)]):
        proc = subprocess.run(
            [sys.executable, "-m", "querytrack.score", *argv],
            capture_output=True,
            text=True,
            timeout=120,
            env=env,
        )
        assert proc.returncode == 1 and "Traceback" not in proc.stderr
        assert "RLE counts cannot be decoded" in proc.stderr or "rle_invalid" in proc.stderr
    assert json.loads(r.read_text()) == res


def test_synthetic_follows_the_output_folder_rule(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from querytrack.data.synthetic import main as synthetic_main

    (tmp_path / "notes.txt").write_text("keep me")
    argv = ["--out", str(tmp_path), "--num-train-videos", "1", "--num-valid-videos", "1"]
    assert (
        synthetic_main([*argv, "--height", "32", "--width", "48", "--min-frames", "2", "--max-frames", "2"])
        == 1
    )
    err = capsys.readouterr().err
    assert (
        err.startswith(f"querytrack-synthetic: {tmp_path}: output folder is not empty")
        and "Traceback" not in err
    )
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]
