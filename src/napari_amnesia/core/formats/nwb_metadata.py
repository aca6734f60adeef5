"""The metadata of an NWB export: the YAML template a user fills, and its checks.

An NWB file describes the experiment as well as the data: who the subject was,
when the session started, which microscope, indicator and wavelengths were used.
None of that is in a results folder, so the user writes it once in a YAML file
(:func:`metadata_template` gives one with every field explained) and
:func:`read_metadata` checks it before any work: every missing or invalid field is
named in one message, with the file and the value found.

What is checked follows what DANDI and ``nwbinspector`` ask of a file: a session
start time with its time zone, a subject with an id, a species as a Latin binomial
(or an NCBI Taxonomy address), a sex among ``M``, ``F``, ``U``, ``O``, an age as an
ISO 8601 duration (or a date of birth); wavelengths in nanometres.
"""

from __future__ import annotations

import datetime as _dt
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["MetadataError", "metadata_template", "read_metadata", "check_metadata"]


class MetadataError(ValueError):
    """The NWB metadata (a YAML file or a dict) is missing fields or has bad values."""


_TEMPLATE = """\
# Metadata of an NWB export by napari-amnesia
#   amnesia export RESULTS --format nwb --metadata THIS_FILE --out session.nwb
#   napari_amnesia.core.formats.nwb.write_nwb(RESULTS, "session.nwb", metadata="THIS_FILE")
# Fill every field marked "required"; leave the others empty (or delete them).
# Dates and times are ISO 8601 with their time zone: 2026-01-31T14:05:00+01:00.

session:
  description:            # required: what was recorded, e.g. "2p imaging of V1 L2/3, gratings"
  start_time:             # required: when the recording started, with its time zone
  identifier:             # unique id of this file; empty: a new random UUID
  session_id:             # your lab's name of the session, e.g. mouse01_day3
  experimenter: []        # e.g. ["Curie, Marie"]
  lab:
  institution:
  experiment_description:
  keywords: []            # e.g. [calcium imaging, V1]

subject:
  subject_id:             # required: e.g. mouse01
  species:                # required: Latin binomial (Mus musculus) or an NCBI Taxonomy URL
  sex:                    # required: M, F, U (unknown) or O (other)
  age:                    # ISO 8601 duration: P90D = 90 days, P12W = 12 weeks (or date_of_birth)
  date_of_birth:          # e.g. 2025-11-02T00:00:00+01:00 (or age)
  genotype:
  strain:                 # e.g. C57BL/6J
  description:

device:
  name: Microscope        # required: the microscope (or miniscope)
  description:            # e.g. "resonant-scanning two-photon microscope, 16x objective"
  manufacturer:           # e.g. Thorlabs
  model:                  # e.g. Bergamo II

imaging:
  technique:              # required: two-photon or one-photon
  rate:                   # required: frames per second of the movie (Hz)
  indicator:              # required: e.g. GCaMP6f
  location:               # required: brain area, an Allen CCF name or acronym, e.g. VISp
  excitation_lambda:      # required: excitation wavelength in nm, e.g. 920
  emission_lambda:        # required: emission wavelength in nm, e.g. 510
  channel: green          # what the optical channel records
  description:            # of the imaging plane: depth, field of view...
  grid_spacing: []        # pixel size in micrometres, [row, column], e.g. [1.2, 1.2]
"""

#: section -> field -> (kind, required)
_FIELDS: dict[str, dict[str, tuple[str, bool]]] = {
    "session": {"description": ("text", True), "start_time": ("datetime", True),
                "identifier": ("text", False), "session_id": ("text", False),
                "experimenter": ("texts", False), "lab": ("text", False),
                "institution": ("text", False), "experiment_description": ("text", False),
                "keywords": ("texts", False)},
    "subject": {"subject_id": ("text", True), "species": ("species", True),
                "sex": ("sex", True), "age": ("age", False),
                "date_of_birth": ("datetime", False), "genotype": ("text", False),
                "strain": ("text", False), "description": ("text", False)},
    "device": {"name": ("text", True), "description": ("text", False),
               "manufacturer": ("text", False), "model": ("text", False)},
    "imaging": {"technique": ("technique", True), "rate": ("rate", True),
                "indicator": ("text", True), "location": ("text", True),
                "excitation_lambda": ("wavelength", True),
                "emission_lambda": ("wavelength", True), "channel": ("text", False),
                "description": ("text", False), "grid_spacing": ("spacing", False)},
}

