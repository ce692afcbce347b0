"""One run at a time on a home: an exclusive lock on ``$TRADEPIPE_HOME/run.lock``.

DuckDB lets one process write a file; a second run on the same home would otherwise fail in the
middle of a step on DuckDB's lock (and leave half-recorded state, such as a dbt build marked
``running``). A run takes this lock before its first step and keeps it to the end; a second run
fails at once with a message naming the holder. The lock is ``flock`` on an open file: the
operating system releases it when the holding process ends, however it ends, so a crashed run
never leaves a stale lock. Within one process the lock is re-entrant.
"""

import fcntl
import json
import os
import socket
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

LOCK_NAME = "run.lock"

_held: dict[str, list] = {}  # lock path -> [open file, depth]
_guard = threading.Lock()


class HomeLocked(RuntimeError):
    """Another process is running the pipeline on this home."""


def holder_of(home: Path) -> dict | None:
    """What the lock file says about its holder (None when it says nothing readable)."""
    try:
        return json.loads((home / LOCK_NAME).read_text() or "null")
    except (OSError, ValueError):
        return None


@contextmanager
def home_lock(home: Path, holder: str) -> Iterator[None]:
    """Hold the run lock of ``home`` for the block; raise HomeLocked at once when another process has it."""
    home.mkdir(parents=True, exist_ok=True)
    path = str((home / LOCK_NAME).resolve())
    with _guard:
        if path in _held:
            _held[path][1] += 1
        else:
            handle = open(path, "a+")
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.close()
                who = holder_of(home) or {}
                raise HomeLocked(
                    f"another run is using {home}: {who.get('holder', 'unknown holder')} "
                    f"(pid {who.get('pid', '?')} on {who.get('host', '?')}, since {who.get('since', '?')}, "
                    f"command: {who.get('command', '?')}). Wait for it to finish, or set TRADEPIPE_HOME "
                    f"to another folder.") from None
            handle.seek(0)
            handle.truncate()
            handle.write(json.dumps({"holder": holder, "pid": os.getpid(), "host": socket.gethostname(),
                                     "since": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                                     "command": " ".join(sys.argv)[:300]}))
            handle.flush()
            _held[path] = [handle, 1]
    try:
        yield
    finally:
        with _guard:
            _held[path][1] -= 1
            if _held[path][1] == 0:
                handle = _held.pop(path)[0]
                handle.seek(0)
                handle.truncate()
                fcntl.flock(handle, fcntl.LOCK_UN)
                handle.close()
