"""Files on the server: the private data directory, and each user's inbox and outbox.

The app never lets anyone browse the server's filesystem. A report is uploaded by its
name from a folder the user owns inside the data directory (``inbox/<username>/``,
filled over SFTP or by a scanner) or, for staff, from a scan folder the server's
administrator configured (``MEDITRACK_SCAN_DIRS``). A saved copy is written as a new file
into ``outbox/<username>/`` and never replaces one.

Every folder is opened without following symbolic links, and every file is checked with
``lstat`` and again with ``fstat`` on the open descriptor: symbolic links, hard links,
folders, devices, pipes and sockets are refused with a sentence saying why.
"""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from .errors import StoreUnavailable, ValidationError

#: what the permission bits of the data directory and its files may not include
OPEN_TO_OTHERS = 0o077
INBOX, OUTBOX = "inbox", "outbox"
MAX_NAME = 255


class TooOpen(StoreUnavailable):
    """The data directory or a file in it can be read by other accounts on the server."""

    title = "Data directory not private"


def ensure_private_dir(path: Path) -> Path:
    """Create ``path`` (and its parents) with the directory itself 0700; refuse a symlink."""
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        if exc.errno == errno.EROFS:
            why = "the disk is mounted read-only; check how it is mounted"
        elif exc.errno == errno.ENOSPC:
            why = "the disk is full; free some space"
        else:
            why = (f"{exc.strerror or exc}; check the permissions of the folders above it "
                   "for the account running MediTrack")
        raise StoreUnavailable(f"Cannot create the folder {path}: {why}.") from None
    info = os.lstat(path)
    if stat.S_ISLNK(info.st_mode) or not stat.S_ISDIR(info.st_mode):
        raise StoreUnavailable(f"{path} is not a plain folder (a symbolic link or a file is "
                               "in its place). Move it away and start MediTrack again.")
    return path


def check_private(data_dir: Path) -> None:
    """Refuse to run when the data directory, or a file or folder directly in it, is open
    to other accounts (group or others may read, write or enter it), naming the exact
    ``chmod`` that fixes it. A directory owned by another account is refused too."""
    try:
        info = os.stat(data_dir)
    except FileNotFoundError:
        return
    if info.st_uid != os.geteuid():
        raise TooOpen(f"The data directory {data_dir} belongs to another account (uid "
                      f"{info.st_uid}). Run MediTrack as the account that owns it.")
    if info.st_mode & OPEN_TO_OTHERS:
        raise TooOpen(
            f"The data directory {data_dir} can be read by other accounts on this server "
            f"(mode {stat.S_IMODE(info.st_mode):04o}), so every patient record would be "
            f"readable by them. MediTrack will not start until it is private: "
            f"chmod 700 {_quote(data_dir)}")
    loose = []
    with os.scandir(data_dir) as entries:
        for entry in entries:
            try:
                mode = entry.stat(follow_symlinks=False).st_mode
            except FileNotFoundError:
                continue  # removed meanwhile (e.g. a -shm file at close)
            if not stat.S_ISLNK(mode) and mode & OPEN_TO_OTHERS:
                loose.append((entry.path, stat.S_ISDIR(mode)))
    if loose:
        files = " ".join(_quote(p) for p, is_dir in loose if not is_dir)
        dirs = " ".join(_quote(p) for p, is_dir in loose if is_dir)
        fixes = " && ".join(f for f in (f"chmod 600 {files}" if files else "",
                                        f"chmod -R go-rwx {dirs}" if dirs else "") if f)
        raise TooOpen(f"Files in the data directory {data_dir} can be read by other accounts "
                      f"on this server. MediTrack will not start until they are private: "
                      f"{fixes}")


def _quote(path: str | Path) -> str:
    import shlex

    return shlex.quote(str(path))


# --- inbox, scan folders and outbox ---


@dataclass(frozen=True)
class Folder:
    """A folder a user may upload from (their inbox or a scan folder) or save into."""

    key: str     # "inbox", "outbox" or "scan:<n>"
    label: str   # for people: "Your inbox", "Scans: front-desk"
    path: Path


@dataclass(frozen=True)
class IncomingFile:
    """A file waiting in an upload folder; ``problem`` says why it cannot be uploaded."""

    folder: str
    name: str
    size: int
    modified: datetime
    problem: str | None = None


def user_folder(data_dir: Path, kind: str, username: str) -> Path:
    """``<data dir>/<inbox|outbox>/<username>``, created 0700 on first use."""
    if kind not in (INBOX, OUTBOX):
        raise ValueError(kind)
    if not username or "/" in username or username in (".", "..") or "\x00" in username:
        raise ValidationError({"file": "This account has no folder of its own."})
    ensure_private_dir(data_dir / kind)
    return ensure_private_dir(data_dir / kind / username)


def check_name(name: object) -> str:
    """A file name inside a folder: no path, no '..', no hidden file, no control character."""
    if not isinstance(name, str) or not name.strip():
        raise ValidationError({"file": "Choose a file from the list."})
    if ("/" in name or "\\" in name or name in (".", "..") or name.startswith(".")
            or len(name) > MAX_NAME or any(ord(ch) < 32 or ch == "\x7f" for ch in name)):
        raise ValidationError({"file": "Only a file directly inside your folder can be "
                                       "uploaded, by its name (no paths, no '..', no hidden "
                                       "files)."})
    return name


