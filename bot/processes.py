"""Who this process is among the processes sharing a database, and whether another one is gone."""

from __future__ import annotations

import os
import socket


def holder_id() -> str:
    """This process as a lease or claim holder: ``host:pid``."""
    return f"{socket.gethostname()}:{os.getpid()}"


def is_gone(holder: str) -> bool:
    """True for a holder that was a process of this machine and is no more (killed, crashed).

    A holder on another machine is never judged: only its lease running out frees what it held.
    """
    host, _, pid = holder.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, another user's
        return False
    return False
