"""Motion correction: accuracy and throughput against ground truth and suite2p.

For each case (frame size × frames × rigid / non-rigid) a movie is simulated by
``core.simulate`` (rigid random walk up to 6 px; non-rigid adds a smooth deformation
up to 3 px) and written to a uint16 TIFF. Each method then runs in its own
subprocess on that file, so peak RSS is the method's alone:

* ``amnesia``: ``motion.correct(open_movie(tif), pw_rigid=..., compute_metrics=False)``
  then the lazily corrected movie is computed chunk by chunk into a float32 ``.npy``
  memmap (the equivalent of suite2p writing its registered binary). Timed: template,
  shift estimation and applying; frames/s = T / that time.
* ``suite2p`` (when ``--suite2p-python`` names an interpreter with suite2p >= 1.1):
  ``registration_wrapper`` on CPU with its default settings (``nonrigid`` set per
  case, ``block_size`` 128), reading the same TIFF into memory as int16 (what its
  pipeline converts data to) and registering it in place.

Accuracy. Shifts are compared in ``core.simulate``'s convention: ``(dy, dx)`` =
displacement of a frame's content. Each method's template sits at an unknown offset
from the unmoved reference scene. For napari-amnesia the offset is *measured*: the
noise-free reference (``truth.mean_image()``) is registered to the template with the
same code, and subtracted (rigid: one vector; piecewise: one vector per patch). For
suite2p (whose API does not expose registering an arbitrary image here) the offset is
the median over frames of ``estimate - truth`` (per block for non-rigid), and the same
median alignment is also reported for napari-amnesia, so the two columns are
comparable. suite2p's convention: its ``yoff``/``xoff`` are the shifts it applies to
undo the motion (frames are rolled by ``-yoff``), i.e. the displacement of the content
— the same as ours — but the benchmark does not assume it: the sign is checked against
the truth (correlation of the estimate with the planted shifts) and printed. Its
non-rigid ``yoff1``/``xoff1`` are per-block offsets *on top of* the rigid ones;
their centres are the block centres of ``nonrigid.make_blocks``; RMSE is taken there
against ``truth.displacement_at``.

Usage::

    python benchmarks/bench_motion.py                       # 256² × 2000, rigid + pw
    python benchmarks/bench_motion.py --sizes 256x2000 512x3000 \
        --suite2p-python /work/peers/suite2p/bin/python
    python benchmarks/bench_motion.py --modes --memory 512x1000 512x10000 \
        --memory-metrics                                    # peak RSS vs movie length
    python benchmarks/bench_motion.py --sizes 256x2000 --field-seeds 10
                        # piecewise-rigid field error per seed and the worst, on
                        # deformations of other frequencies and orientations

Frames/s are medians over ``--repeat`` runs of each method, interleaved on the same
TIFF. Peak RSS is each worker's ``VmHWM`` (Linux), reset through
``/proc/self/clear_refs`` after its imports; "RSS increase" is over the resident size
at that moment (``ru_maxrss`` would mislead: Linux keeps it across fork+exec, so a
child reports its parent's peak). Memory is reported for napari-amnesia only: the suite2p
worker reads the whole TIFF into memory and converts it to int16 before registering, so its
peak would measure this benchmark's loading, not suite2p's own pipeline (``run_s2p`` on its
binary file, frames read in batches). napari-amnesia's time includes writing the corrected
movie to a float32 TIFF; suite2p's registers the movie in memory (its TIFF read is
not timed).

Prints a Markdown table (and writes it with ``--out``).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent

# ----------------------------------------------------------------------------- workers
# the peak-memory helpers as source text: the suite2p worker runs in suite2p's own
# environment, where napari_amnesia is not installed
import napari_amnesia._memory as _memory  # noqa: E402

PEAK = Path(_memory.__file__).read_text()

AMNESIA_WORKER = PEAK + r"""
import json, os, sys, time
import numpy as np
from napari_amnesia.core.io import open_movie, save_movie
from napari_amnesia.core import motion
tif, out_tif, pw, res_json = sys.argv[1], sys.argv[2], sys.argv[3] == "1", sys.argv[4]
metrics = len(sys.argv) > 5 and sys.argv[5] == "1"
movie = open_movie(tif)
base = reset_peak()
t0 = time.perf_counter()
result = motion.correct(movie, pw_rigid=pw, compute_metrics=metrics)
t1 = time.perf_counter()
if metrics:  # the pipeline's way: the whole results folder, corrected movie included
    result.save(out_tif, corrected=True)
