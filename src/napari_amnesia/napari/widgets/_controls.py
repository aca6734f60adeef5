"""magicgui controls generated from a stage's parameter dataclass.

Every control is named after its field and carries the field's help text as its
tooltip (see :mod:`napari_amnesia._fields`), so the widgets stay thin, their
tooltips match ``amnesia COMMAND --help``, and the console can set any parameter
by name (``w.max_shifts.value = 10``).

The essential fields (the dataclass's ``ESSENTIALS``) come first, labelled in plain
words with units (``"neuron radius (px)"``, the field's name in the tooltip); the
others follow an "Advanced settings" check box and stay hidden until it is
checked. They are still controls of the dock, named after their fields, so the
console and configs reach every parameter whether it is shown or not.
"""

from __future__ import annotations

from typing import Any

from magicgui.widgets import CheckBox, ComboBox, FloatSpinBox, LineEdit, SpinBox, TupleEdit

from ..._fields import Field, describe, parse_value

__all__ = ["controls_for", "values_of", "set_controls", "ADVANCED"]

#: name of the check box that shows a dock's advanced controls
ADVANCED = "advanced"


def _control(field: Field, value: Any):
    tooltip = f"{field.name}: {field.help}" if field.help else field.name
    common = {"name": field.name, "label": field.display, "tooltip": tooltip}
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


def _advanced_toggle(controls: list):
    """Return a check box that shows or hides ``controls`` (hidden at first)."""
    toggle = CheckBox(value=False, name=ADVANCED, text=f"Advanced settings ({len(controls)})",
                      tooltip="Show the other parameters (every one keeps its name: "
                              "w.<name>.value works whether it is shown or not).")
    toggle.controls = controls

    def shown(value: bool) -> None:
        for control in controls:
            control.visible = bool(value)

    for control in controls:
        control.visible = False
    toggle.changed.connect(shown)
    return toggle


def controls_for(cls, values: dict | None = None, *, skip: tuple[str, ...] = ()) -> list:
    """Make one magicgui control per field of ``cls`` (current values from ``values``).

    Returns
    -------
    list of magicgui widgets
        The essential fields' controls (in the order of ``cls.ESSENTIALS``), then,
        when ``cls`` has other fields, the "Advanced settings" check box (named
        ``"advanced"``) and their controls, hidden until it is checked.
    """
    values = dict(values or {})
    fields = [f for f in describe(cls) if f.name not in skip]
    order = list(getattr(cls, "ESSENTIALS", None) or ())
    essential = sorted((f for f in fields if f.essential),
                       key=lambda f: order.index(f.name) if f.name in order else len(order))
    controls = [_control(f, values.get(f.name, f.default)) for f in essential]
    advanced = [_control(f, values.get(f.name, f.default)) for f in fields if not f.essential]
    if advanced:
        controls += [_advanced_toggle(advanced), *advanced]
    return controls


def values_of(controls, cls) -> dict[str, Any]:
    """Return the field values the controls hold, ready for ``cls(**values)``."""
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


def set_controls(controls, values: dict) -> None:
    """Put parameter ``values`` (a ``to_dict()``) into the controls named after them."""
    for control in controls:
        if control.name not in values:
            continue
        value = values[control.name]
        kind = type(control).__name__
        if kind == "LineEdit":
            control.value = "none" if value is None else str(value)
        elif kind == "SpinBox":
            control.value = 0 if value is None else int(value)
        elif kind == "TupleEdit":
            control.value = tuple(value)
        else:
            control.value = value
