"""A real full disk for tests: a small tmpfs mounted over a project's `.work/`, and a ballast file
that fills it to the last byte (and is removed to give the space back).

Mounting needs root (CI runs as root); elsewhere the tests that use it are skipped.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

BALLAST = ".ballast"


@contextlib.contextmanager
def tmpfs_over(directory: Path, size: str = "2m") -> Iterator[Path]:
    """Mount a tmpfs of ``size`` over ``directory``, carrying its files over; skips the test when
    this machine does not allow it.  Unmounted (lazily: a pane may still hold a file) on exit."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root")
    saved = directory.with_name(directory.name + ".saved")
    directory.mkdir(parents=True, exist_ok=True)
    directory.rename(saved)
    directory.mkdir()
    proc = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(directory)],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        directory.rmdir()
        saved.rename(directory)
        pytest.skip(f"cannot mount a tmpfs here: {proc.stderr.strip()}")
    try:
        shutil.copytree(saved, directory, dirs_exist_ok=True, symlinks=True)
        shutil.rmtree(saved)
        yield directory
    finally:
        subprocess.run(["umount", "-l", str(directory)], capture_output=True, check=False)


def fill(directory: Path, leave: int = 0) -> None:
    """Fill the file system of ``directory`` (then free ``leave`` bytes, rounded to pages)."""
    path = directory / BALLAST
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        for size in (65536, 4096, 512, 1):  # big blocks, then the last partial ones
            with contextlib.suppress(OSError):
                while os.write(fd, b"\0" * size):
                    pass
    finally:
        os.close(fd)
    if leave:
        os.truncate(path, max(0, os.path.getsize(path) - leave))


def free(directory: Path) -> None:
    """Give the space back."""
    with contextlib.suppress(FileNotFoundError):
        (directory / BALLAST).unlink()


def free_bytes(directory: Path) -> int:
    st = os.statvfs(directory)
    return st.f_bavail * st.f_frsize
