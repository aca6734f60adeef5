"""Speed and memory of opening a large contiguous TIFF (run by hand, not in CI).

Writes a synthetic uint16 movie (about 2 GB by default) with
:func:`napari_amnesia.core.io.save_movie`, chunk by chunk, then measures in a fresh
subprocess each:

* ``open_movie`` + mean over time (per-chunk memory maps, the library's way);
* the naive ``da.from_array(tifffile.memmap(path))`` + mean over time;
* ``open_movie`` + fetching one frame in the middle (what napari does on open);
* the naive memmap + fetching one frame.

Peak RSS is the subprocess's ``VmHWM`` (Linux), reset after the imports through
``/proc/self/clear_refs``; the increase is over the RSS at that moment. (``ru_maxrss``
alone would mislead: Linux keeps it across fork+exec, so a child reports its parent's
peak.) The file is read from the page
cache after writing (warm cache), so times are CPU and memory bound, not disk bound.
The table is printed as markdown; the file is deleted at the end unless ``--keep``.

Usage::

    python benchmarks/bench_io.py --size-gb 2 --dir /tmp
"""

from __future__ import annotations

import argparse
import json
import logging
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

logger = logging.getLogger("bench_io")

CASES = {
    "open_movie + mean over time": """
        movie = open_movie(path)
        result = movie.mean(axis=0).compute()
    """,
    "naive from_array(tifffile.memmap) + mean over time": """
        movie = da.from_array(tifffile.memmap(path))
        result = movie.mean(axis=0).compute()
    """,
    "open_movie + one middle frame": """
        movie = open_movie(path)
        result = movie[movie.shape[0] // 2].compute()
    """,
    "naive from_array(tifffile.memmap) + one middle frame": """
        movie = da.from_array(tifffile.memmap(path))
        result = movie[movie.shape[0] // 2].compute()
    """,
}

RUNNER = """
import json, sys, time
import dask
import dask.array as da
import numpy as np
import tifffile
from napari_amnesia._memory import peak_mb, reset_peak
from napari_amnesia.core.io import open_movie

if {workers}:
    dask.config.set(scheduler="threads", num_workers={workers})
path = sys.argv[1]
before = reset_peak()
start = time.perf_counter()
{body}
wall = time.perf_counter() - start
print(json.dumps({{"wall_s": wall, "peak_mb": peak_mb(), "increase_mb": peak_mb() - before,
                  "check": float(np.asarray(result, dtype=np.float64).mean())}}))
"""


def write_movie(path: Path, size_gb: float, frame_shape: tuple[int, int]) -> dict:
    """Write a synthetic uint16 movie of about ``size_gb`` GB, chunk by chunk."""
    import dask.array as da
    import numpy as np

    from napari_amnesia.core.io import save_movie

    y, x = frame_shape
    n_frames = max(1, int(size_gb * 1e9 // (y * x * 2)))

    base = ((np.arange(y)[:, None] * 3 + np.arange(x)[None, :]) % 4096).astype(np.uint16)

    def frames(block, block_info=None):
        t0 = block_info[None]["array-location"][0][0]
        t = (np.arange(t0, t0 + block.shape[0]) * 7 % 4096).astype(np.uint16)
        return t[:, None, None] + base[None]  # cheap to make: the write is what is timed

    movie = da.zeros((n_frames, y, x), dtype=np.uint16, chunks=(64, y, x)).map_blocks(
        frames, dtype=np.uint16
    )
    start = time.perf_counter()
    save_movie(movie, path, overwrite=True)
    wall = time.perf_counter() - start
    return {"n_frames": n_frames, "bytes": path.stat().st_size, "wall_s": wall}


def run_case(body: str, path: Path, workers: int) -> dict:
    code = RUNNER.format(body=textwrap.indent(textwrap.dedent(body), ""), workers=workers)
    done = subprocess.run(
        [sys.executable, "-c", code, str(path)], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        return {"error": done.stderr.strip().splitlines()[-1] if done.stderr else "failed"}
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-gb", type=float, default=2.0, help="movie size (default 2)")
    parser.add_argument("--dir", type=Path, default=None, help="where to write the movie")
    parser.add_argument("--frame", type=int, nargs=2, default=(512, 512), metavar=("Y", "X"))
    parser.add_argument("--workers", type=int, default=0, help="dask threads (0: default)")
    parser.add_argument("--keep", action="store_true", help="keep the movie afterwards")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    folder = Path(tempfile.mkdtemp(prefix="amnesia-bench-", dir=args.dir))
    path = folder / "synthetic.tif"
    try:
        logger.info("writing %.1f GB to %s ...", args.size_gb, path)
        written = write_movie(path, args.size_gb, tuple(args.frame))
        logger.info(
            "wrote %d frames, %.2f GB in %.1f s",
            written["n_frames"],
            written["bytes"] / 1e9,
            written["wall_s"],
        )
        rows = []
        for name, body in CASES.items():
            logger.info("running: %s", name)
            rows.append((name, run_case(body, path, args.workers)))
        size_gb = written["bytes"] / 1e9
        lines = [
            f"Contiguous uint16 TIFF, {written['n_frames']} frames of "
            f"{args.frame[0]}x{args.frame[1]}, {size_gb:.2f} GB (warm page cache); "
            f"save_movie wrote it in {written['wall_s']:.1f} s.",
            "",
            "| case | wall (s) | peak RSS (MB) | RSS increase (MB) |",
            "|---|---:|---:|---:|",
        ]
        for name, r in rows:
            if "error" in r:
                lines.append(f"| {name} | failed: {r['error']} | | |")
            else:
                lines.append(
                    f"| {name} | {r['wall_s']:.2f} | {r['peak_mb']:.0f} | {r['increase_mb']:.0f} |"
                )
        print("\n".join(lines))
    finally:
        if not args.keep:
            path.unlink(missing_ok=True)
            try:
                folder.rmdir()
            except OSError:
                pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
