"""Speed and memory of the exchange formats (issue 18; run by hand, not in CI).

NWB section (:func:`bench_nwb`): a synthetic CNMF result of ``--rois`` components
(Gaussian footprints of ~4 px radius spread over a ``--frame`` field) and
``--frames`` frames (raw, denoised and deconvolved traces and ΔF/F, all float32) is
saved as a results folder (``summary.json``, ``summary/`` images, ``cnmf/result/``)
and exported with :func:`napari_amnesia.core.formats.nwb.write_nwb` in a fresh
subprocess. A smaller result (100 ROIs, ``--movie-frames`` frames) is exported with
its movie linked, then copied into the file (the speed of a copy). Each run reports the
wall time, the CPU time of all its threads (chunks are compressed on every core),
the machine's load average when it ended (the wall time of a shared machine grows
with it), the peak resident memory of the whole process (``VmHWM``: imports and the
loading of the results included) and its increase over the imports, and the file's
size. The target of issue 18 is 1000 ROIs x 30000 frames in <= 30 s and <= 1 GB.

suite2p section (:func:`bench_suite2p`): a suite2p plane of ``--rois`` ROIs (discs of
~80 weighted pixels) and ``--frames`` frames (F, Fneu, spks float32, as suite2p saves
them; stat.npy, iscell.npy, ops.npy) is written as suite2p lays it out, then read in a
fresh subprocess with :func:`napari_amnesia.core.formats.suite2p.read_suite2p` and
imported (read + saved as a CNMF result folder) with
:func:`napari_amnesia.core.formats.import_results`; same columns. The target of issue
18 is importing 1000 ROIs x 30000 frames in <= 10 s.

Usage::

    python benchmarks/bench_export.py                      # 1000 ROIs x 30000 frames
    python benchmarks/bench_export.py --rois 200 --frames 3000 --dir /tmp
    python benchmarks/bench_export.py --only suite2p         # the suite2p import only
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

logger = logging.getLogger("bench_export")

METADATA = {
    "session": {"description": "synthetic benchmark recording",
                "start_time": "2026-01-31T14:05:00+01:00"},
    "subject": {"subject_id": "bench", "species": "Mus musculus", "sex": "U", "age": "P90D"},
    "device": {"name": "Microscope"},
    "imaging": {"technique": "two-photon", "rate": 30.0, "indicator": "GCaMP6f",
                "location": "VISp", "excitation_lambda": 920, "emission_lambda": 510},
}

NWB_RUNNER = """
import json, os, resource, sys, time
from napari_amnesia._memory import peak_mb, reset_peak
from napari_amnesia.core.formats.nwb import write_nwb
import pynwb, h5py  # imported before the window opens, like any warm session

results, out, movie, metadata = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
def cpu():
    use = resource.getrusage(resource.RUSAGE_SELF)
    return use.ru_utime + use.ru_stime

before = reset_peak()
cpu0 = cpu()
start = time.perf_counter()
path = write_nwb(results, out, metadata=metadata, movie=movie, overwrite=True)
wall = time.perf_counter() - start
print(json.dumps({"wall_s": wall, "cpu_s": cpu() - cpu0, "load": os.getloadavg()[0],
                  "peak_mb": peak_mb(), "increase_mb": peak_mb() - before,
                  "base_mb": before, "size_mb": path.stat().st_size / 1e6}))