_SEXES = ("M", "F", "U", "O")
_TECHNIQUES = {"two-photon": "two-photon", "two_photon": "two-photon", "2p": "two-photon",
               "one-photon": "one-photon", "one_photon": "one-photon", "1p": "one-photon"}
_AGE = re.compile(r"^P(?!$)(\d+(\.\d+)?Y)?(\d+(\.\d+)?M)?(\d+(\.\d+)?W)?(\d+(\.\d+)?D)?"
                  r"(T(?=\d)(\d+(\.\d+)?H)?(\d+(\.\d+)?M)?(\d+(\.\d+)?S)?)?$")
_SPECIES = re.compile(r"^[A-Z][a-z]+ [a-z]+( [a-z]+)?$")
_NCBI = "http://purl.obolibrary.org/obo/NCBITaxon_"


def metadata_template() -> str:
    """Return the YAML text of the NWB metadata, with every field explained.

    The user fills it and passes it to the NWB export
    (:func:`napari_amnesia.core.formats.nwb.write_nwb`, ``metadata=``). Fields
    marked *required* are empty: :func:`read_metadata` names those still empty.

    Returns
    -------
    str
        YAML with the sections ``session``, ``subject``, ``device`` and ``imaging``.

    Examples
    --------
    >>> import yaml
    >>> sorted(yaml.safe_load(metadata_template()))
    ['device', 'imaging', 'session', 'subject']
    """
    return _TEMPLATE


def read_metadata(path: str | os.PathLike) -> dict[str, dict[str, Any]]:
    """Read and check an NWB metadata YAML file (see :func:`metadata_template`).

    Parameters
    ----------
    path : path-like
        The YAML file.

    Returns
    -------
    dict
        ``{"session": {...}, "subject": {...}, "device": {...}, "imaging": {...}}``
        with every field of the template: empty ones are None (lists: empty),
        times are timezone-aware :class:`datetime.datetime`, numbers are floats,
        ``imaging["technique"]`` is ``"two-photon"`` or ``"one-photon"``.

    Raises
    ------
    FileNotFoundError
        When the file does not exist.
    MetadataError
        When it is not YAML, or fields are missing or invalid: one message names
        the file and every problem.
    """
    import yaml

    path = Path(os.path.expanduser(os.fspath(path)))
    if not path.is_file():
        raise FileNotFoundError(f"NWB metadata file {path} does not exist (write one with "
                                "metadata_template(): amnesia export --metadata-template).")
    try:
        values = yaml.safe_load(path.read_text())
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise MetadataError(f"{path} is not valid YAML: {exc}") from exc
    return check_metadata(values, source=str(path))


