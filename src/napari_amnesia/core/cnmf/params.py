"""Parameters of CNMF source extraction: one frozen dataclass with CaImAn's names.

:class:`CNMFParams` is the single object shared by the library, the command line,
the napari widget, JSON files and the provenance of a
:class:`~.result.SourceResult`. Names are CaImAn's (Giovannucci et al. 2019) with
the same meaning wherever CaImAn has the parameter, so settings carry over; CaImAn
groups them (``data``, ``init``, ``patch``...), here they sit side by side.

Mapping to CaImAn
-----------------
=========================  ===============================  ===========================
napari-amnesia             CaImAn ``CNMFParams``            meaning
=========================  ===============================  ===========================
``fr``, ``decay_time``     ``data.fr``, ``data.decay_time`` frame rate, indicator decay
``rf``, ``stride``         ``patch.rf``, ``patch.stride``   patch half-size, overlap
``nb_patch``               ``patch.nb_patch``               background rank per patch
``only_init``              ``patch.only_init``              patches only initialise
``del_duplicates``         ``patch.del_duplicates``         drop border duplicates
``K``                      ``init.K``                       components (per patch)
``gSig``, ``gSiz``         ``init.gSig``, ``init.gSiz``     cell radius, cell box
``method_init``            ``init.method_init``             greedy_roi / sparse_nmf /
                                                            corr_pnr (CNMF-E)
``center_psf``             ``init.center_psf``              CNMF-E's centred filter
``min_corr``, ``min_pnr``  ``init.min_corr``, ``min_pnr``   CNMF-E seed thresholds
``ring_size_factor``       ``init.ring_size_factor``        ring radius / (gSiz / 2)
``ssub_B``                 ``init.ssub_B``                  ring model's grid
``mode``                   (CaImAn's 1p demo settings)      two_photon / one_photon
``nIter``                  ``init.nIter``                   rank-1 NMF iterations
``rolling_sum``            ``init.rolling_sum``             rolling energy for seeds
``rolling_length``         ``init.rolling_length``          its window (frames)
``ssub``, ``tsub``         ``init.ssub``, ``init.tsub``     downsampling for init
``maxIter``                ``init.maxIter``                 HALS iterations after init
``alpha_snmf``             ``init.alpha_snmf``              sparsity of sparse NMF
``gnb``                    ``init.nb``                      background rank
``p``                      ``preprocess.p``, ``temporal.p`` AR order (0 = no deconv.)
``noise_range``            ``preprocess.noise_range``       PSD band for the noise
``noise_method``           ``preprocess.noise_method``      PSD averaging
``lags``                   ``preprocess.lags``              autocovariance lags for g
``fudge_factor``           ``temporal.fudge_factor``        shrinkage of the AR root
``s_min``                  ``temporal.s_min``               smallest spike
``optimize_g``             ``temporal.optimize_g``          re-fit g in OASIS
``bas_nonneg``             ``temporal.bas_nonneg``          baseline >= 0
``ITER``                   ``temporal.ITER``                block-coordinate passes
``method_ls``              ``spatial.method_ls``            spatial regression
``nrgthr``, ``maxthr``     ``spatial.nrgthr``, ``maxthr``   footprint thresholding
``extract_cc``             ``spatial.extract_cc``           largest connected piece
``support_dilation``       (``spatial.dist``/``expandCore``) search region growth
``merge_thr``              ``merging.merge_thr``            trace correlation to merge
``do_merge``               ``merging.do_merge``             merge at all
``min_SNR``, ``SNR_lowest````quality.min_SNR``, ...          evaluation thresholds
``rval_thr``, ``rval_low..````quality.rval_thr``, ...         spatial-correlation thr.
``min_size``, ``max_size`` (none)                           footprint size limits (px)
``require_both``           (none; CaImAn: False)            SNR *and* r must pass
``joint_SNR``, ``joint_r..`` (none)                         weaker pair, both must pass
``max_width_ratio``        (none)                           wider than clear cells: out
``min_cell_probability``   (CaImAn: ``min_cnn_thr``)        shipped cell classifier
``anatomical``             (suite2p: anatomical mode)       silent somata of the mean
``quantile_min`` ...       ``detrend_df_f`` arguments       ΔF/F
=========================  ===============================  ===========================

One-photon preset
-----------------
``mode="one_photon"`` fills the settings of CaImAn's CNMF-E demo and of careful
CaImAn users (:data:`ONE_PHOTON`): ``method_init="corr_pnr"``, ``gnb=0`` (ring
background), ``nb_patch=0``, ``min_corr=0.7``, ``min_pnr=5`` (careful CaImAn users'
seed thresholds; the demo's 0.8 and 10 leave dim cells of a dense field unseeded),
``ssub_B=2``, ``merge_thr=0.7``, ``min_SNR=2`` (CaImAn's demo: 3, which rejected one
dim planted cell in five of a dense field), and two rules of its own for one-photon
evaluation: ``joint_SNR=1.3`` with ``joint_rval=0.6`` (a dim cell whose SNR and
r-value are both well above the background's is accepted) and ``max_width_ratio=1.3``
(a footprint wider than the clear cells is a blurred out-of-focus cell); ``gSiz``
left to None becomes ``4 * ceil(gSig) + 1`` and ``rf`` left to "auto" becomes 40
(stride 20; the whole frame when it is at most 80 pixels). A parameter given
explicitly (as a keyword, in a dict or on the command line) is never replaced by the
preset.

Result names differ from CaImAn's (see :mod:`.result`): ``footprints`` is ``A``,
``traces`` ``C``, ``spikes`` ``S``, ``residual_traces`` ``YrA``, ``background``
``(b, f)``, ``baseline`` ``bl``, ``dff`` ``F_dff``, ``snr`` ``SNR_comp``,
``r_values`` ``r_values``, ``accepted`` ``idx_components``.

References
----------
.. [1] Pnevmatikakis, E. A. et al. (2016). Simultaneous denoising, deconvolution, and
   demixing of calcium imaging data. Neuron 89, 285-299.
.. [2] Giovannucci, A. et al. (2019). CaImAn, an open source tool for scalable calcium
   imaging data analysis. eLife 8, e38173.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..params import StageParams
from .sizing import AUTO, SIZED, choose_sizes

__all__ = ["CNMFParams", "INIT_METHODS", "LS_METHODS", "MODES", "ONE_PHOTON"]

#: Values of ``method_init``.
INIT_METHODS = ("greedy_roi", "sparse_nmf", "corr_pnr")
#: Values of ``mode``.
MODES = ("two_photon", "one_photon")
#: What ``mode="one_photon"`` sets, unless given explicitly (CaImAn's CNMF-E demo).
ONE_PHOTON: dict[str, Any] = {
    "method_init": "corr_pnr", "center_psf": True, "gnb": 0, "nb_patch": 0,
    "min_corr": 0.7, "min_pnr": 5.0, "ssub_B": 2, "merge_thr": 0.7, "min_SNR": 2.0,
    "joint_SNR": 1.3, "joint_rval": 0.6, "max_width_ratio": 1.3,
}
#: ``rf`` and ``stride`` of the one-photon preset (CaImAn's CNMF-E demo).
ONE_PHOTON_PATCHES = (40, 20)
#: Names given explicitly to the constructor under way (the preset leaves them).
_EXPLICIT: ContextVar[frozenset] = ContextVar("cnmf_explicit", default=frozenset())
#: Values of ``method_ls``.
LS_METHODS = ("lasso_lars", "nnls")
#: Most frames the initialisation runs on (see :meth:`CNMFParams.init_tsub`).
MAX_INIT_FRAMES = 1000
#: Fewest frames the initialisation runs on (no temporal averaging below it).
MIN_INIT_FRAMES = 32


def _p(default: Any, help: str, **extra: Any) -> Any:
    return field(default=default, metadata={"help": help, **extra})


@dataclass(frozen=True)
class CNMFParams(StageParams):
    """Parameters of CNMF source extraction (frozen, validated on construction).

    Every field carries ``metadata["help"]`` (widget tooltip, CLI help) and, for
    choices, ``metadata["choices"]``. Lengths are pixels, pairs are ``(rows,
    columns)`` (a single number stands for both). Checks that need the movie's
    shape happen in :meth:`check_shape`, called by :func:`~napari_amnesia.core.cnmf.fit`.

    Examples
    --------
    >>> p = CNMFParams(rf=15, stride=10, K=6, gSig=4)
    >>> p.gSig, p.cell_box
    ((4.0, 4.0), (9, 9))
    >>> CNMFParams.from_dict(p.to_dict()) == p
    True
    """

    _tuple_fields = ("gSig", "gSiz", "noise_range")
    #: what a user sets for their data (the dock's main section): plain label, units
    ESSENTIALS = {
        "mode": ("imaging", ""),
        "gSig": ("neuron radius", "px"), "K": ("neurons per patch", ""),
        "rf": ("patch half-size", "px"), "stride": ("patch overlap", "px"),
        "fr": ("frame rate", "Hz"), "decay_time": ("decay time", "s"),
        "merge_thr": ("merge above correlation", ""),
        "min_SNR": ("accept if SNR ≥", ""), "rval_thr": ("accept if r ≥", ""),
        "require_both": ("SNR and r must both pass", ""),
        "SNR_lowest": ("reject if SNR ≤", ""), "rval_lowest": ("reject if r ≤", ""),
        "min_size": ("smallest ROI", "pixels"), "max_size": ("largest ROI", "pixels"),
    }

    mode: str = _p(
        "two_photon", "Imaging: 'two_photon' (greedy_roi seeds, low-rank background) or "
        "'one_photon' (CNMF-E for miniscopes: corr_pnr seeds, ring background; fills the "
        "preset ONE_PHOTON, explicit parameters win).", choices=MODES)
    # -- data
    fr: float = _p(30.0, "Frame rate of the movie in Hz (CaImAn data.fr).")
    decay_time: float = _p(
        0.4, "Decay time of the indicator's transients in seconds (CaImAn data.decay_time; "
        "about 0.4 for GCaMP6f, 1-2 for GCaMP6s). Sets the event length of the SNR test.")
    # -- patches
    rf: int | str | None = _p(
        "auto", "Half-size of a patch in pixels (CaImAn patch.rf): patches are 2*rf wide. "
        "'auto' (default) = about 4 cell diameters (4*gSig), or the whole frame when it is "
        "small (see core.cnmf.sizing); None processes the whole frame as one patch.")
    stride: int | str = _p(
        "auto", "Overlap of neighbouring patches in pixels (CaImAn patch.stride); keep it at "
        "least a cell diameter (gSiz) so each cell lies whole in one patch. Must be < 2*rf. "
        "'auto' (default) = the cell box gSiz.")
    nb_patch: int = _p(1, "Background components per patch (CaImAn patch.nb_patch).")
    only_init: bool = _p(
        True, "Patches only initialise (greedy/sparse NMF + HALS, at the rate of tsub); "
        "the spatial and temporal updates then run on the whole field (CaImAn "
        "patch.only_init). False runs the full CNMF in every patch first (slower).")
    del_duplicates: bool = _p(
        True, "Remove components found twice in overlapping patches (the copy farther "
        "from its patch's border is kept; CaImAn patch.del_duplicates).")
    # -- initialisation
    K: int | str = _p(
        "auto", "Number of components to look for, per patch when there are patches "
        "(CaImAn init.K). Extra components are not invented: the greedy search stops at "
        "the noise level and empty components are dropped. 'auto' (default) = what the "
        "patch holds at a cortical density of cells of radius gSig, doubled (at most twice) "
        "in a patch whose search reaches it; an explicit K is never exceeded (a warning "
        "says when it capped the count).")
    gSig: tuple[float, float] = _p(  # noqa: N815 - CaImAn's name
        (4.0, 4.0), "Expected half-size (Gaussian sigma) of a cell in pixels (CaImAn "
        "init.gSig); roughly the cell radius.")
    gSiz: tuple[int, int] | None = _p(  # noqa: N815 - CaImAn's name
        None, "Size of the box around a cell in pixels (CaImAn init.gSiz); None = "
        "2*ceil(gSig) + 1. Even values are increased by 1 (see cell_box).")
    method_init: str = _p(
        "greedy_roi", "Initialisation: 'greedy_roi' (somata: Gaussian-filtered energy "
        "peaks refined by rank-1 NMF), 'sparse_nmf' (dendrites, irregular shapes) or "
        "'corr_pnr' (one-photon, CNMF-E: seeds where correlation >= min_corr and PNR >= "
        "min_pnr, greedy, with a ring background).", choices=INIT_METHODS)
    center_psf: bool = _p(
        True, "corr_pnr: filter frames with a Gaussian minus its mean over its disk before "
        "the correlation and PNR images (removes the smooth one-photon background; CaImAn "
        "init.center_psf).")
    min_corr: float = _p(
        0.8, "corr_pnr: smallest local correlation of a seed pixel, in [0, 1] (CaImAn "
        "init.min_corr).")
    min_pnr: float = _p(
        7.0, "corr_pnr: smallest peak-to-noise ratio of a seed pixel, > 0 (CaImAn "
        "init.min_pnr).")
    ring_size_factor: float = _p(
        1.4, "Ring background (gnb=0 with corr_pnr): radius of the ring of pixels that "
        "predicts each pixel's background, as a multiple of gSiz/2, > 1 (CaImAn "
        "init.ring_size_factor).")
    ssub_B: int = _p(  # noqa: N815 - CaImAn's name
        2, "Ring background: spatial downsampling of the grid it is computed on (CaImAn "
        "init.ssub_B).")
    nIter: int = _p(5, "Rank-1 NMF iterations refining each greedy seed (CaImAn "  # noqa: N815
                    "init.nIter).")
    rolling_sum: bool = _p(
        True, "Pick greedy seeds from the largest energy over a rolling window of "
        "rolling_length frames instead of the whole movie: finds cells that fire rarely "
        "(CaImAn init.rolling_sum).")
    rolling_length: int = _p(100, "Window of the rolling energy in frames (CaImAn "
                             "init.rolling_length).")
    ssub: int = _p(1, "Spatial downsampling factor used during initialisation only "
                   "(CaImAn init.ssub).")
    tsub: int = _p(2, "Temporal downsampling factor used during initialisation only "
                   "(CaImAn init.tsub): the seeds are searched on the movie averaged over "
                   "blocks of tsub frames, then refined at full rate. Long movies use a "
                   "larger factor so that the initialisation sees at most 1000 frames "
                   "(see init_tsub).")
    maxIter: int = _p(5, "HALS iterations refining the initialisation (CaImAn "  # noqa: N815
                      "init.maxIter).")
    alpha_snmf: float = _p(
        1.0, "Sparsity of the footprints in 'sparse_nmf' initialisation: values below "
        "alpha_snmf times their standard error are zeroed (CaImAn init.alpha_snmf, "
        "here relative to the noise).")
    gnb: int | str = _p(
        "auto", "Rank of the background (CaImAn init.nb); 0 = no background (data "
        "already background-subtracted), or with corr_pnr the ring background (CNMF-E). "
        "'auto' (default) = 2 up to 256x256 pixels, one more per 256 px of side, at most 4.")
    seed: int = _p(0, "Seed of the random start of 'sparse_nmf'.")
    # -- noise and deconvolution
    p: int = _p(1, "Order of the autoregressive calcium model (CaImAn preprocess.p): "
                "0 = no deconvolution (traces are the non-negative raw projections), "
                "1 = decay only, 2 = rise and decay.", choices=(0, 1, 2))
    noise_range: tuple[float, float] = _p(
        (0.25, 0.5), "Band of the power spectrum, as fractions of the sampling rate, "
        "where only noise is expected (CaImAn preprocess.noise_range).")
    noise_method: str = _p(
        "logmexp", "Averaging of the PSD over noise_range: 'mean', 'median' or 'logmexp' "
        "(CaImAn preprocess.noise_method).", choices=("mean", "median", "logmexp"))
    lags: int = _p(5, "Autocovariance lags used to estimate the AR coefficients (CaImAn "
                   "preprocess.lags).")
    fudge_factor: float = _p(
        0.96, "Shrinkage of the estimated AR decay (0 < fudge_factor <= 1; CaImAn "
        "temporal.fudge_factor) against noise-biased long decays.")
    s_min: float | None = _p(
        None, "Smallest spike kept by the deconvolution (CaImAn temporal.s_min); None "
        "or 0 = no minimum; negative = that many noise levels.")
    optimize_g: int = _p(0, "Number of large isolated events used to re-fit the AR "
                         "coefficients inside OASIS (CaImAn temporal.optimize_g); 0 = no.")
    bas_nonneg: bool = _p(True, "Constrain each trace's baseline to be >= 0 (CaImAn "
                          "temporal.bas_nonneg).")
    ITER: int = _p(2, "Block-coordinate passes of the temporal update (CaImAn "
                   "temporal.ITER).")
    # -- spatial update
    method_ls: str = _p(
        "lasso_lars", "Per-pixel regression of the spatial update: 'lasso_lars' (sparsest "
        "non-negative fit whose residual reaches the pixel's noise level sn^2 T, as CaImAn's "
        "LARS) or 'nnls' (plain non-negative least squares).", choices=LS_METHODS)
    support_dilation: int = _p(
        3, "Pixels by which each footprint's support is grown to give the region its "
        "spatial update may use (CaImAn's dilated search region).")
    nrgthr: float = _p(
        0.9999, "Footprint thresholding: keep the largest pixels holding this fraction of "
        "the footprint's energy (CaImAn spatial.nrgthr).")
    maxthr: float = _p(
        0.1, "Footprint thresholding: drop pixels below this fraction of the footprint's "
        "maximum (CaImAn spatial.maxthr).")
    extract_cc: bool = _p(True, "Keep only the largest connected piece of each footprint "
                          "(CaImAn spatial.extract_cc).")
    # -- merging
    do_merge: bool = _p(True, "Merge overlapping components with correlated traces "
                        "(CaImAn merging.do_merge).")
    merge_thr: float = _p(
        0.85, "Correlation of traces above which spatially overlapping components are "
        "merged, in (0, 1] (CaImAn merging.merge_thr).")
    # -- evaluation
    evaluate: bool = _p(True, "Compute the quality metrics (SNR, spatial correlation) and "
                        "the accepted mask at the end of the fit.")
    min_SNR: float = _p(2.5, "Event SNR above which a component is accepted (CaImAn "  # noqa: N815
                        "quality.min_SNR).")
    SNR_lowest: float = _p(0.5, "Event SNR below which a component is always rejected "  # noqa: N815
                           "(CaImAn quality.SNR_lowest).")
    rval_thr: float = _p(0.85, "Spatial correlation above which a component is accepted "
                         "(CaImAn quality.rval_thr).")
    rval_lowest: float = _p(-1.0, "Spatial correlation below which a component is always "
                            "rejected (CaImAn quality.rval_lowest).")
    min_size: int | None = _p(None, "Smallest footprint, in pixels, of an accepted "
                              "component (None = no limit).")
    max_size: int | None = _p(None, "Largest footprint, in pixels, of an accepted "
                              "component (None = no limit).")
    require_both: bool = _p(
        False, "Accept a component only when both its event SNR reaches min_SNR and its "
        "spatial correlation reaches rval_thr. False (the default, CaImAn's rule): either "
        "one is enough, so a high r-value alone accepts a component whatever its SNR.")
    joint_SNR: float | None = _p(  # noqa: N815
        None, "With joint_rval (both or neither): also accept a component whose event SNR "
        "reaches joint_SNR and whose spatial correlation reaches joint_rval together (a "
        "weaker pair than min_SNR / rval_thr, for dim cells that pass neither alone; the "
        "one-photon preset sets 1.3 and 0.6). None: no such pair (CaImAn's rule).",
        label="or accept if SNR ≥")
    joint_rval: float | None = _p(
        None, "With joint_SNR: the spatial correlation that, together with an SNR of at "
        "least joint_SNR, accepts a component. None: no such pair.",
        label="together with r ≥")
    max_width_ratio: float | None = _p(
        None, "Reject a component whose footprint is wider (RMS distance of its weight from "
        "its centre) than this multiple of the median width of the clear cells (SNR >= "
        "min_SNR and r >= rval_thr): blurred out-of-focus cells and background patches "
        "are wider than the somata in focus (the one-photon preset sets 1.3). None: no "
        "width limit.", label="reject if wider than", units="× clear cells")
    min_cell_probability: float | str | None = _p(
        "auto", "Also require the shipped cell classifier's probability (shape, dark nucleus, "
        "brightness, fit to the correlation image, skewness, decay shape, overlap, neuropil; "
        "trained on simulated cells against spurious components, core.cnmf.classifier) to "
        "reach this value, in [0, 1]; 'auto' = the classifier's own cut, which keeps 99 % "
        "of the planted cells of its training scenes (the default; two-photon only: "
        "one-photon results are not judged by it). None: the SNR and r-value rule alone, "
        "as CaImAn. Silent cells of the mean image (anatomical) are not judged by it.")
    anatomical: bool = _p(
        False, "Also propose the somata of the mean image that no component covers "
        "(filled or dark-nucleus rings: cells silent during the recording) as anatomical "
        "components with their traces, marked as such (core.cnmf.anatomical; suite2p's "
        "anatomical mode without cellpose).")
    # -- ΔF/F
    compute_dff: bool = _p(True, "Compute ΔF/F (detrend_df_f) at the end of the fit.")
    quantile_min: float = _p(8.0, "Percentile of the running baseline of ΔF/F "
                             "(detrend_df_f quantileMin).")
    frames_window: int = _p(500, "Window of the running baseline of ΔF/F in frames "
                            "(detrend_df_f frames_window).")
    flag_auto: bool = _p(True, "Choose the baseline percentile per trace automatically "
                         "(detrend_df_f flag_auto).")
    use_residuals: bool = _p(True, "Add the residual traces to the traces for ΔF/F "
                             "(detrend_df_f use_residuals).")
    detrend_only: bool = _p(False, "Only subtract the running baseline, without dividing "
                            "(detrend_df_f detrend_only).")
    # -- engine
    chunk_frames: int | None = _p(
        None, "Frames per time chunk when the movie is streamed for the whole-field "
        "products; None picks about 64 MB of float32.")
    max_in_memory_mb: float = _p(
        2048.0, "The fit reads the movie once into memory when its float32 copy is "
        "smaller than this many MB (an 8- or 16-bit integer movie is held in its own "
        "type, half or a quarter of that); larger movies are never read whole: patches read "
        "bands of rows and the whole-field updates stream time chunks.")

    def __post_init__(self) -> None:  # noqa: C901 - one check per parameter
        """Check every parameter (a ValueError names the bad one) and normalise pairs."""
        s = object.__setattr__
        name = type(self).__name__
        if isinstance(self.mode, str) and self.mode.strip().lower() == "one_photon":
            self._apply_preset()

        def bad(field_name: str, expected: str, value: Any = None) -> ValueError:
            v = getattr(self, field_name) if value is None else value
            return ValueError(f"{name}.{field_name} should be {expected}, got {v!r}.")

        def integer(field_name: str, minimum: int, *, optional: bool = False) -> None:
            v = getattr(self, field_name)
            if optional and v is None:
                return
            ok = isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))
            if not ok and isinstance(v, (float, np.floating)) and float(v).is_integer():
                v, ok = int(v), True
            if not ok or v < minimum:
                raise bad(field_name, ("None or " if optional else "")
                          + f"an integer >= {minimum}")
            s(self, field_name, int(v))

        def number(field_name: str, low: float = -math.inf, high: float = math.inf, *,
                   low_open: bool = False, optional: bool = False) -> None:
            v = getattr(self, field_name)
            if optional and v is None:
                return
            ok = isinstance(v, (int, float, np.number)) and not isinstance(v, (bool, np.bool_))
            ok = ok and math.isfinite(float(v))
            ok = ok and (float(v) > low if low_open else float(v) >= low) and float(v) <= high
            if not ok:
                lo = "(" if low_open else "["
                raise bad(field_name, ("None or " if optional else "")
                          + f"a number in {lo}{low:g}, {high:g}]")
            s(self, field_name, float(v))

        def flag(field_name: str) -> None:
            v = getattr(self, field_name)
            if not isinstance(v, (bool, np.bool_)):
                raise bad(field_name, "True or False")
            s(self, field_name, bool(v))

        for f in dataclasses.fields(self):
            options = f.metadata.get("choices")
            if options is not None and f.name != "p":
                v = getattr(self, f.name)
                if not isinstance(v, str) or v.lower() not in options:
                    raise bad(f.name, "one of " + ", ".join(repr(o) for o in options))
                s(self, f.name, v.lower())

        def sized(field_name: str, minimum: int, *, optional: bool = False) -> None:
            # "auto" (chosen from the frame and gSig: core.cnmf.sizing) or an integer;
            # the text the command line and the docks give ("15", "none") is read
            v = getattr(self, field_name)
            if isinstance(v, str):
                text = v.strip().lower()
                if text == AUTO:
                    s(self, field_name, AUTO)
                    return
                if optional and text in ("none", "null", ""):
                    s(self, field_name, None)
                    return
                try:
                    s(self, field_name, float(text) if "." in text or "e" in text
                      else int(text))
                except ValueError:
                    raise bad(field_name, "'auto' or " + ("None or " if optional else "")
                              + f"an integer >= {minimum}") from None
            integer(field_name, minimum, optional=optional)

        number("fr", 0.0, low_open=True)
        number("decay_time", 0.0, low_open=True)
        sized("rf", 1, optional=True)
        sized("stride", 0)
        if isinstance(self.rf, int) and isinstance(self.stride, int) \
                and self.stride >= 2 * self.rf:
            raise ValueError(
                f"{name}.stride (the overlap of patches, {self.stride}) should be smaller "
                f"than the patch width 2*rf = {2 * self.rf}; reduce stride or increase rf."
            )
        integer("nb_patch", 0)
        number("min_corr", 0.0, 1.0)
        number("min_pnr", 0.0, low_open=True)
        number("ring_size_factor", 1.0, low_open=True)
        integer("ssub_B", 1)
        flag("center_psf")
        sized("K", 1)
        # gSig: positive numbers, one or a pair
        g = _pair(self.gSig, "gSig", name, integer=False)
        if min(g) <= 0:
            raise bad("gSig", "positive (a number or a pair of numbers of pixels)")
        s(self, "gSig", g)
        if self.gSiz is not None:  # None stays None: follows gSig through replace()
            siz = _pair(self.gSiz, "gSiz", name, integer=True)
            if min(siz) < 1:
                raise bad("gSiz", "positive (a number or a pair of pixels)")
            s(self, "gSiz", siz)
            if siz[0] < g[0] or siz[1] < g[1]:
                raise ValueError(f"{name}.gSiz {siz} is smaller than gSig {g}: the box "
                                 "around a cell must hold the cell (gSiz about 4 x gSig + 1 "
                                 "for one-photon data, 2 x gSig + 1 for two-photon).")
        for n in ("nIter", "rolling_length", "ssub", "tsub", "ITER"):
            integer(n, 1)
        sized("gnb", 0)
        for n in ("maxIter", "seed", "lags", "optimize_g", "support_dilation"):
            integer(n, 0)
        if self.p not in (0, 1, 2) or isinstance(self.p, bool):
            raise bad("p", "0, 1 or 2")
        s(self, "p", int(self.p))
        number("alpha_snmf", 0.0)
        nr = self.noise_range
        if (isinstance(nr, (str, bytes)) or not isinstance(nr, Sequence) or len(nr) != 2
                or not all(isinstance(v, (int, float, np.number)) for v in nr)
                or not 0 <= float(nr[0]) < float(nr[1]) <= 0.5):
            raise bad("noise_range", "a pair (low, high) with 0 <= low < high <= 0.5 "
                      "(fractions of the sampling rate)")
        s(self, "noise_range", (float(nr[0]), float(nr[1])))
        number("fudge_factor", 0.0, 1.0, low_open=True)
        number("s_min", optional=True)
        number("nrgthr", 0.0, 1.0, low_open=True)
        number("maxthr", 0.0, 1.0)
        number("merge_thr", 0.0, 1.0, low_open=True)
        for n in ("only_init", "del_duplicates", "rolling_sum", "bas_nonneg", "extract_cc",
                  "do_merge", "evaluate", "compute_dff", "flag_auto", "use_residuals",
                  "detrend_only", "require_both", "anatomical"):
            flag(n)
        cut = self.min_cell_probability
        if isinstance(cut, str):  # "auto" (the classifier's own cut), "none" or a number
            text = cut.strip().lower()
            try:
                s(self, "min_cell_probability", text if text == AUTO else None
                  if text in ("none", "null", "") else float(text))
            except ValueError:
                raise bad("min_cell_probability",
                          "'auto', None or a number in [0, 1]") from None
        if self.min_cell_probability != AUTO:
            number("min_cell_probability", 0.0, 1.0, optional=True)
        number("min_SNR")
        number("SNR_lowest")
        number("rval_thr", -1.0, 1.0)
        number("rval_lowest", -1.0, 1.0)
        number("joint_SNR", optional=True)
        number("joint_rval", -1.0, 1.0, optional=True)
        number("max_width_ratio", 1.0, optional=True)
        if (self.joint_SNR is None) != (self.joint_rval is None):
            raise ValueError(f"{name}.joint_SNR and joint_rval go together: set both, or both "
                             f"to None (got joint_SNR={self.joint_SNR}, joint_rval="
                             f"{self.joint_rval}).")
        if self.SNR_lowest > self.min_SNR:
            raise ValueError(f"{name}.SNR_lowest ({self.SNR_lowest}) should be <= min_SNR "
                             f"({self.min_SNR}).")
        if self.rval_lowest > self.rval_thr:
            raise ValueError(f"{name}.rval_lowest ({self.rval_lowest}) should be <= rval_thr "
                             f"({self.rval_thr}).")
        integer("min_size", 0, optional=True)
        integer("max_size", 1, optional=True)
        if self.min_size is not None and self.max_size is not None \
                and self.min_size > self.max_size:
            raise ValueError(f"{name}.min_size ({self.min_size}) should be <= max_size "
                             f"({self.max_size}).")
        number("quantile_min", 0.0, 100.0)
        integer("frames_window", 1)
        integer("chunk_frames", 1, optional=True)
        number("max_in_memory_mb", 0.0)

    def _apply_preset(self) -> None:
        """Fill :data:`ONE_PHOTON` into the fields left at their default, not given."""
        explicit = _EXPLICIT.get()
        for f in dataclasses.fields(self):
            if f.name in ONE_PHOTON and f.name not in explicit \
                    and _same(getattr(self, f.name), f.default):
                object.__setattr__(self, f.name, ONE_PHOTON[f.name])

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> CNMFParams:
        """Build from a dict; the keys given are explicit (the preset leaves them)."""
        token = _EXPLICIT.set(frozenset(values))
        try:
            return super().from_dict(values)
        finally:
            _EXPLICIT.reset(token)

    def replace(self, **overrides: Any) -> CNMFParams:
        """Return a copy with some parameters changed (they win over the preset).

        Switching ``mode`` back to "two_photon" returns the fields that hold the
        one-photon preset's values (and were not given) to their defaults.
        """
        type(self).check_names(overrides)
        if overrides.get("mode", self.mode) == "two_photon" and self.mode == "one_photon":
            for f in dataclasses.fields(self):
                if f.name in ONE_PHOTON and f.name not in overrides \
                        and _same(getattr(self, f.name), ONE_PHOTON[f.name]):
                    overrides[f.name] = f.default
        token = _EXPLICIT.set(frozenset(overrides))
        try:
            return dataclasses.replace(self, **overrides)
        finally:
            _EXPLICIT.reset(token)

    @classmethod
    def resolve(cls, params: Any, overrides: Mapping[str, Any]) -> CNMFParams:
        """Return ``params`` (None, a dict or an instance) with ``overrides`` applied."""
        if params is None and overrides:
            return cls.from_dict(dict(overrides))
        return super().resolve(params, overrides)

    # -- derived values -------------------------------------------------------------
    @property
    def one_photon(self) -> bool:
        """Whether the fit is CNMF-E (``method_init="corr_pnr"``)."""
        return self.method_init == "corr_pnr"

    @property
    def ring(self) -> bool:
        """Whether the background is CNMF-E's ring model (corr_pnr with ``gnb=0``)."""
        return self.one_photon and self.gnb == 0

    @property
    def ring_radius(self) -> float:
        """Ring radius in pixels, ``ring_size_factor * gSiz / 2``."""
        return self.ring_size_factor * float(np.mean(self.cell_box)) / 2.0

    @property
    def cell_box(self) -> tuple[int, int]:
        """The effective ``gSiz``: as given (made odd) or ``2 * ceil(gSig) + 1``.

        With ``method_init="corr_pnr"`` the default box is ``4 * ceil(gSig) + 1``
        (CaImAn's CNMF-E demo: gSig 3, gSiz 13).
        """
        if self.gSiz is None:
            k = 4 if self.one_photon else 2
            return tuple(int(k * math.ceil(v) + 1) for v in self.gSig)
        return tuple(v + 1 if v % 2 == 0 else v for v in self.gSiz)

    @property
    def min_pixels(self) -> int:
        """Fewest footprint pixels of a component kept by the fit.

        A quarter of the area of a disk of radius ``gSig`` (``pi * gSig_y * gSig_x /
        4``), at least 4. Smaller footprints are fragments left by the
        initialisation, not sources.
        """
        return max(4, int(math.ceil(math.pi * self.gSig[0] * self.gSig[1] / 4)))

    def init_tsub(self, n_frames: int) -> int:
        """Temporal averaging of the initialisation for a movie of ``n_frames``.

        ``tsub``, increased so that at most ``MAX_INIT_FRAMES`` (1000) frames are
        initialised on (the transients of a calcium indicator last several frames:
        averaging a few loses no cell and makes long movies cheap), and 1 when that
        would leave fewer than ``MIN_INIT_FRAMES`` (32).
        """
        t = max(self.tsub, -(-int(n_frames) // MAX_INIT_FRAMES))
        return t if n_frames // t >= MIN_INIT_FRAMES else 1

    @property
    def patch_size(self) -> int | None:
        """Width of a patch in pixels (``2 * rf``), None without patches (or rf auto)."""
        return 2 * self.rf if isinstance(self.rf, int) else None

    @property
    def auto_sized(self) -> tuple[str, ...]:
        """Names of the settings left to ``"auto"`` (among rf, stride, K, gnb)."""
        return tuple(n for n in SIZED if getattr(self, n) == AUTO)

    def sized(self, frame_shape: Sequence[int]) -> tuple[CNMFParams, dict[str, Any]]:
        """Return the parameters with ``rf``, ``stride``, ``K`` and ``gnb`` chosen.

        Settings left to ``"auto"`` are chosen for frames of ``frame_shape`` by
        :func:`~.sizing.choose_sizes`; explicit ones are kept.

        Returns
        -------
        params : CNMFParams
            Every setting a number (``rf`` may be None: one patch).
        sizes : dict
            ``{name: {"value", "auto", "why"}}`` and ``"grow_K"`` (see
            :func:`~.sizing.choose_sizes`), what the fit records in
            ``result.info["sizes"]``.

        Examples
        --------
        >>> p, sizes = CNMFParams(gSig=5).sized((256, 256))
        >>> p.rf, p.stride, p.K, p.gnb, sizes["K"]["auto"]
        (20, 11, 11, 2, True)
        >>> CNMFParams(rf=15, stride=10, K=6, gnb=2).sized((256, 256))[0].K
        6
        """
        rf, stride = self.rf, self.stride
        if self.one_photon and rf == AUTO:
            # CNMF-E's patches: 40 px half-size (the ring must fit), or the whole frame
            rf = ONE_PHOTON_PATCHES[0] if max(frame_shape) > 2 * ONE_PHOTON_PATCHES[0] \
                else None
            stride = ONE_PHOTON_PATCHES[1] if stride == AUTO else stride
        sizes = choose_sizes(frame_shape, self.gSig, rf=rf, stride=stride,
                             K=self.K, gnb=self.gnb)
        chosen = {n: sizes[n]["value"] for n in SIZED if sizes[n]["auto"]}
        if rf != self.rf:
            chosen["rf"] = rf
            sizes["rf"].update(auto=True, why="one-photon preset: CNMF-E's 40 px patches "
                               "(the whole frame up to 80 px)")
        if stride != self.stride:
            chosen["stride"] = sizes["stride"]["value"]
        return (dataclasses.replace(self, **chosen) if chosen else self), sizes

    @property
    def event_frames(self) -> int:
        """Frames of one calcium event, ``ceil(decay_time * fr)`` (at least 1)."""
        return max(1, int(math.ceil(self.decay_time * self.fr)))

    def check_shape(self, movie_shape: Sequence[int]) -> None:
        """Check the parameters against a movie shape ``(T, Y, X)``.

        Raises
        ------
        ValueError
            When a patch (``2 * rf``) is larger than the frame along both axes, or the
            cell box ``gSiz`` is larger than the frame (or than a patch).
        """
        T, Y, X = (int(n) for n in movie_shape)
        name = type(self).__name__
        if self.rf == AUTO:  # chosen to fit the frame; the cell box is checked then
            self.sized((Y, X))[0].check_shape(movie_shape)
            return
        if self.rf is not None and 2 * self.rf > Y and 2 * self.rf > X:
            raise ValueError(
                f"{name}.rf={self.rf} makes patches ({2 * self.rf} px) larger than the "
                f"frame ({Y}x{X}); use rf=None to process the frame as one patch, or a "
                f"smaller rf."
            )
        limit = (min(Y, 2 * self.rf), min(X, 2 * self.rf)) if self.rf else (Y, X)
        box = self.cell_box
        where = "a patch" if self.rf else "the frame"
        if box[0] > limit[0] or box[1] > limit[1]:
            raise ValueError(
                f"{name}.gSiz={box} (cell box; gSig={self.gSig}) is larger than "
                f"{where} ({limit[0]}x{limit[1]}); reduce gSig/gSiz"
                + (" or increase rf." if self.rf else ".")
            )
        if self.ring and 2 * math.ceil(self.ring_radius) + 1 > min(limit):
            raise ValueError(
                f"{name}.ring_size_factor: the ring of the ring background (radius "
                f"ring_size_factor x gSiz / 2 = {self.ring_size_factor:g} x {np.mean(box):g} "
                f"/ 2 = {self.ring_radius:.1f} px) is larger than {where} ({limit[0]}x"
                f"{limit[1]}); reduce 'ring_size_factor' or 'gSiz'"
                + (", or increase 'rf'." if self.rf else "."))


def _same(a: Any, b: Any) -> bool:
    """Equal parameter values (a number and its float, a tuple and a list alike)."""
    flags = isinstance(a, (bool, np.bool_)), isinstance(b, (bool, np.bool_))
    if any(flags):
        return all(flags) and bool(a) == bool(b)
    if isinstance(a, str) or isinstance(b, str) or a is None or b is None:
        return a == b
    try:
        return bool(np.array_equal(np.asarray(a, float), np.asarray(b, float)))
    except (TypeError, ValueError):
        return False


def _pair(value: Any, field_name: str, cls: str, *, integer: bool) -> tuple:
    """Return a number or a pair of numbers as a 2-tuple (float or int)."""
    if isinstance(value, (str, bytes)) or value is None or isinstance(value, bool):
        raise ValueError(f"{cls}.{field_name} should be a number or a pair of numbers, "
                         f"got {value!r}.")
    items = list(value) if isinstance(value, (Sequence, np.ndarray)) else [value, value]
    if len(items) != 2:
        raise ValueError(f"{cls}.{field_name} should be a number or a pair (rows, columns), "
                         f"got {value!r}.")
    out = []
    for v in items:
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, float, np.number)) \
                or not math.isfinite(float(v)):
            raise ValueError(f"{cls}.{field_name} should be numeric, got {value!r}.")
        if integer:
            if float(v) != int(v):
                raise ValueError(f"{cls}.{field_name} should be whole pixels, got {value!r}.")
            out.append(int(v))
        else:
            out.append(float(v))
    return tuple(out)