"""


def make_results(folder: Path, n_rois: int, n_frames: int, frame: tuple[int, int],
                 *, seed: int = 0, movie_frames: int = 0) -> Path:
    """Write a synthetic results folder (what ``amnesia cnmf`` writes) and return it."""
    import numpy as np
    import tifffile
    from scipy import sparse

    from napari_amnesia.core.cnmf import CNMFParams, SourceResult
    from napari_amnesia.core.io import save_movie

    rng = np.random.default_rng(seed)
    Y, X = frame
    r = 7  # footprint window half-width
    yy, xx = np.mgrid[-r:r + 1, -r:r + 1]
    blob = np.exp(-(yy**2 + xx**2) / (2 * 4.0**2)).astype(np.float32)
    blob[blob < 0.05] = 0
    rows, cols, vals = [], [], []
    for k, (cy, cx) in enumerate(zip(rng.integers(r, Y - r, n_rois),
                                     rng.integers(r, X - r, n_rois), strict=True)):
        keep = blob > 0
        pix = ((cy + yy[keep]) * X + (cx + xx[keep])).ravel()
        rows.append(pix)
        cols.append(np.full(pix.size, k))
        vals.append(blob[keep] / np.linalg.norm(blob[keep]))
    A = sparse.csc_matrix((np.concatenate(vals), (np.concatenate(rows),
                                                  np.concatenate(cols))),
                          shape=(Y * X, n_rois), dtype=np.float32)
    spikes = (rng.random((n_rois, n_frames), dtype=np.float32) < 0.01).astype(np.float32)
    traces = np.empty_like(spikes)
    c = np.zeros(n_rois, np.float32)
    for t in range(n_frames):  # AR(1) calcium
        c = 0.95 * c + spikes[:, t]
        traces[:, t] = c
    residual = rng.standard_normal((n_rois, n_frames), dtype=np.float32) * 0.1 + 1.0
    dff = traces / 10.0
    result = SourceResult(
        footprints=A, traces=traces, spikes=spikes, residual_traces=residual,
        background_footprints=np.ones((Y * X, 1), np.float32) / np.sqrt(Y * X),
        background_traces=np.ones((1, n_frames), np.float32), baseline=np.ones(n_rois),
        g=np.full((n_rois, 1), 0.95), lam=np.zeros(n_rois), sn=np.ones(frame),
        shape=frame, params=CNMFParams(fr=30.0), accepted=rng.random(n_rois) < 0.8,
        snr=rng.uniform(1, 10, n_rois), r_values=rng.uniform(0, 1, n_rois), dff=dff)
    del traces, spikes, residual, dff
    (folder / "summary").mkdir(parents=True)
    for name in ("mean", "max", "std", "correlation", "pnr", "correlation_pnr",
                 "max_correlation", "noise"):
        tifffile.imwrite(folder / "summary" / f"{name}.tif",
                         rng.random(frame, dtype=np.float32))
    (folder / "summary" / "params.json").write_text("{}")
    (folder / "summary" / "result.json").write_text(json.dumps({"n_frames": n_frames}))
    (folder / "cnmf").mkdir()
    result.save(folder / "cnmf" / "result")
    info = {"shape": [n_frames, Y, X], "dtype": "uint16"}
    if movie_frames:  # a noisy uint16 movie (baseline 400, sd 20), made chunk by chunk
        import dask.array as da

        movie = da.random.default_rng(seed).normal(400, 20, (movie_frames, Y, X),
                                                   chunks=(100, Y, X)).astype(np.uint16)
        save_movie(movie, folder / "movie.tif")
        info["path"] = str(folder / "movie.tif")
    (folder / "summary.json").write_text(json.dumps({
        "napari_amnesia": "bench", "input": info,
        "stages": {"summary": {"params": {}}, "cnmf": {"params": {"fr": 30.0}}}}))
    return folder


def run_nwb(results: Path, out: Path, movie: str) -> dict:
    done = subprocess.run([sys.executable, "-c", NWB_RUNNER, str(results), str(out), movie,
                           json.dumps(METADATA)], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        return {"error": (done.stderr.strip().splitlines() or ["failed"])[-1]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def bench_nwb(args: argparse.Namespace, folder: Path) -> str:
    """Export synthetic results to NWB; return the markdown table."""
    big = f"{args.rois} ROIs x {args.frames} frames"
    small = f"100 ROIs x {args.movie_frames} frames"
    cases = [(f"{big}, no movie", args.rois, args.frames, 0, "none"),
             (f"{small}, movie linked", 100, args.movie_frames, args.movie_frames, "link"),
             (f"{small}, movie copied", 100, args.movie_frames, args.movie_frames, "copy")]
    made: dict[tuple, Path] = {}
    rows = []
    for name, n_rois, n_frames, movie_frames, movie in cases:
        key = (n_rois, n_frames, movie_frames)
        if key not in made:
            start = time.perf_counter()
            made[key] = make_results(folder / f"results_{len(made)}", n_rois, n_frames,
                                     tuple(args.frame), movie_frames=movie_frames)
            logger.info("made %s in %.1f s", made[key], time.perf_counter() - start)
        logger.info("exporting: %s", name)
        rows.append((name, run_nwb(made[key], folder / f"out_{len(rows)}.nwb", movie)))
    y, x = args.frame
    lines = [f"NWB export, {y}x{x} frames (`python benchmarks/bench_export.py"
             f" --only nwb --rois {args.rois} --frames {args.frames}`)", "",
             "| case | time (s) | CPU time (s) | load | peak RSS (MB) | increase (MB) "
             "| file (MB) |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for name, r in rows:
        if "error" in r:
            lines.append(f"| {name} | error: {r['error']} | | | | | |")
        else:
            lines.append(f"| {name} | {r['wall_s']:.1f} | {r['cpu_s']:.1f} | "
                         f"{r['load']:.1f} | {r['peak_mb']:.0f} | {r['increase_mb']:.0f} | "
                         f"{r['size_mb']:.0f} |")
    return "\n".join(lines)


# ----------------------------------------------------------------------------- suite2p

SUITE2P_RUNNER = """
import json, os, resource, sys, time
from napari_amnesia._memory import peak_mb, reset_peak
from napari_amnesia.core.formats import import_results
from napari_amnesia.core.formats.suite2p import read_suite2p
import h5py, scipy.stats  # imported before the window opens, like any warm session

