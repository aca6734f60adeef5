"""Helpers of the CNMF tests: the planted somata scene and its scoring, AR traces.

Ground truth is planted by ``core.simulate`` (somata only, no motion): found
footprints are matched to the true ones one to one (``metrics.match_components``:
Hungarian on the IoU of footprints binarised at 20 % of their maximum) and matched
traces are compared with the true calcium and spikes. The thresholds are the issue's:
F1 >= 0.95, median trace r >= 0.95, median spike r >= 0.9.

For the temporal modules (noise, deconvolution, ΔF/F, evaluation): AR(1)/AR(2)
calcium traces with known coefficients (``core.simulate.ar_coefficients``,
GCaMP6f-like kinetics at 30 Hz), Poisson spikes, baseline and Gaussian noise.
"""

from __future__ import annotations

import numpy as np

from napari_amnesia.core.cnmf import SourceResult
from napari_amnesia.core.metrics import match_components
from napari_amnesia.core.simulate import ar_coefficients

SHAPE = (96, 96)
T = 600
N_CELLS = 15
FIT = dict(rf=15, stride=10, K=6, gSig=4, p=1, gnb=2, merge_thr=0.85, min_SNR=2.0,
           rval_thr=0.85)

FRAME_RATE = 30.0
G1 = ar_coefficients(decay_time=0.4, frame_rate=FRAME_RATE)  # [0.920]
G2 = ar_coefficients(decay_time=0.4, rise_time=0.05, frame_rate=FRAME_RATE, ar_order=2)


def corr_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a - a.mean(axis=1, keepdims=True)
    b = b - b.mean(axis=1, keepdims=True)
    den = np.sqrt((a * a).sum(1) * (b * b).sum(1))
    return np.divide((a * b).sum(1), den, out=np.zeros(len(a)), where=den > 0)


def score(result: SourceResult, truth, *, accepted: bool = True) -> dict:
    idx = np.flatnonzero(result.accepted) if accepted else np.arange(result.K)
    m = match_components(result.footprint_images(idx), truth.footprints)
    fi, ti = m["pairs"].T
    m["trace_r"] = corr_rows(result.traces[idx[fi]], truth.traces[ti])
    m["spike_r"] = corr_rows(result.spikes[idx[fi]], truth.spikes[ti])
    m["true_index"] = ti
    m["found_index"] = idx[fi]
    return m


def assert_accurate(result: SourceResult, truth, *, accepted: bool = True) -> dict:
    m = score(result, truth, accepted=accepted)
    assert m["f1"] >= 0.95, m
    assert np.median(m["trace_r"]) >= 0.95, m["trace_r"]
    assert np.median(m["spike_r"]) >= 0.9, m["spike_r"]
    return m


class RecordingArray:
    """An array-like that records the region of every read."""

    def __init__(self, data):
        self.data = data
        self.shape = data.shape
        self.dtype = data.dtype
        self.ndim = data.ndim
        self.reads = []

    def __getitem__(self, key):
        out = self.data[key]
        if out.size:  # dask probes with empty slices for the dtype
            self.reads.append(out.shape)
        return out


def _fields(result: SourceResult) -> dict:
    import dataclasses

    return {f.name: getattr(result, f.name) for f in dataclasses.fields(result)}


def ar_traces(n, T, g, *, sn=0.25, rate=0.5, baseline=1.0, seed=0, amplitude=(0.7, 1.3)):
    """``baseline + c + noise`` with ``c`` an AR(p) process driven by Poisson spikes.

    Returns (Y, C, S); the peak SNR of one spike (amplitude / sn) is about 3-5.
    """
    rng = np.random.default_rng(seed)
    g = np.atleast_1d(np.asarray(g, float))
    S = rng.poisson(rate / FRAME_RATE, (n, T)) * rng.uniform(*amplitude, (n, T))
    C = np.zeros((n, T))
    for t in range(T):
        C[:, t] = S[:, t]
        for i, gi in enumerate(g):
            if t - 1 - i >= 0:
                C[:, t] += gi * C[:, t - 1 - i]
    b = np.broadcast_to(np.asarray(baseline, float), (n,))
    Y = b[:, None] + C + sn * rng.standard_normal((n, T))
    return Y, C, S
