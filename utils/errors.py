"""The one exception type for user mistakes.

Command-line entry points catch :class:`UserError` and print its message as a single line
(no traceback), so every message must name the file, key or line and say what was expected.
"""

import sys
from collections.abc import Callable


class UserError(Exception):
    """A problem with the user's input (a path, a YAML key, a flag), not a bug in this code."""


def run_reporting_user_errors(action: Callable[[], object], exit_code: int = 2) -> int:
    """Run a command-line action: 0 on success; a :class:`UserError` is printed as one ``error: ...`` line on
    stderr (no traceback) and gives ``exit_code``."""
    try:
        action()
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return exit_code
    return 0
