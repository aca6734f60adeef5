"""One mechanism turns a stage's parameter dataclass into CLI options and widget controls.

Each stage has a frozen parameter dataclass (``MotionParams``, ``SkeletonParams``...).
:func:`describe` reads its fields once — name, default, kind, choices and help text
(``field.metadata["help"]``, else the field's entry in the class docstring's
*Attributes*/*Parameters* section) — and both faces use that description:

- :func:`add_options` / :func:`overrides` give ``argparse`` options
  (``max_shifts`` → ``--max-shifts``) whose help is the same text, and return only
  the values the user actually typed (the dataclass keeps its own defaults);
- :mod:`napari_amnesia.napari.widgets._controls` builds magicgui controls named
  after the fields, so the console can do ``w.max_shifts.value = 10``.

What a user sets for their data is declared once per dataclass, in a class
attribute ``ESSENTIALS = {name: (plain label, units)}`` (for CNMF:
``"gSig": ("neuron radius", "px")``). Those fields are *essential*: the docks show
them first, with the plain label and units; every other field is *advanced* (a
collapsed section of the dock, still a control named after the field, still an
option of the CLI). A class without ``ESSENTIALS`` has only essential fields. A
field may also give ``metadata["label"]`` / ``metadata["units"]``. The CLI's
``--help`` shows the units too.

Nothing here imports a GUI toolkit.
"""

from __future__ import annotations

import argparse
import dataclasses
import re
from dataclasses import dataclass
from typing import Any

__all__ = ["Field", "describe", "add_options", "overrides", "parse_value"]


@dataclass(frozen=True)
class Field:
    """What the CLI and the widgets need to know about one parameter.

    Attributes
    ----------
    name : str
        The field's name (the control's name, the option ``--name``).
    default : object
    kind : {"bool", "int", "float", "str", "pair", "optional", "choice"}
    help : str
    choices : tuple
    label : str
        Plain words for the docks (``"neuron radius"``); empty: the name is shown.
    units : str
        Units of the value (``"px"``, ``"Hz"``, ``"s"``), or empty.
    essential : bool
        Shown in the dock's main section (else in its collapsed "Advanced" one).
    """

    name: str
    default: Any
    kind: str  # "bool", "int", "float", "str", "pair", "optional", "choice"
    help: str = ""
    choices: tuple = ()
    label: str = ""
    units: str = ""
    essential: bool = True

    @property
    def option(self) -> str:
        return "--" + self.name.replace("_", "-").lower()

    @property
    def display(self) -> str:
        """The dock's label: plain words and units (``"neuron radius (px)"``), or the name."""
        text = self.label or self.name
        return f"{text} ({self.units})" if self.units else text


def _docstring_entries(cls) -> dict[str, str]:
    """Return ``{name: description}`` from the numpydoc Attributes/Parameters sections."""
    doc = cls.__doc__ or ""
    entries: dict[str, str] = {}
    lines = doc.splitlines()
    in_section = False
    current = None
    for i, line in enumerate(lines):
        stripped = line.strip()
        if stripped in {"Attributes", "Parameters"} and i + 1 < len(lines) and set(
            lines[i + 1].strip()
        ) == {"-"}:
            in_section = True
            current = None
            continue
        if not in_section:
            continue
        if stripped and set(stripped) == {"-"}:
            continue
        if stripped and not line.startswith(" " * 8) and i + 1 < len(lines) and set(
            lines[i + 1].strip() or "x"
        ) == {"-"}:
            in_section = False  # the next section starts
            continue
        match = re.match(r"^\s{4}(\w+)\s*:\s*(.*)$", line)
        if match:
            current = match.group(1)
            entries[current] = ""
            entries[f"{current}:type"] = match.group(2)
        elif current and stripped:
            entries[current] = (entries[current] + " " + stripped).strip()
    return entries


def _choices_from_type(type_text: str) -> tuple:
    match = re.search(r"\{([^}]*)\}", type_text or "")
    if not match:
        return ()
    return tuple(v.strip().strip("'\"") for v in match.group(1).split(","))


def _nullable(f: dataclasses.Field) -> bool:
    """Return whether the field's annotation admits None (``float | None``, ``Optional[int]``)."""
    text = f.type if isinstance(f.type, str) else repr(f.type)
    return bool(re.search(r"\bNone\b|Optional\[", text))


def _essentials(cls) -> dict[str, tuple[str, str]] | None:
    """Return ``{name: (label, units)}`` of the class's ``ESSENTIALS`` (None: every field)."""
    declared = getattr(cls, "ESSENTIALS", None)
    if declared is None:
        return None
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(declared) - names)
    if unknown:
        raise TypeError(f"{cls.__name__}.ESSENTIALS names unknown field(s) "
                        f"{', '.join(map(repr, unknown))}.")
    out = {}
    for name, words in declared.items():
        label, units = (words, "") if isinstance(words, str) else tuple(words)
        out[name] = (label, units)
    return out