else:  # the corrected movie only, written as MotionResult.save does
    per_write = result.corrected.chunks[0][0] * (os.cpu_count() or 1)
    save_movie(result.corrected, out_tif, chunk_frames=per_write)
t2 = time.perf_counter()
peak = peak_mb()
np.savez(res_json + ".npz", shifts=result.shifts, template=result.template,
         shifts_pw=result.shifts_pw if pw else np.zeros(0),
         centers=result.patch_centers if pw else np.zeros(0))
json.dump({"estimate_s": t1 - t0, "total_s": t2 - t0,
           "params": result.params.to_dict(),
           "rejected_frames": result.rejected_frames.tolist(),
           "timings": result.provenance["timings"],
           "peak_rss_mb": peak, "rss_increase_mb": peak - base,
           "chunk_frames": int(result.corrected.chunks[0][0])},
          open(res_json, "w"))
"""

SUITE2P_WORKER = PEAK + r"""
import json, sys, time
import numpy as np, tifffile, torch
from suite2p.parameters import default_settings
from suite2p.registration.register import registration_wrapper
from suite2p.registration import nonrigid as s2p_nonrigid
tif, pw, res_json = sys.argv[1], sys.argv[2] == "1", sys.argv[3]
torch.set_num_threads(2)
settings = default_settings()
reg = dict(settings.get("registration", settings))
reg["nonrigid"] = pw
t0 = time.perf_counter()
base = reset_peak()
raw = tifffile.imread(tif)
raw = np.minimum(raw, 32767).astype(np.int16)
t1 = time.perf_counter()
o = registration_wrapper(raw, settings=reg, device=torch.device("cpu"))  # in place
t2 = time.perf_counter()
T, Ly, Lx = raw.shape
res = {"read_s": t1 - t0, "total_s": t2 - t1, "peak_rss_mb": peak_mb(),
       "rss_increase_mb": peak_mb() - base}
arrays = {"yoff": np.asarray(o["yoff"]), "xoff": np.asarray(o["xoff"])}
if pw:
    yb, xb = s2p_nonrigid.make_blocks(Ly, Lx, reg["block_size"])[:2]
    arrays["yoff1"] = np.asarray(o["yoff1"]); arrays["xoff1"] = np.asarray(o["xoff1"])
    arrays["centers"] = np.array([[(y[0] + y[1] - 1) / 2, (x[0] + x[1] - 1) / 2]
                                  for y, x in zip(yb, xb)])
