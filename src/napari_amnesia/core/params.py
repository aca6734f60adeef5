"""The shared behaviour of every stage's parameter dataclass.

A stage declares its parameters once, as a frozen dataclass inheriting
:class:`StageParams`, each field with ``metadata={"help": ..., "choices": ...}``.
The base gives it ``field_info``/``describe`` (the text the CLI and the widgets
show), ``replace`` and ``from_dict`` that refuse unknown names, ``to_dict`` for JSON
and provenance, and :meth:`StageParams.resolve` for the ``params=None | dict |
instance, **overrides`` calling convention of the stage functions.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from ._files import jsonable

__all__ = ["StageParams"]


class StageParams:
    """Mixin for frozen parameter dataclasses (see the module documentation)."""

    #: fields stored as tuples, turned back from the lists JSON gives
    _tuple_fields: tuple[str, ...] = ()

    @classmethod
    def field_info(cls, name: str) -> dict[str, Any]:
        """Default and metadata (``help``, ``choices``...) of one parameter."""
        for f in dataclasses.fields(cls):
            if f.name == name:
                return {"default": f.default, **f.metadata}
        raise KeyError(f"{cls.__name__} has no parameter {name!r}.")

    @classmethod
    def describe(cls) -> dict[str, dict[str, Any]]:
        """``{name: {"default", "help", ["choices"]...}}`` for every parameter."""
        return {f.name: cls.field_info(f.name) for f in dataclasses.fields(cls)}

    @classmethod
    def check_names(cls, values: Mapping[str, Any]) -> None:
        """Raise TypeError naming any key of ``values`` that is not a parameter."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise TypeError(
                f"unknown {cls.__name__} parameter(s) {', '.join(map(repr, unknown))}; "
                f"known: {', '.join(sorted(known))}."
            )

    def replace(self, **overrides: Any):
        """Return a copy with some parameters changed (validated; unknown names raise)."""
        type(self).check_names(overrides)
        return dataclasses.replace(self, **overrides)

    def to_dict(self) -> dict[str, Any]:
        """The parameters as a JSON-ready dict."""
        return {f.name: jsonable(getattr(self, f.name)) for f in dataclasses.fields(self)}

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]):
        """Build from a dict (as written by :meth:`to_dict`); unknown keys raise."""
        values = dict(values)
        cls.check_names(values)
        for name in cls._tuple_fields:
            if isinstance(values.get(name), list):
                values[name] = tuple(values[name])
        return cls(**values)

    @classmethod
    def resolve(cls, params: Any, overrides: Mapping[str, Any]):
        """``params`` (None, a dict or an instance) with ``overrides`` applied."""
        if params is None:
            params = cls()
        elif isinstance(params, Mapping):
            params = cls.from_dict(params)
        elif not isinstance(params, cls):
            raise TypeError(f"params should be a {cls.__name__}, a dict or None, "
                            f"got {type(params).__name__}.")
        return params.replace(**overrides) if overrides else params