def describe(cls) -> list[Field]:
    """Return the parameters of dataclass ``cls``, in declaration order."""
    entries = _docstring_entries(cls)
    essentials = _essentials(cls)
    described = []
    for f in dataclasses.fields(cls):
        if not f.init or f.name.startswith("_"):
            continue
        if f.default is not dataclasses.MISSING:
            default = f.default
        elif f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
            default = f.default_factory()  # type: ignore[misc]
        else:
            default = None
        text = f.metadata.get("help") or entries.get(f.name, "")
        choices = tuple(f.metadata.get("choices", ())) or _choices_from_type(
            entries.get(f"{f.name}:type", "")
        )
        if choices:
            kind = "choice"
        elif isinstance(default, bool):
            kind = "bool"
        elif isinstance(default, (int, float)) and _nullable(f):
            kind = "optional"  # a number, or None ("none" / empty box)
        elif isinstance(default, int):
            kind = "int"
        elif isinstance(default, float):
            kind = "float"
        elif isinstance(default, str):
            kind = "str"
        elif isinstance(default, (tuple, list)) and len(default) == 2:
            kind = "pair"
        else:
            kind = "optional"
        label, units = (essentials or {}).get(f.name, ("", ""))
        described.append(Field(
            f.name, default, kind, " ".join(text.split()), choices,
            label=f.metadata.get("label", label), units=f.metadata.get("units", units),
            essential=essentials is None or f.name in essentials))
    return described


def parse_value(text: str, field: Field) -> Any:
    """Turn the text typed on the command line into a value for ``field``."""
    low = text.strip().lower()
    if field.kind == "choice":  # choices may be numbers (an AR order): the typed one
        for choice in field.choices:
            if str(choice).lower() == low:
                return choice
        return text
    if low in {"none", "null"} and (field.default is None or field.kind == "optional"):
        return None
    if low == "" and field.kind == "optional":
        return None
    if field.kind == "bool":
        if low in {"1", "true", "yes", "on"}:
            return True
        if low in {"0", "false", "no", "off"}:
            return False
        raise argparse.ArgumentTypeError(f"{field.option} takes true or false, got {text!r}")
    if field.kind == "pair":
        parts = [p for p in re.split(r"[,x\s]+", text.strip()) if p]
        if len(parts) == 1:
            parts = parts * 2
        if len(parts) != 2:
            raise argparse.ArgumentTypeError(
                f"{field.option} takes one number or two (rows,columns), got {text!r}"
            )
        cast = int if all(isinstance(v, int) for v in field.default) else float
        try:
            return tuple(cast(float(p)) if cast is int and float(p).is_integer() else float(p)
                         for p in parts)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{field.option} takes numbers, got {text!r}") from None
    if field.kind in {"int", "float", "optional"}:
        for cast in (int, float):
            try:
                value = cast(text)
            except ValueError:
                continue
            if field.kind == "float":
                return float(value)
            if field.kind == "int" and isinstance(value, float) and not value.is_integer():
                raise argparse.ArgumentTypeError(
                    f"{field.option} takes a whole number, got {text!r}")
            return int(value) if field.kind == "int" else value
        if field.kind == "optional":
            return text
        raise argparse.ArgumentTypeError(f"{field.option} takes a number, got {text!r}")
    return text


def add_options(parser, cls, *, title: str | None = None, skip: tuple[str, ...] = ()) -> None:
    """Add one ``--option`` per field of ``cls`` to ``parser`` (defaults left to ``cls``)."""
    group = parser.add_argument_group(title) if title else parser
    for field in describe(cls):
        if field.name in skip:
            continue
        shown = field.default if not isinstance(field.default, tuple) else ",".join(
            str(v) for v in field.default)
        help_text = field.help or field.name
        if field.label or field.units:
            help_text = f"{field.display}: {help_text}"
        help_text = f"{help_text} (default: {shown})".replace("%", "%%")
        kwargs: dict[str, Any] = {
            "dest": f"param_{field.name}",
            "default": argparse.SUPPRESS,  # absent unless typed: the dataclass default holds
            "help": help_text,
            "metavar": field.name.upper(),
            "type": lambda text, f=field: parse_value(text, f),
        }
        if field.kind == "choice":
            kwargs["metavar"] = "{" + ",".join(map(str, field.choices)) + "}"
        group.add_argument(field.option, **kwargs)


def overrides(args: argparse.Namespace, cls) -> dict[str, Any]:
    """Return the field values typed on the command line (only those), for ``cls(**...)``."""
    out = {}
    for field in describe(cls):
        if not hasattr(args, f"param_{field.name}"):
            continue
        value = getattr(args, f"param_{field.name}")
        if field.kind == "choice" and value not in field.choices:
            raise ValueError(
                f"{field.option} must be one of {', '.join(map(str, field.choices))}; "
                f"got {value!r}."
            )
        out[field.name] = value
    return out
