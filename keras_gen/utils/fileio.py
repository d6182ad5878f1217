"""Atomic file writes: a reader (or a crash) never sees a half-written file; locks and version
numbers that concurrent processes on one machine share safely."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import re
import shutil
import tempfile
from pathlib import Path


def umask_mode(path: Path) -> int:
    """The mode ``open`` or ``mkdir`` would have given ``path`` under the current umask."""
    umask = os.umask(0)
    os.umask(umask)
    return (0o777 if path.is_dir() else 0o666) & ~umask


def readable_by_all(path: str | os.PathLike) -> None:
    """Give ``path`` (a file, or a directory tree) the modes the umask allows: temporary files
    and directories are created private, but a reader (TF Serving, a colleague) often runs as
    another user."""
    path = Path(path)
    for p in [path, *path.rglob("*")] if path.is_dir() else [path]:
        p.chmod(umask_mode(p))


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, *, suffix: str | None = None):
    """Yield a temporary path beside ``path``; rename it onto ``path`` if the block succeeds.

    The temporary file lives in the same directory so the final ``os.replace`` is atomic on POSIX.
    ``suffix`` defaults to the target's suffix (Keras checks that a ``.keras`` path ends in ``.keras``).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        prefix=f".{path.name}.", suffix=path.suffix if suffix is None else suffix, dir=path.parent
    )
    os.close(fd)
    try:
        yield Path(tmp)
        if os.path.exists(tmp):
            os.chmod(tmp, umask_mode(Path(tmp)))  # mkstemp creates it private (0600)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_json(path: str | os.PathLike, obj) -> None:
    write_text(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike):
    """Yield a temporary directory beside ``path``; rename it to ``path`` when the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        yield tmp
        tmp.chmod(umask_mode(tmp))  # mkdtemp creates it private (0700)
        os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def is_disk_full(err: BaseException) -> bool:
    """Whether ``err`` says the device is full (Python's OSError, or h5py's and TensorFlow's own)."""
    return getattr(err, "errno", None) == errno.ENOSPC or "No space left on device" in str(err)


@contextlib.contextmanager
def file_lock(path: str | os.PathLike):
    """An exclusive ``flock`` on ``path`` (created if missing) for the duration: processes on one
    machine that take the same lock run the block one at a time. Released when the process dies."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


VERSIONS_LOCK = ".versions.lock"
_STAGING = re.compile(r"^\.staging-(\d+)-")


def numbered_versions(directory: Path) -> list[int]:
    """The numeric sub-directory names of ``directory`` (TF Serving's version directories)."""
    if not directory.is_dir():
        return []
    return sorted(int(p.name) for p in directory.iterdir() if p.is_dir() and re.fullmatch(r"\d+", p.name))


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_staging(directory: Path) -> None:
    """Remove staging directories left by processes that died mid-write (killed exports)."""
    if not directory.is_dir():
        return
    for p in directory.iterdir():
        match = _STAGING.match(p.name)
        if match and p.is_dir() and not _process_alive(int(match.group(1))):
            shutil.rmtree(p, ignore_errors=True)


@contextlib.contextmanager
def new_version_dir(directory: str | os.PathLike):
    """Yield ``(staging_dir, final_path_holder)``: fill the hidden staging directory, and when the
    block succeeds it becomes the next numbered version of ``directory``.

    The number is claimed and the staging directory renamed under :data:`VERSIONS_LOCK`, so
    concurrent writers (several exports of one model, on one machine) each get their own version;
    a rename that still loses a race (a writer that does not take the lock) retries with the next
    number. Readers such as TF Serving only look at numeric names, so they never see a partial
    version; staging directories of dead processes are cleaned up by the next writer. The holder
    is a one-element list that receives the final path.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    remove_stale_staging(directory)
    staging = Path(tempfile.mkdtemp(prefix=f".staging-{os.getpid()}-", dir=directory))
    holder: list[Path] = []
    try:
        yield staging, holder
        staging.chmod(umask_mode(staging))  # mkdtemp creates it private (0700)
        # The lock file lives beside the model directory: its listing holds versions only.
        with file_lock(directory.parent / f".{directory.name}{VERSIONS_LOCK}"):
            version = (numbered_versions(directory) or [0])[-1] + 1
            while True:
                target = directory / str(version)
                try:
                    os.rename(staging, target)  # fails if target exists and is not empty
                    break
                except OSError as err:
                    if err.errno not in (errno.EEXIST, errno.ENOTEMPTY, errno.EISDIR):
                        raise
                    version += 1
        holder.append(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def display_path(location: str | os.PathLike) -> str:
    """``location`` relative to the working directory when it lies below it: results, reports and
    screenshots are shared, and an absolute path names the machine they were made on."""
    try:
        return str(Path(location).resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(location)
