"""The shared behaviour of every stage's parameter dataclass.

A stage declares its parameters once, as a frozen dataclass inheriting
:class:`StageParams`, each field with ``metadata={"help": ..., "choices": ...}``.
The base gives it ``field_info``/``describe`` (the text the CLI and the widgets
show), ``replace`` and ``from_dict`` that refuse unknown names, ``to_dict`` for JSON
and provenance, and :meth:`StageParams.resolve` for the ``params=None | dict |
instance, **overrides`` calling convention of the stage functions.

Examples
--------
>>> import dataclasses
>>> @dataclasses.dataclass(frozen=True)
... class BlurParams(StageParams):
...     sigma: float = dataclasses.field(default=1.0, metadata={"help": "Gaussian sigma."})
...     mode: str = dataclasses.field(
...         default="reflect", metadata={"help": "Edges.", "choices": ("reflect", "nearest")})
...
...     def __post_init__(self):
...         self._check_number("sigma", 0, strict=True)
...         self._check_choices()
>>> BlurParams.resolve(None, {"sigma": 2.0})
BlurParams(sigma=2.0, mode='reflect')
>>> params = BlurParams.resolve({"mode": "Nearest"}, {})  # a dict, as JSON gives it
>>> params.to_dict()
{'sigma': 1.0, 'mode': 'nearest'}
>>> BlurParams.from_dict(params.to_dict()) == params
True
>>> BlurParams.describe()["sigma"]
{'default': 1.0, 'help': 'Gaussian sigma.'}
>>> BlurParams(sigma=0)
Traceback (most recent call last):
...
ValueError: BlurParams.sigma should be a finite number in (0, inf], got 0.
>>> params.replace(size=3)
Traceback (most recent call last):
...
TypeError: unknown BlurParams parameter(s) 'size'; known: mode, sigma.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import numpy as np

from .files import jsonable

__all__ = ["StageParams"]


class StageParams:
    """Mixin for frozen parameter dataclasses (see the module documentation)."""

    #: fields stored as tuples, turned back from the lists JSON gives
    _tuple_fields: tuple[str, ...] = ()

    @classmethod
    def field_info(cls, name: str) -> dict[str, Any]:
        """Return the default and metadata (``help``, ``choices``...) of one parameter."""
        for f in dataclasses.fields(cls):
            if f.name == name:
                return {"default": f.default, **f.metadata}
        raise KeyError(f"{cls.__name__} has no parameter {name!r}.")

    @classmethod
    def describe(cls) -> dict[str, dict[str, Any]]:
        """Return ``{name: {"default", "help", ["choices"]...}}`` for every parameter."""
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
        """Return the parameters as a JSON-ready dict."""
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

    # -- validation helpers for __post_init__ --------------------------------------------
    def _invalid(self, name: str, expected: str) -> ValueError:
        """Return the error for a parameter.

        It names the class, the field, what was expected and what was got.
        """
        return ValueError(f"{type(self).__name__}.{name} should be {expected}, got "
                          f"{getattr(self, name)!r}.")

    def _check_choices(self) -> None:
        """Check every field with ``metadata["choices"]`` (strings).

        Each must hold one of its choices (in any case); it is stored lower-case.
        """
        for f in dataclasses.fields(self):
            options = f.metadata.get("choices")
            if options is None or not all(isinstance(o, str) for o in options):
                continue
            value = getattr(self, f.name)
            if not isinstance(value, str) or value.lower() not in options:
                raise self._invalid(f.name, "one of " + ", ".join(repr(o) for o in options))
            object.__setattr__(self, f.name, value.lower())

    def _check_integer(self, name: str, minimum: int, *, optional: bool = False) -> None:
        """Check that ``name`` is an integer >= ``minimum`` (or None when ``optional``).

        A bool is not accepted as an integer.
        """
        value = getattr(self, name)
        if optional and value is None:
            return
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) \
                or value < minimum:
            raise self._invalid(name, ("None or " if optional else "")
                                + f"an integer >= {minimum}")

    def _check_number(self, name: str, low: float = -np.inf, high: float = np.inf, *,
                      strict: bool = False, optional: bool = False) -> None:
        """Check that ``name`` is a finite number in ``[low, high]``.

        The interval is ``(low, high]`` when ``strict``; None is accepted when ``optional``.
        """
        value = getattr(self, name)
        if optional and value is None:
            return
        ok = isinstance(value, (int, float, np.number)) and not isinstance(value, bool)
        ok = ok and bool(np.isfinite(value)) and (value > low if strict else value >= low)
        if not ok or value > high:
            interval = ("" if np.isinf(low) and np.isinf(high) else
                        f" in {'(' if strict else '['}{low:g}, {high:g}]")
            raise self._invalid(name, ("None or " if optional else "")
                                + f"a finite number{interval}")

    def _check_bool(self, name: str) -> None:
        """Check that ``name`` is True or False (a numpy bool too)."""
        if not isinstance(getattr(self, name), (bool, np.bool_)):
            raise self._invalid(name, "True or False")

    @classmethod
    def resolve(cls, params: Any, overrides: Mapping[str, Any]):
        """Return ``params`` (None, a dict or an instance) with ``overrides`` applied."""
        if params is None:
            params = cls()
        elif isinstance(params, Mapping):
            params = cls.from_dict(params)
        elif not isinstance(params, cls):
            raise TypeError(f"params should be a {cls.__name__}, a dict or None, "
                            f"got {type(params).__name__}.")
        return params.replace(**overrides) if overrides else params
