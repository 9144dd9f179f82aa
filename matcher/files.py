"""Files written safely and fingerprinted: the one atomic-write helper and the one sha256 of a file.

Every output (model, ranking, report, export, encoder weights) is written to a
temporary file in the target folder and moved into place with ``os.replace``,
so a failed or interrupted write leaves any existing file as it was.
Temporary files of runs that were killed (``kill -9`` gives them no chance to
clean up) are removed by the next write to the same target.
"""
from __future__ import annotations

import contextlib
import glob
import hashlib
import os
import re
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any


def file_sha256(path: str | Path) -> str:
    """Hex sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _umask_mode() -> int:
    """The mode a new file gets from the user's umask (mkstemp would give 0600)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


#: When this process started (about): temporary files older than this belong to earlier runs.
_STARTED = time.time()


def _pid_alive(pid: int) -> bool:
    """Whether a process with this id is running (on this machine)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):  # someone else's process: alive
        return True
    return True


def _remove_orphans(folder: Path, name: str) -> None:
    """Remove the temporary files of earlier writes of ``name`` that were killed.

    A temporary file is ``.NAME.<pid>-<random>.tmp``. One is an orphan when it
    is older than this run (so it is not a file this process is writing) and
    the process that made it is gone (so it is not a concurrent run's file).
    """
    pattern = re.compile(re.escape(f".{name}.") + r"(?:(\d+)-)?[^/]*\.tmp$")
    try:
        candidates = list(folder.glob(f".{glob.escape(name)}.*.tmp"))
    except OSError:
        return
    for tmp in candidates:
        m = pattern.match(tmp.name)
        if m is None:
            continue
        try:
            if tmp.stat().st_mtime >= _STARTED:
                continue
            if m.group(1) is not None and _pid_alive(int(m.group(1))):
                continue
            tmp.unlink()
        except OSError:  # gone meanwhile, or not ours to remove: leave it
            continue


def _naming_target(exc: OSError, target: Path, tmp: str) -> OSError:
    """The error, naming the target file when it names none or only the temporary file.

    A full disk raises ``OSError(ENOSPC)`` from ``write`` with no file name;
    the message should say which file could not be written.
    """
    if exc.filename is None or str(exc.filename) == tmp:
        return OSError(exc.errno, exc.strerror or str(exc), str(target))
    return exc


@contextlib.contextmanager
def staged(path: str | Path, tmp_dir: str | Path | None = None) -> Iterator[Path]:
    """A temporary path beside ``path`` (or in ``tmp_dir``), moved into place only if the block succeeds.

    The moved file gets the mode the user's umask gives new files, like any
    other output. Errors without a file name (a full disk) name ``path``.
    """
    target = Path(path)
    folder = Path(tmp_dir) if tmp_dir is not None else target.parent
    folder.mkdir(parents=True, exist_ok=True)
    _remove_orphans(folder, target.name)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.{os.getpid()}-", suffix=".tmp", dir=folder)
    except OSError as exc:
        raise _naming_target(exc, target, "") from None
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, _umask_mode())
        os.replace(tmp, target)
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            named = _naming_target(exc, target, tmp)
            if named is not exc:
                raise named from None
        raise


@contextlib.contextmanager
def atomic_write(
    path: str | Path, mode: str = "wb", *, tmp_dir: str | Path | None = None, fsync: bool = True
) -> Iterator[IO[Any]]:
    """Write to a temporary file beside ``path``; move it into place only if the block succeeds.

    Parameters
    ----------
    path : str or Path
        The file to write (its folder is created if missing).
    mode : str, default "wb"
        ``open`` mode of the temporary file ("w" for UTF-8 text).
    tmp_dir : str or Path, optional
        Folder for the temporary file instead of the target's (same file system).
    fsync : bool, default True
        Flush the data to the disk before the move. Callers that verify what
        they read back (a sha256) can skip it.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "out.txt"
    >>> with atomic_write(target, "w") as fh:
    ...     _ = fh.write("done")
    >>> target.read_text()
    'done'
    """
    with staged(path, tmp_dir) as tmp:
        kwargs: dict[str, Any] = {} if "b" in mode else {"encoding": "utf-8"}
        with open(tmp, mode, **kwargs) as fh:
            yield fh
            fh.flush()
            if fsync:
                os.fsync(fh.fileno())
