"""The one exception type for user mistakes.

Command-line entry points catch :class:`UserError` and print its message as a single line
(no traceback), so every message must name the file, key or line and say what was expected.
"""


class UserError(Exception):
    """A problem with the user's input (a path, a YAML key, a flag), not a bug in this code."""
