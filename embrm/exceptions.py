"""Exceptions raised by embrm; each also inherits the standard one users already catch."""

from __future__ import annotations

from sklearn.exceptions import NotFittedError as _SklearnNotFittedError


class EmbrmError(Exception):
    """Base class of every embrm-specific error."""


class DataError(EmbrmError, ValueError):
    """Preference data is malformed: missing columns, empty sets, bad values."""


class DatasetNotFoundError(EmbrmError, FileNotFoundError):
    """A built-in data set's file is not in the data directory."""


class CacheCorruptError(EmbrmError, RuntimeError):
    """A cache shard or manifest failed its checksum or cannot be read."""


class EncoderMismatchError(EmbrmError, ValueError):
    """Embeddings come from a different encoder or dimension than a head was trained on."""


class NotFittedError(EmbrmError, _SklearnNotFittedError):
    """A head was used before ``fit``."""


class CacheWriteError(EmbrmError, OSError):
    """The cache directory cannot be written (read-only, full); nothing cached was lost."""


class OutputWriteError(EmbrmError, OSError):
    """An output file cannot be written (disk full, no permission); the old file, if any, is intact."""


class DataWarning(UserWarning):
    """Input that is probably a mistake but not an error: duplicates, empty texts, unused columns."""


class ModelLoadError(EmbrmError, OSError):
    """A model (e.g. a policy LM) cannot be found or loaded."""


class ServiceError(EmbrmError, RuntimeError):
    """The reward service could not be reached or answered with an error (its message kept)."""
