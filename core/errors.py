"""One root exception for the suite, one subclass per boundary.

Vendor errors are translated where they enter (``raise ... from e``) and every message says what
to do next, so a caller never has to read a traceback to fix its input.
"""

from __future__ import annotations


class GreenstackError(Exception):
    """Root of every error greenstack raises on purpose."""


class ConfigError(GreenstackError):
    """A setting is missing or invalid (zone, URL, path, parameter)."""


class UnknownZoneError(ConfigError):
    """A grid zone is unset or not in any intensity source; never replaced by a default."""


class EnergyBackendError(GreenstackError):
    """An energy counter exists but cannot be read as asked (permissions, vendor error)."""


class DataError(GreenstackError):
    """Input data is corrupt, has the wrong shape, holds NaN where values are required, etc."""


class LedgerError(GreenstackError):
    """The impact ledger cannot be opened, written or read."""


class GateError(GreenstackError):
    """A quality gate cannot compare two models fairly (mismatched benchmark, labels, shapes)."""


class ModelError(GreenstackError):
    """A model artifact is missing, incompatible or failed to load."""