np.savez(res_json + ".npz", **arrays)
json.dump(res, open(res_json, "w"))
"""


def _run(python: str, code: str, args: list[str], env: dict | None = None) -> None:
    subprocess.run([python, "-c", code, *args], check=True, env=env)


def _rmse(err: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.sum(err**2, axis=-1))))


# ----------------------------------------------------------------------------- cases
def run_case(size: int, n_frames: int, pw: bool, folder: Path, suite2p_python: str | None,
             rows: list[dict], repeat: int = 1) -> None:
    from napari_amnesia.core.motion import MotionParams
    from napari_amnesia.core.motion._register import PatchRegistrar, RigidRegistrar
    from napari_amnesia.core.simulate import write_simulated_movie

    kind = "pw-rigid" if pw else "rigid"
    tif = folder / f"sim_{size}_{n_frames}_{kind}.tif"
    t = time.perf_counter()
    truth = write_simulated_movie(tif, n_frames=n_frames, shape=(size, size), max_shift=6.0,
                                  nonrigid=pw, nonrigid_amplitude=3.0 if pw else 1.0, rng=1)
    print(f"[{size}x{size}x{n_frames} {kind}] simulated in {time.perf_counter() - t:.0f} s",
          flush=True)
    T = n_frames

    # each method `repeat` times, interleaved (ours, suite2p, ours, ...): frames/s are
    # medians, so a burst of load from other jobs hits both sides alike
    fps: dict[str, list[float]] = {"amnesia": [], "amnesia_est": [], "suite2p": []}
    s2p_json = folder / f"suite2p_{size}_{kind}.json"
    s2p_ok = bool(suite2p_python)
    res_json = folder / f"amnesia_{size}_{kind}.json"
    for _ in range(repeat):
        _run(sys.executable, AMNESIA_WORKER, [str(tif), str(folder / "corrected.tif"),
                                              "1" if pw else "0", str(res_json)])
        os.remove(folder / "corrected.tif")
        info = json.loads(res_json.read_text())
        fps["amnesia"].append(T / info["total_s"])
        fps["amnesia_est"].append(T / info["estimate_s"])
        print(f"  napari-amnesia {fps['amnesia'][-1]:.1f} frames/s", flush=True)
        if s2p_ok:
            try:
                _run(suite2p_python, SUITE2P_WORKER, [str(tif), "1" if pw else "0",
                                                      str(s2p_json)],
                     env={**os.environ, "OMP_NUM_THREADS": "2", "CUDA_VISIBLE_DEVICES": ""})
            except subprocess.CalledProcessError as exc:
                print(f"suite2p failed: {exc}", flush=True)
                s2p_ok = False
            else:
                fps["suite2p"].append(T / json.loads(s2p_json.read_text())["total_s"])
                print(f"  suite2p {fps['suite2p'][-1]:.1f} frames/s", flush=True)

    info = json.loads(res_json.read_text())
    arr = np.load(str(res_json) + ".npz")
    params = MotionParams(pw_rigid=pw)
    reg = RigidRegistrar(arr["template"], params)
    spec = reg.spectra(truth.mean_image()[None])
    off = reg.estimate(spec)[0]
    row = {"case": f"{size}²×{T} {kind}", "method": "napari-amnesia",
           "fps": float(np.median(fps["amnesia"])),
           "fps_estimate": float(np.median(fps["amnesia_est"])), "fps_runs": fps["amnesia"],
           "peak_rss_mb": info["peak_rss_mb"], "rss_increase_mb": info["rss_increase_mb"]}
    err = arr["shifts"] - off - truth.shifts
    row["rigid_rmse"] = _rmse(err)
    row["rigid_rmse_median_aligned"] = _rmse(
        arr["shifts"] - truth.shifts - np.median(arr["shifts"] - truth.shifts, axis=0))
    if pw:
        preg = PatchRegistrar(arr["template"], params, reg)
        offpw = preg.estimate(reg.filtered(spec), off[None])[0]
        centers = arr["centers"].reshape(-1, 2)
        true_pw = np.stack([truth.displacement_at(centers, t) for t in range(T)])
        true_pw = true_pw.reshape(arr["shifts_pw"].shape)
        row["pw_rmse"] = _rmse(arr["shifts_pw"] - offpw[None] - true_pw)
        d = arr["shifts_pw"] - true_pw
        row["pw_rmse_median_aligned"] = _rmse(d - np.median(d, axis=0))
        row["nonrigid_at_centres"] = float(
            np.abs(true_pw - truth.shifts[:, None, None, :]).max())
    rows.append(row)
    print(json.dumps(row), flush=True)

    # suite2p (accuracy from its last run; frames/s the median of its runs)
    if s2p_ok:
        res_json = s2p_json
        info = json.loads(res_json.read_text())
        arr = np.load(str(res_json) + ".npz")
        est = np.stack([arr["yoff"], arr["xoff"]], axis=-1).astype(np.float64)
        sign = float(np.sign(np.corrcoef(est[:, 0], truth.shifts[:, 0])[0, 1]))
        est *= sign
        # no memory figure for suite2p: its worker reads the whole TIFF, converts it to
        # int16 and registers that array in place, so its peak holds the benchmark's own
        # loading (the movie two or three times over), not what suite2p's pipeline
        # (run_s2p on its binary file, frames read in batches) needs
        row = {"case": f"{size}²×{T} {kind}", "method": "suite2p",
               "fps": float(np.median(fps["suite2p"])), "fps_runs": fps["suite2p"],
               "sign": sign}
        d = est - truth.shifts
        row["rigid_rmse_median_aligned"] = _rmse(d - np.median(d, axis=0))
        if pw:
            c = arr["centers"]
            tot = est[:, None, :] + sign * np.stack([arr["yoff1"], arr["xoff1"]], axis=-1)
            true_pw = np.stack([truth.displacement_at(c, t) for t in range(T)])
            d = tot - true_pw
            row["pw_rmse_median_aligned"] = _rmse(d - np.median(d, axis=0))
        rows.append(row)
        print(json.dumps(row), flush=True)
    os.remove(tif)


def field_seeds_case(size: int, n_frames: int, seeds: list[int], folder: Path,
                     frequency: int = 2) -> list[dict]:
    """Piecewise-rigid field error on many seeds with deformations of other kinds.

    Each seed draws three cosine modes of up to ``frequency`` half cycles across the
    frame (``simulate(nonrigid_frequency=...)``: other spatial frequencies and
    orientations than the default field) with an amplitude of 2, 2.5 or 3 px (seed
    mod 3), on top of the rigid walk up to 6 px. The field error is the RMSE of the
    total displacement at the patch centres, the template's offset field measured by
    registering the noise-free reference scene (as in :func:`run_case`). Prints one
    line per seed and the worst.
    """
    from napari_amnesia.core.motion import MotionParams
    from napari_amnesia.core.motion._register import PatchRegistrar, RigidRegistrar
    from napari_amnesia.core.simulate import write_simulated_movie

    rows = []
    for seed in seeds:
        amplitude = 2.0 + (seed % 3) / 2
        tif = folder / f"field_{size}_{n_frames}_{seed}.tif"
        truth = write_simulated_movie(tif, n_frames=n_frames, shape=(size, size),
                                      max_shift=6.0, nonrigid=True,
                                      nonrigid_amplitude=amplitude,
                                      nonrigid_frequency=frequency, rng=seed)
        res_json = folder / f"field_{seed}.json"
        _run(sys.executable, AMNESIA_WORKER, [str(tif), str(folder / "corrected.tif"), "1",
                                              str(res_json)])
        os.remove(folder / "corrected.tif")
        os.remove(tif)
        info = json.loads(res_json.read_text())
        arr = np.load(str(res_json) + ".npz")
        params = MotionParams(**info["params"])
        reg = RigidRegistrar(arr["template"], params)
        spec = reg.spectra(truth.mean_image()[None])
        off = reg.estimate(spec)[0]
        offpw = PatchRegistrar(arr["template"], params, reg).estimate(
            reg.filtered(spec), off[None])[0]
        centers = arr["centers"].reshape(-1, 2)
        true_pw = np.stack([truth.displacement_at(centers, t) for t in range(n_frames)])
        true_pw = true_pw.reshape(arr["shifts_pw"].shape)
        d = arr["shifts_pw"] - true_pw
        row = {"seed": seed, "amplitude_px": amplitude,
               "modes": truth.nonrigid_modes.tolist(),
               "grid": list(arr["shifts_pw"].shape[1:3]),
               "pw_rmse": _rmse(arr["shifts_pw"] - offpw[None] - true_pw),
               "pw_rmse_median_aligned": _rmse(d - np.median(d, axis=0)),
               "rigid_only_rmse": _rmse(arr["shifts"][:, None, None, :] - off
                                        - true_pw),
               "rejected_shifts": len(info.get("rejected_frames", [])),
               "fps": n_frames / info["total_s"]}
        rows.append(row)
        print(f"seed {seed}: amplitude {amplitude} px, modes {row['modes']}, "
              f"field error {row['pw_rmse']:.3f} px (median-aligned "
              f"{row['pw_rmse_median_aligned']:.3f}; rigid only {row['rigid_only_rmse']:.3f}),"
              f" {row['rejected_shifts']} shifts rejected", flush=True)
    worst = max(rows, key=lambda r: r["pw_rmse"])
    print(f"{size}²×{n_frames}, {len(rows)} seeds: worst field error {worst['pw_rmse']:.3f} px "
          f"(seed {worst['seed']}), median {np.median([r['pw_rmse'] for r in rows]):.3f} px",
          flush=True)
    return rows


def memory_case(size: int, n_frames: int, pw: bool, folder: Path, rows: list[dict],
                metrics: bool = False) -> None:
    """Peak RSS of correcting a long movie from disk and writing the corrected movie.

    Without ``metrics``: ``correct(compute_metrics=False)`` + the corrected movie saved
    to TIFF. With: the pipeline's way, ``correct()`` with its quality metrics and
    ``MotionResult.save(corrected=True)`` (the whole results folder).
    """
    from napari_amnesia.core.simulate import write_simulated_movie

    tif = folder / f"long_{size}_{n_frames}.tif"
    if not tif.exists():
        write_simulated_movie(tif, n_frames=n_frames, shape=(size, size), max_shift=6.0,
                              nonrigid=pw, nonrigid_amplitude=3.0 if pw else 1.0, rng=2)
    res_json = folder / "long.json"
    out = folder / ("results" if metrics else "corrected.tif")
    _run(sys.executable, AMNESIA_WORKER, [str(tif), str(out), "1" if pw else "0",
                                          str(res_json), "1" if metrics else "0"])
    info = json.loads(res_json.read_text())
    movie_mb = n_frames * size * size * 2 / 2**20
    row = {"case": f"{size}²×{n_frames} {'pw-rigid' if pw else 'rigid'} "
                   f"({'correct + metrics + results folder' if metrics else 'correct + save'}"
                   f"; movie {movie_mb:.0f} MB uint16)",
           "method": "napari-amnesia", "fps": n_frames / info["total_s"],
           "peak_rss_mb": info["peak_rss_mb"], "rss_increase_mb": info["rss_increase_mb"]}
    rows.append(row)
    print(json.dumps(row), flush=True)
    if out.is_dir():
        shutil.rmtree(out)
    else:
        os.remove(out)


def table(rows: list[dict]) -> str:
    cols = ["case", "method", "fps", "fps_estimate", "rigid_rmse", "rigid_rmse_median_aligned",
            "pw_rmse", "pw_rmse_median_aligned", "peak_rss_mb", "rss_increase_mb"]
    head = ["case", "method", "frames/s (estimate+apply)", "frames/s (estimate)",
            "rigid RMSE (px)", "rigid RMSE, median-aligned", "pw RMSE at centres (px)",
            "pw RMSE, median-aligned", "peak RSS (MB)", "RSS increase (MB)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = []
        for c in cols:
            v = r.get(c, "")
            cells.append(f"{v:.3f}" if isinstance(v, float) and "rmse" in c else
                         f"{v:.0f}" if isinstance(v, float) else str(v))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", nargs="+", default=["256x2000"],
                    help="cases as SIZExFRAMES (square frames)")
    ap.add_argument("--modes", nargs="*", default=["rigid", "pw"], choices=["rigid", "pw"])
    ap.add_argument("--suite2p-python", default=None,
                    help="python of a venv with suite2p>=1.1 (run side by side)")
    ap.add_argument("--memory", nargs="+", default=[],
                    help="SIZExFRAMES long movie(s) for peak RSS (several: T-independence)")
    ap.add_argument("--memory-metrics", action="store_true",
                    help="also measure the pipeline's way (metrics + results folder)")
    ap.add_argument("--keep-movies", default=None,
                    help="folder where the long movies are kept between runs")
    ap.add_argument("--repeat", type=int, default=1,
                    help="runs of each method per case (interleaved); frames/s are medians")
    ap.add_argument("--field-seeds", type=int, default=0,
                    help="piecewise-rigid field error on this many seeds with deformations "
                         "of other kinds (first size of --sizes); prints each and the worst")
    ap.add_argument("--nonrigid-frequency", type=int, default=2,
                    help="highest deformation frequency of --field-seeds (half cycles)")
    ap.add_argument("--tmp", default=None, help="folder for the simulated TIFFs")
    ap.add_argument("--out", default=None, help="write the Markdown table here")
    args = ap.parse_args(argv)
    rows: list[dict] = []
    with tempfile.TemporaryDirectory(dir=args.tmp) as tmp:
        folder = Path(tmp)
        if args.field_seeds:
            size, n = (int(v) for v in args.sizes[0].lower().split("x"))
            field_seeds_case(size, n, list(range(1, args.field_seeds + 1)), folder,
                             frequency=args.nonrigid_frequency)
            return 0
        for spec in args.sizes:
            size, n = (int(v) for v in spec.lower().split("x"))
            for mode in args.modes:
                run_case(size, n, mode == "pw", folder, args.suite2p_python, rows,
                         repeat=args.repeat)
        for spec in args.memory:
            size, n = (int(v) for v in spec.lower().split("x"))
            where = Path(args.keep_movies) if args.keep_movies else folder
            memory_case(size, n, False, where, rows)
            if args.memory_metrics:
                memory_case(size, n, False, where, rows, metrics=True)
            if not args.keep_movies:
                os.remove(where / f"long_{size}_{n}.tif")
    text = table(rows)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"(this process peak RSS {rss:.0f} MB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
