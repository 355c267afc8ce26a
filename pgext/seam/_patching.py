"""How the seam replaces a Piccolo attribute: once, keeping the original
reachable as ``__pgext_original__`` so a second install (or a test) finds
Piccolo's own function rather than wrapping a wrapper."""

from __future__ import annotations

from typing import Any


def original(function: Any) -> Any:
    """Piccolo's own function behind ``function`` (itself when not wrapped)."""
    return getattr(function, "__pgext_original__", function)


def is_wrapped(function: Any) -> bool:
    return getattr(function, "__pgext_original__", None) is not None


def _getter(owner: type, name: str) -> Any:
    """The original function behind the property ``owner.name``."""
    return original(vars(owner)[name].fget)


def _wrap_property(owner: type, name: str, wrapper: Any) -> None:
    """Replace the property ``owner.name`` by ``wrapper`` (once)."""
    if not is_wrapped(vars(owner)[name].fget):
        wrapper.__pgext_original__ = _getter(owner, name)
        setattr(owner, name, property(wrapper))


def _replace(owner: Any, name: str, wrapper: Any, replaced: Any) -> None:
    """Put ``wrapper`` at ``owner.name`` (a class or a module) in place of
    ``replaced``, which stays reachable as its ``__pgext_original__``."""
    wrapper.__pgext_original__ = replaced
    setattr(owner, name, wrapper)
