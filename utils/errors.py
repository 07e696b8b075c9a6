"""The one exception type for user mistakes.

Command-line entry points catch :class:`UserError` and print its message as a single line
(no traceback), so every message must name the file, key or line and say what was expected.
"""

import signal
import sys
import threading
from collections.abc import Callable


class UserError(Exception):
    """A problem with the user's input (a path, a YAML key, a flag), not a bug in this code."""


def run_reporting_user_errors(action: Callable[[], object], exit_code: int = 2) -> int:
    """Run a command-line action; return its exit code (an int it returns, else 0).

    A :class:`UserError` is printed as one ``error: ...`` line on stderr (no traceback) and gives ``exit_code``; so is
    an OS fault (a read-only folder, a full disk: the path and the cause, exit 1). Ctrl-C (SIGINT) and SIGTERM stop
    the action the same way: ``finally`` blocks run (temporary files are removed, loaders closed, last.pt stays as
    last written), one line says so, and the exit code is 130."""
    previous = signal.getsignal(signal.SIGTERM)
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _interrupt)
    try:
        result = action()
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return exit_code
    except KeyboardInterrupt:
        print("interrupted: stopped before the end (a training run resumes with --resume)", file=sys.stderr)
        return 130
    except OSError as error:
        print(f"error: {describe_os_error(error)}", file=sys.stderr)
        return 1
    finally:
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, previous)
    return result if isinstance(result, int) and not isinstance(result, bool) else 0


def describe_os_error(error: OSError) -> str:
    """``/path: Permission denied`` (the file and the system's reason), or the error's own text without a file."""
    if error.filename is not None and error.strerror:
        return f"{error.filename}: {error.strerror}"
    return str(error) or type(error).__name__


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")
