"""pgext: PostGIS, TimescaleDB and LISTEN/NOTIFY for the Piccolo ORM."""

from pgext.capabilities import Capabilities, ExtensionInfo
from pgext.engine import PgextEngine
from pgext.errors import (
    ExtensionError,
    ExtensionNotAvailable,
    ExtensionNotInstalled,
    ExtensionNotPreloaded,
    InvalidIdentifier,
    InvalidValue,
    LicenseError,
    PgextError,
)

__version__ = "0.1.0"

__all__ = [
    "Capabilities",
    "ExtensionError",
    "ExtensionInfo",
    "ExtensionNotAvailable",
    "ExtensionNotInstalled",
    "ExtensionNotPreloaded",
    "InvalidIdentifier",
    "InvalidValue",
    "LicenseError",
    "PgextEngine",
    "PgextError",
    "__version__",
]
