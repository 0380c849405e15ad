"""Replace a directory by another in one step, so that a kill at any moment leaves one of the two.

`loom init --clean` builds the new `.work/` beside the old one and only then puts it in place.  On
Linux the two directories trade places atomically (``renameat2`` with ``RENAME_EXCHANGE``): every
process sees the old state or the new one, and after a kill the loser of the swap sits at the
staging path, where the next `loom init` removes it.

Where that call is missing (another OS, an old kernel, a file system without it) two renames are
used: the old directory to ``<target>.old``, then the new one to ``<target>``.  A kill between the
two leaves no ``<target>``; `recover` (run by the next `loom init`) puts ``<target>.old`` back.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil

from loom_tui.core.fsutil import fsync_dir, write_boundary

OLD_SUFFIX = ".old"
_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


def _exchange(a: str, b: str) -> bool:
    """Swap the paths ``a`` and ``b`` atomically; False where the system cannot."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = [
        ctypes.c_int,
        ctypes.c_char_p,
        ctypes.c_int,
        ctypes.c_char_p,
        ctypes.c_uint,
    ]
    renameat2.restype = ctypes.c_int
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP):
        return False  # not on this kernel or file system: the two renames will do
    raise OSError(code, os.strerror(code), a)


def remove(path: str) -> None:
    """Delete ``path`` whatever it is (a folder, a file, a symbolic link), if it is there."""
    if os.path.islink(path) or os.path.isfile(path):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
    else:
        shutil.rmtree(path, ignore_errors=True)


def recover(target: str) -> None:
    """Undo a replacement that was killed between its two renames (see the module docstring):
    the previous directory goes back in place; a leftover beside a complete target is removed."""
    old = target + OLD_SUFFIX
    if not os.path.lexists(old):
        return
    if os.path.lexists(target):
        remove(old)
    else:
        os.rename(old, target)
        fsync_dir(os.path.dirname(target))


def replace_dir(staging: str, target: str) -> None:
    """Put the complete directory ``staging`` at ``target`` and delete what was there.

    ``staging`` must be on the same file system as ``target`` (beside it).  The previous contents
    are gone only once the new ones are in place.
    """
    parent = os.path.dirname(target)
    fsync_dir(staging)
    if not os.path.lexists(target):
        os.rename(staging, target)
        fsync_dir(parent)
        write_boundary()
        return
    if _exchange(staging, target):
        fsync_dir(parent)
        write_boundary()
        remove(staging)  # the previous state, now at the staging path
        return
    old = target + OLD_SUFFIX
    remove(old)
    os.rename(target, old)
    write_boundary()
    os.rename(staging, target)
    fsync_dir(parent)
    write_boundary()
    remove(old)