def file_problem(info: os.stat_result, max_bytes: int | None = None) -> str | None:
    """Why a file (its ``lstat``) may not be read from a user's folder, if it may not."""
    mode = info.st_mode
    if stat.S_ISLNK(mode):
        return "it is a symbolic link; copy the file itself into the folder"
    if stat.S_ISDIR(mode):
        return "it is a folder, not a file"
    if not stat.S_ISREG(mode):
        return "it is not a regular file (a device, pipe or socket)"
    if info.st_nlink > 1:
        return "it is a hard link to a file elsewhere; copy the file into the folder instead"
    if max_bytes is not None and info.st_size > max_bytes:
        return (f"it is {info.st_size / 1048576:.1f} MB; the limit is "
                f"{max_bytes / 1048576:.0f} MB")
    if info.st_size == 0:
        return "it is empty"
    return None


def _open_dir(folder: Path) -> int:
    try:
        return os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except FileNotFoundError:
        raise ValidationError({"file": f"The folder {folder} does not exist."}) from None
    except OSError as exc:
        raise ValidationError({"file": f"The folder {folder} cannot be opened "
                                       f"({exc.strerror or exc}); it must be a plain folder, "
                                       "not a symbolic link."}) from None


def list_files(folder: Folder, max_bytes: int | None = None) -> list[IncomingFile]:
    """The files directly in a folder (hidden ones left out), each with its problem if any."""
    dfd = _open_dir(folder.path)
    try:
        out = []
        for name in sorted(os.listdir(dfd)):
            if name.startswith("."):
                continue
            try:
                info = os.stat(name, dir_fd=dfd, follow_symlinks=False)
            except FileNotFoundError:
                continue
            if stat.S_ISDIR(info.st_mode):
                continue
            out.append(IncomingFile(folder.key, name, info.st_size,
                                    datetime.fromtimestamp(info.st_mtime).replace(microsecond=0),
                                    file_problem(info, max_bytes)))
        return out
    finally:
        os.close(dfd)


def read_file(folder: Folder, name: object, max_bytes: int) -> tuple[str, bytes]:
    """Read one file by name from a folder, refusing anything but a plain file in it."""
    name = check_name(name)
    dfd = _open_dir(folder.path)
    try:
        try:
            before = os.stat(name, dir_fd=dfd, follow_symlinks=False)
        except FileNotFoundError:
            raise ValidationError({"file": f"There is no file named {name} in "
                                           f"{folder.label.lower()}."}) from None
        problem = file_problem(before, max_bytes)
        if problem:
            raise ValidationError({"file": f"{name} cannot be uploaded: {problem}."})
        try:
            fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=dfd)
        except OSError as exc:
            raise ValidationError({"file": f"{name} cannot be read: "
                                           f"{exc.strerror or exc}."}) from None
        try:
            now = os.fstat(fd)
            if (now.st_dev, now.st_ino) != (before.st_dev, before.st_ino) or file_problem(
                    now, max_bytes):
                raise ValidationError({"file": f"{name} changed while it was being read; "
                                               "try again."})
            chunks, left = [], max_bytes + 1
            while left > 0:
                chunk = os.read(fd, min(left, 1 << 20))
                if not chunk:
                    break
                chunks.append(chunk)
                left -= len(chunk)
        finally:
            os.close(fd)
    finally:
        os.close(dfd)
    data = b"".join(chunks)
    if len(data) > max_bytes:
        raise ValidationError({"file": f"{name} grew past the {max_bytes / 1048576:.0f} MB "
                                       "limit while it was being read."})
    return name, data


def safe_name(filename: str) -> str:
    """A report's file name as a plain name for a new file (no path, not hidden)."""
    name = os.path.basename(filename.replace("\\", "/"))
    name = "".join(ch for ch in name if ord(ch) >= 32 and ch != "\x7f").strip().lstrip(".")
    return name[:200] or "report"


def write_new(folder: Path, filename: str, data: bytes) -> Path:
    """Write ``data`` as a NEW file in ``folder`` (0600); an existing name gets " (2)",
    " (3)", ... added, so nothing is ever replaced. Returns the path written."""
    name = safe_name(filename)
    stem, ext = os.path.splitext(name)
    dfd = _open_dir(folder)
    try:
        for n in range(1, 1000):
            candidate = name if n == 1 else f"{stem} ({n}){ext}"
            try:
                fd = os.open(candidate, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW,
                             0o600, dir_fd=dfd)
            except FileExistsError:
                continue
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view):]
                os.fsync(fd)
            except OSError as exc:
                os.close(fd)
                os.unlink(candidate, dir_fd=dfd)
                raise ValidationError({"file": f"The copy could not be written to {folder}: "
                                               f"{exc.strerror or exc}."}) from None
            os.close(fd)
            return folder / candidate
    finally:
        os.close(dfd)
    raise ValidationError({"file": f"{folder} already holds too many copies named {name}; "
                                   "move some away first."})
