"""The one exception type that reaches the user as a single line, never a traceback."""


class UserError(Exception):
    """Something the user can fix: a missing file, a bad checkpoint, a wrong option.

    The message says what is wrong and what to do; the CLI prints it on one line and
    exits with status 2.
    """
