"""CNMF-E's correlation and peak-to-noise images, as the one-photon fit computes them.

:func:`correlation_pnr` is what :func:`~napari_amnesia.core.cnmf.fit` computes with
``method_init="corr_pnr"`` before it seeds: the summary stage's ``corr_pnr`` and
``pnr`` images (one streaming pass over time chunks, memory independent of the
movie's length) with the fit's ``gSig`` and ``center_psf``. A seed picker that
passes these images to :func:`~.seeds.find_seeds` with the fit's ``min_corr``,
``min_pnr`` and ``gSig`` gets exactly the seeds of the fit's first pass.

References
----------
.. [1] Zhou, P. et al. (2018). Efficient and accurate extraction of in vivo calcium
   signals from microendoscopic video data. eLife 7, e28728.
.. [2] Giovannucci, A. et al. (2019). CaImAn, an open source tool for scalable calcium
   imaging data analysis. eLife 8, e38173 (``correlation_pnr``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["correlation_pnr"]

#: Bytes of float32 frames the correlation and PNR pass reads at a time.
_CHUNK_BYTES = 32 * 2**20


def correlation_pnr(
    movie: Any,
    *,
    gSig: float | tuple[float, float],  # noqa: N803 - CaImAn's name
    center_psf: bool = True,
    progress: Any = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Correlation and PNR images of the spatially filtered movie (CNMF-E's seeding images).

    Every frame is filtered with CaImAn's ``correlation_pnr`` kernel (a Gaussian of
    width ``gSig``, size ``int(2 * gSig) * 2 + 1``, minus its mean over its disk
    support when ``center_psf``: a matched filter that removes the smooth
    background); the PNR is the largest value of each filtered pixel over time
    (minus its mean) divided by its noise level; the correlation image is the local
    correlation of the filtered movie divided by its noise and thresholded at 3.

    Parameters
    ----------
    movie : array_like, shape (T, Y, X)
        numpy or dask array; read one time chunk at a time.
    gSig : float or (float, float)
        Cell radius in pixels (the fit's ``gSig``).
    center_psf : bool
        The fit's ``center_psf``.
    progress : callable, optional
        Called with each :class:`~napari_amnesia.core.progress.Progress`.

    Returns
    -------
    correlation, pnr : ndarray, shape (Y, X), float32
        ``summary_images(movie, gsig=gSig, center_psf=center_psf)``'s ``corr_pnr``
        and ``pnr``, read in chunks of about 32 MB (the summary stage's own images,
        read in larger chunks, are the same: its sums are folded the same way whatever
        the chunks; a test checks the equality).
    """
    from ...summary import summary_images

    T, h, w = (int(n) for n in movie.shape)
    # chunks of about 32 MB of float32 (the summary's default, 256 MB, would be the
    # fit's peak of memory); the images do not depend on it beyond rounding
    images = summary_images(movie, gsig=gSig, center_psf=center_psf, progress=progress,
                            chunk_frames=max(1, min(T, _CHUNK_BYTES // (4 * h * w))))
    return (np.asarray(images.corr_pnr, np.float32), np.asarray(images.pnr, np.float32))


# ----------------------------------------------------------------------- greedy init
#: Box pixels whose raw trace correlates with the seed's below this give the local
#: background trace of a seed (CaImAn's ``max_corr_bg``-like choice).
_BACKGROUND_CORR = 0.3
#: Footprint pixels below this fraction of the footprint's maximum are dropped.
_FOOTPRINT_THR = 0.1
#: Filtered-and-normalised values below it are zeroed before correlating (as in the
#: correlation image of :func:`correlation_pnr`).
_CORR_THRESHOLD = 3.0


class _Filter:
    """CaImAn's ``correlation_pnr`` spatial filter (the summary stage's kernel)."""

    def __init__(self, gSig: Any, center_psf: bool) -> None:  # noqa: N803
        from ...summary.spatial_filter import _filter_taps

        sig = tuple(float(v) for v in np.broadcast_to(np.asarray(gSig, float), (2,)))
        self.taps = _filter_taps(sig, bool(center_psf))
        self.kernel = np.asarray(self.taps.kernel, np.float32)

    def movie(self, Y: np.ndarray) -> np.ndarray:
        """Filter every frame of ``Y`` (T, h, w) float32 (replicated borders)."""
        from ...parallel import numba_threads
        from ...summary.spatial_filter import _filter_frames

        t = self.taps
        Y = np.ascontiguousarray(Y, np.float32)
        out = np.empty_like(Y)
        with numba_threads():
            _filter_frames(Y, out, t.gy, t.gx, t.widths, t.wi, t.m, t.use_box)
        return out

    def image(self, img: np.ndarray) -> np.ndarray:
        """Filter one image the same way."""
        from scipy import ndimage

        return ndimage.correlate(np.asarray(img, np.float32), self.kernel, mode="nearest")


def _seed_corr(Fn: np.ndarray, i: int, dims: tuple[int, int]) -> float:
    """Local correlation at pixel ``i`` of the thresholded normalised filtered data ``Fn``."""
    h, w = dims
    r, c = divmod(i, w)
    x = np.where(Fn[:, i] >= _CORR_THRESHOLD, Fn[:, i], 0)
    x = x - x.mean()
    nx = float(np.sqrt(x @ x))
    if nx == 0:
        return 0.0
    vals = []
    for dr in (-1, 0, 1):
        for dc in (-1, 0, 1):
            rr, cc = r + dr, c + dc
            if (dr or dc) and 0 <= rr < h and 0 <= cc < w:
                y = Fn[:, rr * w + cc]
                y = np.where(y >= _CORR_THRESHOLD, y, 0)
                y = y - y.mean()
                ny = float(np.sqrt(y @ y))
                vals.append(float(x @ y) / (nx * ny) if ny > 0 else 0.0)
    return float(np.mean(vals)) if vals else 0.0


def _largest_piece(a: np.ndarray, shape: tuple[int, int], centre: int) -> np.ndarray:
    """Keep the 8-connected piece of ``a > thr * max`` holding ``centre`` (else the largest)."""
    from scipy import ndimage

    img = a.reshape(shape)
    mask = img > _FOOTPRINT_THR * img.max()
    lab, n = ndimage.label(mask, structure=np.ones((3, 3)))
    if n == 0:
        return np.zeros_like(a)
    keep = lab.ravel()[centre]
    if keep == 0:
        keep = 1 + int(np.argmax(ndimage.sum(img, lab, index=np.arange(1, n + 1))))
    return np.where(lab.ravel() == keep, a, 0).astype(np.float32)


class _Greedy:
    """State of the greedy corr/PNR search on one patch held in memory."""

    def __init__(self, Y: np.ndarray, filt: _Filter, *, gSiz: tuple[int, int],  # noqa: N803
                 min_corr: float, min_pnr: float, sn_f: np.ndarray | None = None) -> None:
        T, h, w = Y.shape
        self.dims = (h, w)
        self.T = T
        self.filt = filt
        self.half = (int(gSiz[0]) // 2, int(gSiz[1]) // 2)
        self.min_corr, self.min_pnr = float(min_corr), float(min_pnr)
        # the raw residual, in Y's own buffer when Y is contiguous float32 (greedy_corr_pnr
        # hands it a copy, or the patch it may overwrite): no second copy of the movie
        self.R = np.ascontiguousarray(Y.reshape(T, h * w), np.float32)
        self.mean = self.R.mean(axis=0)
        self.R -= self.mean
        F = filt.movie(Y).reshape(T, h * w)
        F -= F.mean(axis=0)
        self.F = F  # filtered residual
        if sn_f is None:
            from .common import pixel_noise

            sn_f = pixel_noise(F, noise_method="mean")
        self.sn_f = np.where(sn_f > 0, sn_f, np.inf).astype(np.float32)
        self.A: list[np.ndarray] = []
        self.C: list[np.ndarray] = []
        self.centers: list[tuple[int, int]] = []

    def _box(self, r: int, c: int) -> tuple[np.ndarray, tuple[int, int, int, int]]:
        h, w = self.dims
        y0, y1 = max(0, r - self.half[0]), min(h, r + self.half[0] + 1)
        x0, x1 = max(0, c - self.half[1]), min(w, c + self.half[1] + 1)
        idx = (np.arange(y0, y1)[:, None] * w + np.arange(x0, x1)[None, :]).ravel()
        return idx, (y0, y1, x0, x1)

    def passes(self, i: int) -> bool:
        """Whether the residual at pixel ``i`` still reaches both thresholds."""
        f = self.F[:, i]
        pnr = float((f.max() - np.median(f)) / self.sn_f[i])
        if not pnr >= self.min_pnr:
            return False
        h, w = self.dims
        r, c = divmod(i, w)
        # the 3x3 neighbourhood, noise-normalised, for the correlation check
        ys = range(max(0, r - 1), min(h, r + 2))
        xs = range(max(0, c - 1), min(w, c + 2))
        rows = [yy * w + xx for yy in ys for xx in xs]
        local = self.F[:, rows] / self.sn_f[rows]
        corr = _seed_corr(local, rows.index(i), (len(ys), len(xs)))
        return corr >= self.min_corr

    def add(self, r: int, c: int, *, check: bool = True) -> bool:
        """Estimate the component seeded at ``(r, c)`` and remove it from the residuals."""
        h, w = self.dims
        i = r * w + c
        if check and not self.passes(i):
            return False
        idx, (y0, y1, x0, x1) = self._box(r, c)
        shape = (y1 - y0, x1 - x0)
        centre = (r - y0) * shape[1] + (c - x0)
        ct = self.F[:, i].astype(np.float64)
        ct = ct - ct.mean()
        nc = float(ct @ ct)
        if nc <= 0:
            return False
        Yb = self.R[:, idx].astype(np.float64)  # (T, n), zero-mean columns
        ny = np.sqrt((Yb * Yb).sum(axis=0))
        corr = (ct @ Yb) / (np.sqrt(nc) * np.where(ny > 0, ny, np.inf))
        bg = corr < _BACKGROUND_CORR
        if bg.sum() >= 3:
            ybg = np.median(Yb[:, bg], axis=1)
            X = np.stack([ct, ybg - ybg.mean()], axis=1)
        else:
            X = ct[:, None]
        coef, *_ = np.linalg.lstsq(X, Yb, rcond=None)
        a = np.maximum(coef[0], 0)
        a[corr <= 0] = 0
        if a[centre] <= 0:
            return False
        a = _largest_piece(a.astype(np.float32), shape, centre)
        na = float(np.sqrt(a @ a))
        if na <= 0:
            return False
        a /= na
        # the trace in data units: the footprint's projection of the residual minus the
        # local background (least squares with the footprint fixed)
        bgpart = X[:, 1:] @ coef[1:] if X.shape[1] > 1 else 0.0
        c_raw = ((Yb - bgpart) @ a).astype(np.float32)
        self.R[:, idx] -= np.outer(c_raw, a)
        # filtered update (the filter is linear): over the box grown by the kernel
        ky, kx = (s // 2 for s in self.filt.kernel.shape)
        gy0, gy1 = max(0, y0 - ky), min(h, y1 + ky)
        gx0, gx1 = max(0, x0 - kx), min(w, x1 + kx)
        img = np.zeros((h, w), np.float32)
        img[y0:y1, x0:x1] = a.reshape(shape)
        fa = self.filt.image(img)[gy0:gy1, gx0:gx1].ravel()
        region = (np.arange(gy0, gy1)[:, None] * w + np.arange(gx0, gx1)[None, :]).ravel()
        self.F[:, region] -= np.outer(c_raw, fa)
        full = np.zeros(h * w, np.float32)
        full[idx] = a
        self.A.append(full)
        base = np.percentile(c_raw, 8)
        self.C.append(np.maximum(c_raw - base, 0).astype(np.float32))
        self.centers.append((r, c))
        return True

    def images(self) -> tuple[np.ndarray, np.ndarray]:
        """Correlation and PNR images ``(h, w)`` of the filtered residual.

        The same quantities as :meth:`passes` checks at one pixel: the PNR is the
        residual's peak over its median in units of the filtered noise; the
        correlation the mean correlation with the 8 neighbours of the
        noise-normalised residual thresholded at 3.
        """
        h, w = self.dims
        F = self.F
        # the median a block of pixels at a time (it copies what it sorts)
        med = np.concatenate([np.median(F[:, p0:p0 + 1024], axis=0)
                              for p0 in range(0, F.shape[1], 1024)])
        pnr = ((F.max(axis=0) - med) / self.sn_f).reshape(h, w)
        Z = F / self.sn_f  # the only (T, P) copy: thresholded and normalised in place
        Z[Z < _CORR_THRESHOLD] = 0
        Z -= Z.mean(axis=0)
        norm = np.sqrt(np.einsum("tp,tp->p", Z, Z))
        Z /= np.where(norm > 0, norm, np.inf)
        Z = Z.reshape(-1, h, w)
        total = np.zeros((h, w), np.float64)
        count = np.zeros((h, w), np.float64)
        for dr in (-1, 0, 1):
            for dc in (-1, 0, 1):
                if not (dr or dc):
                    continue
                ys = slice(max(0, -dr), h - max(0, dr))
                xs = slice(max(0, -dc), w - max(0, dc))
                yn = slice(max(0, dr), h - max(0, -dr))
                xn = slice(max(0, dc), w - max(0, -dc))
                total[ys, xs] += np.einsum("tyx,tyx->yx", Z[:, ys, xs], Z[:, yn, xn])
                count[ys, xs] += 1
        corr = (total / np.maximum(count, 1)).astype(np.float32)
        return corr, pnr.astype(np.float32)

    def covered(self) -> np.ndarray:
        """Pixels ``(h, w)`` inside a found footprint (above a third of its maximum)."""
        out = np.zeros(self.dims[0] * self.dims[1], bool)
        for a in self.A:
            out |= a > a.max() / 3
        return out.reshape(self.dims)


def greedy_corr_pnr(
    Y: Any,
    *,
    gSig: Any,  # noqa: N803 - CaImAn's names
    gSiz: Any,  # noqa: N803
    min_corr: float,
    min_pnr: float,
    seeds: np.ndarray | None = None,
    center_psf: bool = True,
    ring_radius: float | None = None,
    ssub_B: int = 2,  # noqa: N803
    gnb: int = 0,
    max_number: int | None = None,
    automatic: bool = True,
    owned: np.ndarray | None = None,
    overwrite: bool = False,
) -> Any:
    """CNMF-E's greedy initialisation on a movie (or patch) held in memory.

    1. **First pass.** The seeds (``seeds``, or :func:`~.seeds.find_seeds` of the
       movie's :func:`correlation_pnr` images) are visited best first. A seed whose
       filtered residual no longer reaches ``min_pnr`` and ``min_corr`` (a previous
       component explained it) is skipped. Otherwise its trace is the filtered
       residual at the seed; its footprint, in the ``gSiz`` box around it, is the
       non-negative regression of the raw residual on that trace and on the local
       background trace (the median of the box pixels that do not correlate with
       it), cut at 10 % of its maximum to the piece holding the seed. The
       component is removed from the raw and (the filter being linear) the
       filtered residuals before the next seed (Zhou et al. 2018, "Initialization";
       CaImAn's ``init_neurons_corr_pnr``). With ``automatic``, the residual is
       then seeded again until it holds no seed (:func:`_residual_rounds`). The
       user's seeds (``automatic=False``) are not checked against the thresholds,
       only skipped inside a component already found.
    2. **Background.** The ring model (``ring_radius`` given, ``gnb=0``:
       :func:`~napari_amnesia.core.cnmf.ring.fit_ring`) or a rank-``gnb`` NMF is
       fitted to the movie minus the components.
    3. **Second pass** (``automatic``): seeds of the correlation and PNR images of
       the movie minus the background and the components, away from the
       components found, are visited the same way on the background-subtracted
       residual (CaImAn's ``greedy_pnr_corr`` second round). The background is
       fitted to the first pass's residual (the movie minus the components as they
       were removed, with each pixel's mean restored).

    Parameters
    ----------
    Y : array_like, shape (T, Y, X)
    gSig, gSiz : float or pair
        Cell radius and box (pixels).
    min_corr, min_pnr : float
        Seed thresholds.
    seeds : ndarray, shape (n, 2), optional
        Seeds of the first pass, ``(row, column)``, in visiting order.
    center_psf : bool
        CaImAn's centred filter.
    ring_radius : float, optional
        Ring radius in pixels (None: low-rank background of rank ``gnb``).
    ssub_B : int
        Grid of the ring model.
    gnb : int
        Background rank when there is no ring.
    max_number : int, optional
        Most components.
    automatic : bool
        Run the second pass (False with user seeds: they are the whole set).
    owned : ndarray of bool, shape (Y, X), optional
        Pixels where the second pass may seed (a patch's own pixels: a cell is
        seeded by one patch only).
    overwrite : bool
        Use ``Y``'s buffer (float32, contiguous) as the working residual, which
        overwrites it: no copy of the movie (a patch read for this call). False:
        ``Y`` is left as it was.

    Returns
    -------
    Initialization
        ``b`` and ``f`` empty for the ring model; ``centers`` the seeds used.
    """
    from .common import Initialization

    Y = np.ascontiguousarray(Y, np.float32) if overwrite else np.array(Y, np.float32)
    T, h, w = Y.shape
    P = h * w
    siz = tuple(int(v) for v in np.broadcast_to(np.asarray(gSiz), (2,)))
    filt = _Filter(gSig, center_psf)
    limit = np.inf if max_number is None else int(max_number)
    if seeds is None:
        from .seeds import find_seeds

        corr, pnr = correlation_pnr(Y, gSig=gSig, center_psf=center_psf)
        seeds = find_seeds(corr, pnr, min_corr=min_corr, min_pnr=min_pnr, gSig=gSig)
    g = _Greedy(Y, filt, gSiz=siz, min_corr=min_corr, min_pnr=min_pnr)
    for r, c in np.asarray(seeds, np.int64).reshape(-1, 2):
        if len(g.A) >= limit:
            break
        if automatic:
            g.add(int(r), int(c), check=True)
        elif not g.covered()[r, c]:
            # the user's seeds (not automatic) are used whatever the thresholds (a
            # seed put by hand on a dim cell is meant), unless a component found
            # from an earlier seed already covers the point
            g.add(int(r), int(c), check=False)
    if automatic:
        _residual_rounds(g, gSig=gSig, limit=limit, owned=owned)
    n_first = len(g.A)
    b = np.zeros((P, 0), np.float32)
    f = np.zeros((0, T), np.float32)
    if automatic and len(g.A) < limit:
        # the movie minus the components found is the first pass's residual (in Y's
        # buffer) with the pixels' means restored; the filtered one is done with
        resid, g.R, g.F = g.R, None, None
        Y = None
        resid += g.mean
        residual_movie = _background_removed(resid, (h, w), ring_radius=ring_radius,
                                             ssub_B=ssub_B, gnb=gnb)
        from .seeds import find_seeds

        corr, pnr = correlation_pnr(residual_movie, gSig=gSig, center_psf=center_psf)
        more = find_seeds(corr, pnr, min_corr=min_corr, min_pnr=min_pnr, gSig=gSig)
        covered = g.covered()
        if owned is not None:
            covered |= ~np.asarray(owned, bool)
        more = [s for s in more if not covered[s[0], s[1]]]
        if more:
            # the second pass works on the background-subtracted movie minus the
            # components found (its residuals are recomputed from it)
            g2 = _Greedy(residual_movie, filt, gSiz=siz, min_corr=min_corr,
                         min_pnr=min_pnr)
            for r, c in more:
                if len(g.A) + len(g2.A) >= limit:
                    break
                g2.add(int(r), int(c), check=True)
            g.A += g2.A
            g.C += g2.C
            g.centers += g2.centers
    A = np.stack(g.A, axis=1) if g.A else np.zeros((P, 0), np.float32)
    C = np.stack(g.C) if g.C else np.zeros((0, T), np.float32)
    init = Initialization(A=A, C=C, b=b, f=f, dims=(h, w),
                          centers=np.asarray(g.centers, float).reshape(-1, 2))
    init.n_first = n_first  # type: ignore[attr-defined]
    return init


#: Most rounds of seeding on the residual after the first pass.
_RESIDUAL_ROUNDS = 4


def _residual_rounds(g: _Greedy, *, gSig: Any, limit: float,  # noqa: N803
                     owned: np.ndarray | None) -> None:
    """Seed again on the residual until it holds no seed (CNMF-E's greedy search).

    Seeds are the local maxima of the product of the images in a box of
    ``gSig``: a dim cell beside a brighter one is hidden by it until the brighter
    one is removed from the residual. Each round computes the residual's images
    (:meth:`_Greedy.images`) and visits its new seeds, away (``gSig``) from the
    components' centres and inside ``owned``; it stops when a round adds nothing.
    """
    from .seeds import find_seeds

    sig = np.maximum(1, np.round(np.broadcast_to(np.asarray(gSig, float), (2,))))
    for _ in range(_RESIDUAL_ROUNDS):
        if len(g.A) >= limit:
            return
        corr, pnr = g.images()
        more = find_seeds(corr, pnr, min_corr=g.min_corr, min_pnr=g.min_pnr, gSig=gSig)
        centres = np.asarray(g.centers, float).reshape(-1, 2)
        added = 0
        for r, c in more:
            if owned is not None and not owned[r, c]:
                continue
            if len(centres) and np.any(np.all(np.abs(centres - (r, c)) <= sig, axis=1)):
                continue
            if len(g.A) >= limit:
                break
            if g.add(int(r), int(c), check=True):
                added += 1
                centres = np.vstack([centres, (r, c)])
        if not added:
            return


#: Bytes of float32 frames whose ring background is computed at a time.
_BACKGROUND_BLOCK_BYTES = 16 * 2**20


def _background_removed(Yf: np.ndarray, dims: tuple[int, int], *, ring_radius: float | None,
                        ssub_B: int, gnb: int) -> np.ndarray:  # noqa: N803
    """Subtract, in place, the background of ``Yf`` (T, P), the movie minus its components.

    The ring model (``ring_radius``) or a rank-``gnb`` NMF is fitted to ``Yf`` and
    subtracted from it a block of frames at a time; returns ``Yf`` as ``(T, h, w)``.
    """
    T, P = Yf.shape
    h, w = dims
    if ring_radius is not None:
        from ..ring import background_block, fit_ring
        from ..updates.frames import Frames

        model = fit_ring(Frames(Yf, (h, w)), None, None, radius=ring_radius, ssub_B=ssub_B)
        step = max(1, _BACKGROUND_BLOCK_BYTES // (4 * P))
        for t0 in range(0, T, step):
            Yf[t0:t0 + step] -= background_block(model, Yf[t0:t0 + step], None)
    else:
        from .background import background_nmf

        bb, ff = background_nmf(np.maximum(Yf, 0), max(1, gnb))
        Yf -= (ff.T @ bb.T).astype(np.float32)
    return Yf.reshape(T, h, w)
