"""Patch size, components per patch and background rank chosen from the frame and the cell.

What a user knows about a recording is the size of its cells (``gSig``, about the
radius), its frame rate and its indicator. :func:`choose_sizes` turns the cell size
and the frame shape into the other settings of :class:`~.params.CNMFParams` that
CaImAn asks for — ``rf``, ``stride``, ``K`` and ``gnb`` — whenever they are left to
``"auto"`` (their default); a value set explicitly is kept exactly. The fit records
the choice, with one sentence per setting saying why, in ``result.info["sizes"]``
and logs it.

The rule
--------
With ``g = max(gSig)`` and the cell box ``d = 2 * ceil(g) + 1`` (a cell's diameter):

- **rf** (half-size of a patch) ``= ceil(4 g)``, at least 6: a patch is about
  four cell diameters wide, so that it holds tens of cells at cortical densities and
  its greedy search is cheap. A frame no larger than 1.5 patches along both axes is
  one patch (``rf=None``: the full CNMF runs on the whole frame). An explicit ``K``
  with ``rf`` left to auto keeps its meaning of the whole frame's components, so the
  frame is one patch too.
- **stride** (overlap of neighbouring patches) ``= d``, less than ``2 * rf``: a cell
  cut by one patch's border lies whole in its neighbour.
- **K** (components per patch, or of the whole frame) ``= ceil(PACKING * area / (pi
  gSig_y gSig_x))``, at least 4: the patch covered at :data:`PACKING` by disks of
  radius ``gSig``. When ``K`` is auto a patch whose greedy search still finds
  cells at its ``K``-th component searches again with twice ``K``, up to
  :data:`GROW_ROUNDS` times (:func:`grow_initialization`); the greedy search itself
  stops where the residual holds nothing above the noise, so ``K`` only bounds it.
- **gnb** (rank of the background) ``= 1 + ceil(sqrt(Y X) / 256)``, within [2, 4]:
  2 up to 256² (CaImAn's default), 3 up to 512², 4 beyond; larger fields hold more
  independent neuropil and illumination.

The constants were chosen on :mod:`napari_amnesia.core.simulate`'s two-photon
scenes at 128², 256² and 512² with cell radii from ``gSig`` to ``1.75 gSig``
(``gSig`` 3, 4 and 6), where they give the planted cells (see
``benchmarks/bench_cnmf_defaults.py``), and checked, not tuned, on the labelled
neurofinder quadrant.

Examples
--------
>>> sizes = choose_sizes((256, 256), (5, 5))
>>> [sizes[k]["value"] for k in ("rf", "stride", "K", "gnb")]
[20, 11, 11, 2]
>>> choose_sizes((48, 48), (4, 4))["rf"]["value"] is None   # small: one patch
True
>>> choose_sizes((256, 256), (5, 5), K=8)["rf"]["why"][:40]
'K=8 was given without rf: K counts the c'
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["AUTO", "SIZED", "PACKING", "GROW_ROUNDS", "choose_sizes", "is_auto",
           "grow_initialization", "describe_sizes"]

#: The value of a setting chosen by :func:`choose_sizes`.
AUTO = "auto"
#: The settings :func:`choose_sizes` may choose.
SIZED = ("rf", "stride", "K", "gnb")
#: Patch width in cell diameters (``2 rf = 2 * CELLS_ACROSS * gSig``).
CELLS_ACROSS = 4
#: Smallest automatic ``rf``.
MIN_RF = 6
#: Fraction of a patch covered by cells when it holds ``K`` of them (disks of radius gSig).
PACKING = 0.5
#: Smallest automatic ``K``.
MIN_K = 4
#: Times an automatic ``K`` may double in a patch whose greedy search reached it.
GROW_ROUNDS = 2


def is_auto(value: Any) -> bool:
    """Return whether ``value`` asks for an automatic choice (``"auto"``, any case)."""
    return isinstance(value, str) and value.strip().lower() == AUTO


def _side(dims: Sequence[int]) -> float:
    return math.sqrt(float(dims[0]) * float(dims[1]))


def choose_sizes(frame_shape: Sequence[int], gSig: float | Sequence[float], *,  # noqa: N803
                 rf: Any = AUTO, stride: Any = AUTO, K: Any = AUTO,  # noqa: N803
                 gnb: Any = AUTO) -> dict[str, dict[str, Any]]:
    """Choose ``rf``, ``stride``, ``K`` and ``gnb`` from the frame and the cell size.

    Parameters
    ----------
    frame_shape : (int, int)
        Rows and columns of a frame.
    gSig : float or (float, float)
        Cell radius in pixels (CaImAn's ``init.gSig``).
    rf, stride, K, gnb : int, None or "auto"
        Settings of :class:`~.params.CNMFParams`; only those left to ``"auto"`` are
        chosen (the rule is in the module documentation), the others are kept.

    Returns
    -------
    dict
        ``{name: {"value", "auto", "why"}}`` for ``rf``, ``stride``, ``K`` and
        ``gnb``: the value to use, whether it was chosen here, and one sentence
        saying why; and ``"grow_K"``, whether a patch that reaches ``K`` may search
        again with more (only for an automatic ``K``).
    """
    h, w = (int(v) for v in frame_shape[-2:])
    g = (float(gSig), float(gSig)) if isinstance(gSig, (int, float)) else \
        tuple(float(v) for v in gSig)
    big = max(g)
    box = int(2 * math.ceil(big) + 1)
    out: dict[str, Any] = {}

    # -- rf
    if not is_auto(rf):
        out["rf"] = {"value": rf, "auto": False, "why": "set by the user"}
    elif not is_auto(K):
        out["rf"] = {"value": None, "auto": True, "why": (
            f"K={K} was given without rf: K counts the components of the whole frame, "
            "which is one patch")}
    else:
        r = max(MIN_RF, int(math.ceil(CELLS_ACROSS * big)))
        if not is_auto(stride):
            r = max(r, int(stride) // 2 + 1)  # the overlap must be less than a patch
        if h <= 1.5 * 2 * r and w <= 1.5 * 2 * r:
            out["rf"] = {"value": None, "auto": True, "why": (
                f"the {h}x{w} frame is at most 1.5 patches of {2 * r} px (about "
                f"{CELLS_ACROSS} cell diameters of 2*gSig = {2 * big:g} px) along each "
                "axis: it is one patch")}
        else:
            out["rf"] = {"value": r, "auto": True, "why": (
                f"patches of 2*rf = {2 * r} px hold about {CELLS_ACROSS} cell diameters "
                f"(2*gSig = {2 * big:g} px) across")}
    rf_value = out["rf"]["value"]

    # -- stride
    if not is_auto(stride):
        out["stride"] = {"value": stride, "auto": False, "why": "set by the user"}
    else:
        s = box if rf_value is None else min(box, 2 * int(rf_value) - 1)
        out["stride"] = {"value": s, "auto": True, "why": (
            f"neighbouring patches overlap by a cell diameter (cell box {box} px), so a "
            "cell cut by one patch lies whole in the next"
            + ("; unused: one patch" if rf_value is None else ""))}

    # -- K
    if not is_auto(K):
        out["K"] = {"value": K, "auto": False, "why": "set by the user"}
    else:
        if rf_value is None:
            area, where = h * w, f"the {h}x{w} frame"
        else:
            side_y, side_x = min(h, 2 * int(rf_value)), min(w, 2 * int(rf_value))
            area, where = side_y * side_x, f"a {side_y}x{side_x} patch"
        k = max(MIN_K, int(math.ceil(PACKING * area / (math.pi * g[0] * g[1]))))
        out["K"] = {"value": k, "auto": True, "why": (
            f"{where} covered at {PACKING:.0%} by cells of radius gSig holds about {k}; "
            f"a patch whose search reaches K searches again with twice K (at most "
            f"{GROW_ROUNDS} times)")}

    # -- gnb
    if not is_auto(gnb):
        out["gnb"] = {"value": gnb, "auto": False, "why": "set by the user"}
    else:
        side = _side((h, w))
        n = min(4, max(2, 1 + int(math.ceil(side / 256))))
        out["gnb"] = {"value": n, "auto": True, "why": (
            f"background rank {n} for a field of {h}x{w} (2 up to 256², one more per "
            "256 px of side, at most 4)")}
    out["grow_K"] = bool(out["K"]["auto"])
    return out


def describe_sizes(sizes: dict[str, Any]) -> str:
    """One line per automatic setting, ``"rf=20: why"`` (for logs and reports).

    Examples
    --------
    >>> print(describe_sizes(choose_sizes((64, 64), (4, 4), rf=15, K=6)))
    ... # doctest: +NORMALIZE_WHITESPACE
    stride=9: neighbouring patches overlap by a cell diameter (cell box 9 px), so a cell
    cut by one patch lies whole in the next
    gnb=2: background rank 2 for a field of 64x64 (2 up to 256², one more per 256 px of
    side, at most 4)
    """
    return "\n".join(f"{name}={entry['value']}: {entry['why']}" for name, entry in
                     sizes.items() if isinstance(entry, dict) and entry.get("auto"))


def grow_initialization(initialize: Callable[[int], Any], K: int, *,  # noqa: N803
                        rounds: int = GROW_ROUNDS) -> tuple[Any, int]:
    """Run a greedy initialisation, doubling ``K`` while it finds ``K`` components.

    Parameters
    ----------
    initialize : callable
        ``initialize(K)`` returns an initialisation with a ``K`` attribute (the
        components found). The greedy search stops by itself where the residual
        holds nothing above the noise, so reaching ``K`` means that ``K`` stopped
        it: the patch may hold more cells.
    K : int
        The first number of components.
    rounds : int
        Most doublings (0: plain ``initialize(K)``).

    Returns
    -------
    init, K_max
        The last initialisation and the ``K`` it was allowed.

    Examples
    --------
    >>> class Found:
    ...     def __init__(self, K): self.K = min(K, 11)   # a patch holding 11 cells
    >>> init, k = grow_initialization(Found, 4)
    >>> init.K, k
    (11, 16)
    >>> grow_initialization(Found, 4, rounds=0)[0].K
    4
    """
    init = initialize(K)
    for _ in range(max(0, int(rounds))):
        if init.K < K:
            break
        K *= 2
        init = initialize(K)
    return init, K