plane, out = sys.argv[1], sys.argv[2]
def cpu():
    use = resource.getrusage(resource.RUSAGE_SELF)
    return use.ru_utime + use.ru_stime

rows = {}
for what in ("read_suite2p", "import_results"):
    before = reset_peak()
    cpu0, start = cpu(), time.perf_counter()
    if what == "read_suite2p":
        result = read_suite2p(plane)
        K = result.K
        del result
    else:
        import_results(plane, out, overwrite=True)
    rows[what] = {"wall_s": time.perf_counter() - start, "cpu_s": cpu() - cpu0,
                  "load": os.getloadavg()[0], "peak_mb": peak_mb(),
                  "increase_mb": peak_mb() - before, "n_rois": K}
print(json.dumps(rows))
"""


def make_suite2p_plane(folder: Path, n_rois: int, n_frames: int, frame: tuple[int, int],
                       *, seed: int = 0) -> Path:
    """Write a synthetic suite2p plane as suite2p lays it out; return the plane folder.

    ROIs are discs of weights of ~5 px radius (about 80 pixels each, suite2p's typical
    size at 512x512); F, Fneu and spks are float32 ``(ROIs, frames)``, as suite2p
    saves them; ops.npy holds Ly, Lx, fs, neucoeff and the images.
    """
    import numpy as np

    rng = np.random.default_rng(seed)
    Y, X = frame
    r = 5
    yy, xx = np.mgrid[-r:r + 1, -r:r + 1]
    inside = yy**2 + xx**2 <= r * r
    lam = np.exp(-(yy**2 + xx**2) / (2 * 3.0**2))[inside].astype(np.float32)
    stat = []
    for cy, cx in zip(rng.integers(r, Y - r, n_rois), rng.integers(r, X - r, n_rois),
                      strict=True):
        ypix = (cy + yy[inside]).astype(np.int32)
        xpix = (cx + xx[inside]).astype(np.int32)
        stat.append({"ypix": ypix, "xpix": xpix, "lam": lam.copy(), "med": [int(cy), int(cx)],
                     "npix": int(ypix.size), "radius": 3.0, "compact": 1.0,
                     "overlap": np.zeros(ypix.size, bool), "footprint": 1})
    plane = folder / "suite2p" / "plane0"
    plane.mkdir(parents=True)
    np.save(plane / "stat.npy", np.array(stat, dtype=object), allow_pickle=True)
    for name, loc in (("F", 400.0), ("Fneu", 300.0), ("spks", 0.0)):
        arr = np.empty((n_rois, n_frames), np.float32)
        for k0 in range(0, n_rois, 100):  # a block of ROIs at a time
            block = rng.standard_normal((min(100, n_rois - k0), n_frames), dtype=np.float32)
            arr[k0:k0 + 100] = np.abs(block) if name == "spks" else loc + 20 * block
        np.save(plane / f"{name}.npy", arr)
        del arr
    prob = rng.random(n_rois)
    np.save(plane / "iscell.npy", np.stack([(prob > 0.5).astype(float), prob], axis=1))
    mean = rng.random(frame, dtype=np.float32)
    np.save(plane / "ops.npy", np.array({
        "Ly": Y, "Lx": X, "fs": 30.0, "tau": 1.0, "neucoeff": 0.7, "meanImg": mean,
        "max_proj": mean, "Vcorr": mean, "nframes": n_frames}, dtype=object),
        allow_pickle=True)
    return plane


def bench_suite2p(args: argparse.Namespace, folder: Path) -> str:
    """Import a suite2p plane of ``--rois`` x ``--frames``; return the markdown table."""
    frame = tuple(args.frame)
    start = time.perf_counter()
    plane = make_suite2p_plane(folder / "s2p", args.rois, args.frames, frame)
    size = sum(p.stat().st_size for p in plane.iterdir()) / 1e6
    logger.info("suite2p plane of %d ROIs x %d frames (%.0f MB) written in %.1f s",
                args.rois, args.frames, size, time.perf_counter() - start)
    done = subprocess.run([sys.executable, "-c", SUITE2P_RUNNER, str(plane),
                           str(folder / "imported")], capture_output=True, text=True,
                          check=False)
    if done.returncode != 0:
        error = (done.stderr.strip().splitlines() or ["failed"])[-1]
        return f"suite2p import: error: {error}"
    rows = json.loads(done.stdout.strip().splitlines()[-1])
    y, x = frame
    lines = [f"suite2p plane import, {args.rois} ROIs x {args.frames} frames of {y}x{x} "
             f"({size:.0f} MB of .npy; `python benchmarks/bench_export.py --only suite2p"
             f" --rois {args.rois} --frames {args.frames}`)", "",
             "| step | time (s) | CPU time (s) | load | peak RSS (MB) | increase (MB) |",
             "|---|---:|---:|---:|---:|---:|"]
    for what, r in rows.items():
        lines.append(f"| {what} | {r['wall_s']:.1f} | {r['cpu_s']:.1f} | {r['load']:.1f} | "
                     f"{r['peak_mb']:.0f} | {r['increase_mb']:.0f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rois", type=int, default=1000)
    parser.add_argument("--frames", type=int, default=30000)
    parser.add_argument("--frame", type=int, nargs=2, default=(512, 512), metavar=("Y", "X"))
    parser.add_argument("--movie-frames", type=int, default=1000,
                        help="frames of the movie linked and copied (default 1000)")
    parser.add_argument("--dir", type=Path, default=None, help="where to write (a temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the files afterwards")
    parser.add_argument("--only", choices=["nwb", "suite2p"], default=None,
                        help="run one section (default: both)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    folder = Path(tempfile.mkdtemp(prefix="amnesia-bench-export-", dir=args.dir))
    try:
        if args.only in (None, "nwb"):
            print(bench_nwb(args, folder))
        if args.only in (None, "suite2p"):
            print(bench_suite2p(args, folder))
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
