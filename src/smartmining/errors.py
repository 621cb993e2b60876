"""The project's error type: a message for the user that names the file or parameter and what is expected."""


class SmartMiningError(Exception):
    """A user-facing error; the CLI prints its message without a traceback and exits with status 2."""
