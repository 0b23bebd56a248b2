"""What ``meditrack`` says instead of starting the app where it cannot be used: an SSH
client asking the service account for a command or a file transfer, or no terminal to
draw on. Kept apart from deploy.py: every start of the app asks these questions, and this
module imports nothing the start-up does not already load."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from typing import TextIO

#: the service account ``meditrack deploy ssh`` proposes
DEFAULT_ACCOUNT = "meditrack"


def _account_name() -> str:
    """The account this process runs as (over SSH: the service account people reach)."""
    import pwd

    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        return DEFAULT_ACCOUNT


def ssh_command_refusal(account_hint: str | None = None) -> str:
    """What MediTrack says when an SSH client asked its forced command for a command, a
    file transfer or a subsystem instead of the app (``SSH_ORIGINAL_COMMAND`` is set)."""
    account_hint = account_hint or _account_name()
    return (f"This SSH account runs MediTrack only; it does not run commands or transfer "
            f"files. Connect with 'ssh -t {account_hint}@<server>' and log in inside "
            f"MediTrack; files go through 'sftp {account_hint}-<your username>@<server>'.")


def _is_terminal(stream: TextIO | None) -> bool:
    return stream is not None and not stream.closed and stream.isatty()


def no_terminal_refusal(environ: Mapping[str, str] | None = None,
                        stdin: TextIO | None = None,
                        stdout: TextIO | None = None) -> str | None:
    """The sentence when the app is asked to start with no terminal to draw on, else None.

    ``ssh -T`` (or a client that allocates no terminal) runs the ForceCommand with pipes
    instead of a terminal: the app would start, draw nowhere and wait until the client
    leaves. So would ``meditrack < file`` or ``meditrack | less`` on the server. A host
    that draws the app itself sets Textual's ``TEXTUAL_DRIVER`` (textual-serve's web
    driver talks to each browser session's process through pipes): that is not refused.
    """
    environ = os.environ if environ is None else environ
    if environ.get("TEXTUAL_DRIVER"):
        return None
    if _is_terminal(sys.stdin if stdin is None else stdin) and \
            _is_terminal(sys.stdout if stdout is None else stdout):
        return None
    if "SSH_CONNECTION" in environ:
        return (f"MediTrack needs a terminal: connect with 'ssh -t {_account_name()}@<server>' "
                "(without -T, and without a command), then log in inside MediTrack.")
    return ("MediTrack needs a terminal: start it in a terminal window, with neither its "
            "input nor its output redirected to a file or a pipe.")
