"""The project's own error type: the CLI prints it as one line and exits non-zero."""


class SentinelError(Exception):
    """A problem the user can fix: the message says what was expected, what arrived, what to do."""


class ConfigError(SentinelError):
    """A setting or configuration file is wrong."""


class DatabaseUnavailable(SentinelError):
    """The configured database cannot be reached or refused the connection."""


class StageSkipped(SentinelError):
    """Raised inside a stage that cannot run yet; recorded as 'skipped' with the reason."""
