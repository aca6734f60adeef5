"""Speed and memory of the streaming summary images (run by hand).

Writes (once) a synthetic ``512 x 512 x N`` uint16 contiguous TIFF, then measures,
each in a fresh subprocess, wall time (open + one pass), frames/s and peak memory
for:

- ``summary_images(open_movie(path))`` with the default parameters (no spatial
  filter, ``gsig=None``);
- the same with CaImAn's one-photon spatial filter (``gsig=3``);
- ``local_correlations`` alone;
- a straightforward in-memory numpy implementation (whole movie in memory, then
  vectorized formulas for mean/max/std and the 8-neighbour local correlation), on
  at most ``--numpy-frames`` frames because it needs ~6 bytes x pixels x frames.

Peak memory is reported twice: ``ru_maxrss`` (includes file pages mapped by a
memory-mapped reader, which the kernel can drop at will) and the peak of the
anonymous resident memory (``RssAnon``, sampled every 20 ms), which is what the
computation really holds. The CPU time (user + system, all threads) of each run
is reported too: on a shared machine it moves much less than the wall time. The
load average before the measurements is printed; measure on an idle machine.

Usage::

    python benchmarks/bench_summary.py --frames 10000 --repeats 3 --delete
    python benchmarks/bench_summary.py --path movie.tif --cases summary numpy

It prints a markdown table (median of the repeats) ready for docs/summary.md.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

logger = logging.getLogger("bench_summary")

CHILD = r"""
import json, resource, sys, threading, time
import numpy as np
path, case, nmax = sys.argv[1], sys.argv[2], int(sys.argv[3])
peak = [0]
stop = threading.Event()
def anon():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("RssAnon:"):
                return int(line.split()[1]) * 1024
    return 0
def sample():
    while not stop.is_set():
        peak[0] = max(peak[0], anon())
        time.sleep(0.02)
th = threading.Thread(target=sample, daemon=True); th.start()
from napari_amnesia.core import summary as S
try:
    from napari_amnesia.core.io import open_movie
except ImportError:
    open_movie = None
def open_(p):
    if open_movie is not None:
        return open_movie(p)
    import tifffile
    return tifffile.memmap(p)
# warm the numba cache outside the timing (compilation is reported separately):
# the movie's dtype, a power-of-two noise segment, the case's filter
tiny = (np.arange(64 * 16 * 16).reshape(64, 16, 16) % 7).astype(open_(path).dtype)
S.summary_images(tiny, noise_frames=32, gsig=3 if case == "summary_gsig3" else None)
base = anon()
r0 = resource.getrusage(resource.RUSAGE_SELF)
t0 = time.perf_counter()
if case == "numpy":
    movie = open_(path)
    n = min(nmax, movie.shape[0])
    y = np.asarray(movie[:n]).astype(np.float32)
    mean = y.mean(0); mx = y.max(0); sd = y.std(0)
    z = (y - mean) / np.where(sd > 0, sd, np.inf)
    rho = np.zeros(y.shape[1:], np.float32)  # (count normalization omitted: same cost)
    h, t, a_ = slice(None, -1), slice(1, None), slice(None)
    for a, b in [((a_, h), (a_, t)), ((h, a_), (t, a_)), ((h, h), (t, t)), ((h, t), (t, h))]:
        r = (z[(slice(None),) + a] * z[(slice(None),) + b]).mean(0)
        rho[a] += r; rho[b] += r
    frames = n
else:
    movie = open_(path)
    frames = movie.shape[0]
    if case == "summary":
        S.summary_images(movie)
    elif case == "summary_gsig3":
        S.summary_images(movie, gsig=3)
    elif case == "localcorr":
        S.local_correlations(movie)
wall = time.perf_counter() - t0
r1 = resource.getrusage(resource.RUSAGE_SELF)
cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
stop.set(); th.join()
print(json.dumps({"wall": wall, "frames": frames, "cpu": cpu,
                  "maxrss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
                  "anon_peak": peak[0], "anon_base": base}))
