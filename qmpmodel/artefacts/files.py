"""Writing output files: whole or not at all, with the permissions of any new file.

Every file qmpmodel writes (``--json``, ``--junit``, ``--sarif``, ``--out``
artefacts, reports, transcripts) goes through :func:`write_atomic`: a reader
never sees half a file, and the file gets mode ``0666 & ~umask`` (``0644``
under the usual umask 022) like a file any other tool creates; a
``tempfile.mkstemp`` file would stay ``0600``, unreadable to a CI artefact
uploader running as another user.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

__all__ = ["write_atomic"]


def write_atomic(path: str | os.PathLike[str], text: str, errors: str = "strict") -> Path:
    """Write ``text`` (UTF-8) to ``path`` through a temporary file in the same directory.

    Parent directories are created. Raises :class:`OSError` when the file
    cannot be written; the temporary file is then removed.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / f".{target.name}.{secrets.token_hex(4)}.tmp"
    # os.open applies the umask to 0o666 itself: no process-wide os.umask() dance
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", errors=errors) as f:
            f.write(text)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return target