def check_metadata(values: Any, *, source: str = "NWB metadata") -> dict[str, dict[str, Any]]:
    """Check NWB metadata given as a mapping (the content of the YAML file).

    Parameters
    ----------
    values : mapping
        ``{section: {field: value}}`` as in :func:`metadata_template`.
    source : str
        What to call it in messages (the file's path).

    Returns
    -------
    dict
        As :func:`read_metadata`.

    Raises
    ------
    MetadataError
        Naming every missing or invalid field.

    Examples
    --------
    >>> check_metadata({"subject": {"sex": "male"}})
    Traceback (most recent call last):
    ...
    napari_amnesia.core.formats.nwb_metadata.MetadataError: NWB metadata: 13 problems:
    session.description is required; ... subject.sex should be one of M, F, U, O, got 'male'; ...
    """
    if values is None:
        values = {}
    if not isinstance(values, Mapping):
        raise MetadataError(f"{source} should hold the sections session, subject, device "
                            f"and imaging, got {type(values).__name__}.")
    problems: list[str] = []
    unknown = [str(k) for k in values if k not in _FIELDS]
    if unknown:
        problems.append(f"unknown section(s) {', '.join(unknown)} (known: "
                        f"{', '.join(_FIELDS)})")
    out: dict[str, dict[str, Any]] = {}
    for section, fields in _FIELDS.items():
        given = values.get(section)
        if given is None:
            given = {}
        if not isinstance(given, Mapping):
            problems.append(f"{section} should be a mapping of fields, got {given!r}")
            given = {}
        extra = [str(k) for k in given if k not in fields]
        if extra:
            problems.append(f"unknown field(s) {', '.join(f'{section}.{k}' for k in extra)} "
                            f"(known: {', '.join(fields)})")
        out[section] = {}
        for name, (kind, required) in fields.items():
            where = f"{section}.{name}"
            value = given.get(name)
            if _empty(value):
                if required:
                    problems.append(f"{where} is required")
                out[section][name] = [] if kind in ("texts", "spacing") else None
                continue
            try:
                out[section][name] = _CHECKS[kind](value)
            except ValueError as exc:
                problems.append(f"{where} {exc}, got {value!r}")
                out[section][name] = value
    subject = out["subject"]
    if subject["age"] is None and subject["date_of_birth"] is None:
        problems.append("subject.age or subject.date_of_birth is required")
    if problems:
        head = f"{source}: {len(problems)} problems: " if len(problems) > 1 else f"{source}: "
        raise MetadataError(head + "; ".join(problems) + ".")
    return out


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, (str, list, tuple)) and len(value) == 0)


def _text(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ValueError("should be text")
    return str(value).strip()


def _texts(value: Any) -> list[str]:
    if isinstance(value, (str, int, float)) and not isinstance(value, bool):
        return [str(value)]
    if not isinstance(value, (list, tuple)):
        raise ValueError("should be a list of text")
    return [_text(v) for v in value]


def _datetime(value: Any) -> _dt.datetime:
    if isinstance(value, _dt.datetime):
        moment = value
    elif isinstance(value, _dt.date):
        raise ValueError("should be a date and time with its time zone "
                         "(2026-01-31T14:05:00+01:00)")
    elif isinstance(value, str):
        try:
            moment = _dt.datetime.fromisoformat(value.strip())
        except ValueError:
            raise ValueError("should be an ISO 8601 date and time such as "
                             "2026-01-31T14:05:00+01:00") from None
    else:
        raise ValueError("should be an ISO 8601 date and time")
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("has no time zone: write it as 2026-01-31T14:05:00+01:00 "
                         "(or ...Z for UTC)")
    return moment


def _species(value: Any) -> str:
    text = _text(value)
    if not (_SPECIES.match(text) or text.startswith(_NCBI)):
        raise ValueError("should be a Latin binomial such as 'Mus musculus' or an NCBI "
                         f"Taxonomy URL ({_NCBI}10090)")
    return text


def _sex(value: Any) -> str:
    text = _text(value)
    if text not in _SEXES:
        raise ValueError(f"should be one of {', '.join(_SEXES)}")
    return text


def _age(value: Any) -> str:
    text = _text(value)
    if not _AGE.match(text.split("/")[0]):
        raise ValueError("should be an ISO 8601 duration such as P90D (90 days) or P12W")
    return text


def _technique(value: Any) -> str:
    text = _text(value).lower()
    if text not in _TECHNIQUES:
        raise ValueError("should be two-photon or one-photon")
    return _TECHNIQUES[text]


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError("should be a number")
    return float(value)


def _rate(value: Any) -> float:
    rate = _number(value)
    if not 0 < rate < 1e5:
        raise ValueError("should be the frame rate in Hz (a positive number)")
    return rate


def _wavelength(value: Any) -> float:
    nm = _number(value)
    if not 200 <= nm <= 2000:
        raise ValueError("should be in nanometres, between 200 and 2000")
    return nm


def _spacing(value: Any) -> list[float]:
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        raise ValueError("should be [row, column] pixel sizes in micrometres")
    sizes = [_number(v) for v in value]
    if min(sizes) <= 0:
        raise ValueError("should be positive pixel sizes in micrometres")
    return sizes


_CHECKS = {"text": _text, "texts": _texts, "datetime": _datetime, "species": _species,
           "sex": _sex, "age": _age, "technique": _technique, "rate": _rate,
           "wavelength": _wavelength, "spacing": _spacing}
