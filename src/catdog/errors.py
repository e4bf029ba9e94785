"""Errors shared by every catdog command, and the one-line way the CLIs report them."""

from __future__ import annotations

import signal
import sys
import threading
from contextlib import contextmanager
from typing import Iterator


class CatdogError(Exception):
    """A problem the user can fix (bad path, bad option, missing extra): one line, exit 2."""

    exit_code = 2


class MissingExtraError(CatdogError):
    """An optional dependency group is not installed."""


def shorten_middle(text: str, *, limit: int = 200) -> str:
    """`text` on one line (whitespace runs collapsed), cut in the middle to at most `limit` characters.

    Library messages put the cause at either end: "Error when deserializing class 'X' using
    config={...}. Exception encountered: <the real cause>". Cutting the end would lose it, so the
    start and the end are both kept, joined by " ... ".
    """
    flat = " ".join(str(text).split())
    if len(flat) <= limit:
        return flat
    head = (limit - 5) * 2 // 5
    return f"{flat[:head].rstrip()} ... {flat[len(flat) - (limit - 5 - head):].lstrip()}"


def require_tensorflow():
    """Import and return TensorFlow, or raise one line naming the extra to install."""
    try:
        import tensorflow as tf
    except ImportError as error:
        raise MissingExtraError(f"TensorFlow is not installed ({error}): pip install 'catdog[train]'") from None
    return tf


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread so that a stop (systemctl, kill) cleans up exactly as Ctrl-C does."""

    exit_code = 128 + signal.SIGTERM  # 143, the shell's code for a process ended by SIGTERM


class ReportedInterrupt(KeyboardInterrupt):
    """Ctrl-C after the code it stopped has said what it kept and how to go on: no second "Interrupted." line."""


@contextmanager
def terminate_cleanly() -> Iterator[None]:
    """While inside, SIGTERM raises Terminated in the main thread; a second SIGTERM ends the process at once."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_sigterm(signum, frame):
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        raise Terminated()

    previous = signal.signal(signal.SIGTERM, on_sigterm)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextmanager
def exit_on_error() -> Iterator[None]:
    """Turn CatdogError into `Error: ...` on stderr and its exit code, Ctrl-C into exit 130, SIGTERM into 143."""
    try:
        yield
    except CatdogError as error:
        print(f"Error: {error}", file=sys.stderr)
        sys.exit(error.exit_code)
    except Terminated as error:
        print("Terminated.", file=sys.stderr)
        sys.exit(error.exit_code)
    except KeyboardInterrupt as error:
        if not isinstance(error, ReportedInterrupt):
            print("Interrupted.", file=sys.stderr)
        sys.exit(130)