"""

COMPILE = r"""
import time, numpy as np
t0 = time.perf_counter()
from napari_amnesia.core import summary as S
t1 = time.perf_counter()
tiny = np.random.default_rng(0).integers(0, 99, (64, 24, 24)).astype(np.uint16)
S.summary_images(tiny, noise_frames=32)
S.summary_images(tiny, noise_frames=32, gsig=3)
t2 = time.perf_counter()
print(f"{t1 - t0:.2f} {t2 - t1:.2f}")
"""

CASES = {
    "summary": "`summary_images(open_movie(path))` (defaults: all images, gsig=None)",
    "summary_gsig3": "`summary_images(open_movie(path), gsig=3)` (one-photon filter)",
    "localcorr": "`local_correlations(open_movie(path))`",
    "numpy": "in-memory numpy reference (mean/max/std/corr only, whole movie in memory)",
}


def write_movie(path: Path, n_frames: int, shape: tuple[int, int], simple: bool) -> None:
    """Write the synthetic movie with core.simulate if available, else a simple one."""
    t0 = time.perf_counter()
    if not simple:
        try:
            from napari_amnesia.core.simulate import write_simulated_movie
        except ImportError:
            simple = True
    if not simple:
        write_simulated_movie(path, n_frames=n_frames, shape=shape)
    else:
        import numpy as np
        import tifffile

        rng = np.random.default_rng(0)
        yy, xx = np.mgrid[: shape[0], : shape[1]]
        cells = [(rng.uniform(0, shape[0]), rng.uniform(0, shape[1])) for _ in range(60)]
        feet = np.stack([np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / 18.0) for cy, cx in cells])

        def frames():
            for t0_ in range(0, n_frames, 250):
                n = min(250, n_frames - t0_)
                act = (rng.random((n, len(cells))) < 0.01) * 300.0
                block = 400 + rng.normal(0, 20, (n,) + shape) + np.tensordot(act, feet, 1)
                yield from np.clip(block, 0, 65535).astype(np.uint16)

        tmp = path.with_suffix(".part.tif")
        tifffile.imwrite(tmp, frames(), shape=(n_frames,) + shape, dtype=np.uint16,
                         bigtiff=True, contiguous=True)
        os.replace(tmp, path)
    logger.info("wrote %s in %.0f s", path, time.perf_counter() - t0)


def run_case(path: Path, case: str, numpy_frames: int) -> dict:
    env = dict(os.environ)
    src = str(Path(__file__).resolve().parents[1] / "src")
    env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(path), case, str(numpy_frames)],
        capture_output=True, text=True, env=env, check=False,
    )
    if out.returncode != 0:
        raise RuntimeError(f"case {case} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def compile_times() -> tuple[float, float, float]:
    """(import, first call with an empty numba cache, first call with a warm cache)."""
    env = dict(os.environ)
    src = str(Path(__file__).resolve().parents[1] / "src")
    env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    with tempfile.TemporaryDirectory() as cache:
        env["NUMBA_CACHE_DIR"] = cache
        cold = subprocess.run([sys.executable, "-c", COMPILE], capture_output=True,
                              text=True, env=env, check=True).stdout.split()
        warm = subprocess.run([sys.executable, "-c", COMPILE], capture_output=True,
                              text=True, env=env, check=True).stdout.split()
    return float(cold[0]), float(cold[1]), float(warm[1])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=10000)
    parser.add_argument("--size", type=int, nargs=2, default=(512, 512), metavar=("Y", "X"))
    parser.add_argument("--path", type=Path, default=None,
                        help="movie file (default: a file in the temporary folder)")
    parser.add_argument("--repeats", type=int, default=1, help="report the median")
    parser.add_argument("--numpy-frames", type=int, default=2000,
                        help="frames for the in-memory numpy case (it holds them all)")
    parser.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES))
    parser.add_argument("--simple", action="store_true",
                        help="write a simple synthetic movie instead of core.simulate's")
    parser.add_argument("--delete", action="store_true", help="delete the movie at the end")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    shape = tuple(args.size)
    path = args.path or Path(tempfile.gettempdir()) / (
        f"amnesia_bench_summary_{shape[0]}x{shape[1]}x{args.frames}.tif")
    if not path.exists():
        write_movie(path, args.frames, shape, args.simple)
    try:
        load = os.getloadavg()
        imp, cold, warm = compile_times()
        logger.info("import %.2f s; first call: %.1f s with an empty numba cache, "
                    "%.2f s with the cache filled", imp, cold, warm)
        rows = []
        for case in args.cases:
            runs = [run_case(path, case, args.numpy_frames) for _ in range(args.repeats)]
            wall = statistics.median(r["wall"] for r in runs)
            frames = runs[0]["frames"]
            cpu = statistics.median(r["cpu"] for r in runs)
            rows.append((CASES[case], frames, wall, frames / wall, cpu,
                         max(r["maxrss"] for r in runs) / 2**30,
                         max(r["anon_peak"] for r in runs) / 2**30))
            logger.info("%s: %s s", case, " ".join(f"{r['wall']:.1f}" for r in runs))
        size_gb = path.stat().st_size / 2**30
        print(f"\nMovie: {shape[0]}x{shape[1]}x{args.frames} uint16, {size_gb:.1f} GiB, "
              f"{os.cpu_count()} CPUs; median of {args.repeats}; load average before: "
              f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}\n")
        print("| case | frames | wall (s) | frames/s | CPU (s) | peak anonymous RSS (GiB) "
              "| peak ru_maxrss (GiB) |")
        print("|---|---:|---:|---:|---:|---:|---:|")
        for name, frames, wall, fps, cpu, rss, anon in rows:
            print(f"| {name} | {frames} | {wall:.1f} | {fps:.0f} | {cpu:.1f} | {anon:.2f} "
                  f"| {rss:.2f} |")
        print(f"\nnumba: import {imp:.1f} s; first call {cold:.1f} s with an empty cache "
              f"(compilation), {warm:.1f} s with the cache filled")
    finally:
        if args.delete:
            path.unlink(missing_ok=True)


if __name__ == "__main__":
    main()
