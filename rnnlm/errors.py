"""The one exception family rnnlm raises for problems a user can cause.

The library raises these with an actionable, one-line message; only the CLI turns them into
exit codes (see ``rnnlm.cli.console``). Anything else that escapes is a bug.
"""


class RnnlmError(Exception):
    """Base class: a problem with the user's input, files or options."""


class CorpusError(RnnlmError):
    """A corpus is missing, unreadable, empty, binary, not UTF-8 or too short."""


class DownloadError(RnnlmError):
    """A named corpus could not be fetched or did not match its checksum."""


class CheckpointError(RnnlmError):
    """A checkpoint is missing, truncated, foreign, tampered with or from a future version."""


class ConfigError(RnnlmError):
    """An option value is out of range or options contradict each other.

    ``fields`` names the configuration fields the message mentions (in library terms, e.g.
    ``dropout``), so that a front end can name them its own way (the CLI: ``--dropout``).
    """

    def __init__(self, message: str, fields: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.fields = fields
