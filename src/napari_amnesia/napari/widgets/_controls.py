"""magicgui controls generated from a stage's parameter dataclass.

Every control is named after its field and carries the field's help text as its
tooltip (see :mod:`napari_amnesia._fields`), so the widgets stay thin, their
tooltips match ``amnesia COMMAND --help``, and the console can set any parameter
by name (``w.max_shifts.value = 10``).
"""

from __future__ import annotations

from typing import Any

from magicgui.widgets import CheckBox, ComboBox, FloatSpinBox, LineEdit, SpinBox, TupleEdit

from ..._fields import Field, describe, parse_value

__all__ = ["controls_for", "values_of"]


def _control(field: Field, value: Any):
    common = {"name": field.name, "label": field.name, "tooltip": field.help or None}
    if field.kind == "bool":
        return CheckBox(value=bool(value), **common)
    if field.kind == "choice":
        choices = list(field.choices)
        return ComboBox(value=value if value in choices else str(value), choices=choices,
                        **common)
    if field.kind == "int":
        return SpinBox(value=int(value), min=-(2**31), max=2**31 - 1, **common)
    if field.kind == "float":
        return FloatSpinBox(value=float(value), min=-1e9, max=1e9, step=0.1, **common)
    if field.kind == "pair":
        return TupleEdit(value=tuple(value), **common)
    text = "none" if value is None else str(value)
    return LineEdit(value=text, **common)


def controls_for(cls, values: dict | None = None, *, skip: tuple[str, ...] = ()) -> list:
    """One magicgui control per field of ``cls`` (current values from ``values``)."""
    values = dict(values or {})
    return [_control(f, values.get(f.name, f.default)) for f in describe(cls)
            if f.name not in skip]


def values_of(controls, cls) -> dict[str, Any]:
    """The field values the controls hold, ready for ``cls(**values)``."""
    fields = {f.name: f for f in describe(cls)}
    out = {}
    for control in controls:
        field = fields.get(control.name)
        if field is None:
            continue
        value = control.value
        if field.kind == "optional" or (field.kind == "str" and isinstance(value, str)):
            value = parse_value(str(value), field) if field.kind == "optional" else value
        elif field.kind == "pair":
            value = tuple(value)
        out[field.name] = value
    return out
