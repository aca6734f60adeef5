"""A batch of recordings on dask.distributed: 2 workers against 1 (run by hand).

Writes (once) ``--recordings`` simulated movies of ``--size``² × ``--frames`` (uint16
TIFFs, different seeds) to a folder, then runs one configuration over all of them
with :func:`napari_amnesia.core.batch.run_batch`, side by side in one run:

- ``1 worker``: a ``LocalCluster`` of one worker process with one thread (the
  recordings one after the other);
- ``N workers``: a ``LocalCluster`` of ``--workers`` processes with one thread each.

For each it reports the wall time, the ratio to the 1-worker run (issue 15's target:
≤ 0.55 with 2 workers on 8 recordings of 256² × 1500), the peak memory of each worker
process (anonymous resident memory ``RssAnon`` sampled every 50 ms inside the
worker, and ``ru_maxrss``, which also counts the file pages of memory-mapped
movies; target ≤ 1.5 GB), the scheduling overhead per recording (the time a worker
was not running a recording's task: ``(wall × workers − Σ task times) /
recordings``, idle workers at the end of an uneven batch included; target < 1 s),
and the time outside the stages' computations (the overhead plus opening movies and
writing results folders). It checks that both runs give the same rows (components,
accepted, shifts, warnings).

To tell why a ratio misses its target it also prints, per case, the mean and the
longest recording's task time (a task that runs slower beside another one means
the two workers compete for the CPUs — on a shared machine, with other work too)
and the best ratio the recordings' own times allow (``max(longest, Σ/N)`` over
the 1-worker wall: one long recording bounds it).

``--long F`` adds the memory figure at another length: one worker runs one
recording of F frames (default 2 × ``--frames``), so the peak per worker is shown
at both lengths (the target holds "whatever the recording length").
``--repeats R`` runs the 1-worker / N-worker pair R times and reports the medians.

The stages choose their own thread counts from the CPUs the process may use; on a
machine shared with other work, the wall times move: the CPU count and the load
average (``os.getloadavg``, as ``uptime`` prints it) are printed before and after
each case.

Usage::

    python benchmarks/bench_batch.py                              # 8 × 256² × 1500
    python benchmarks/bench_batch.py --recordings 4 --frames 600  # a quick run
    python benchmarks/bench_batch.py --data /scratch/study --keep # reuse the movies

It prints markdown tables.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

COMPARED = ("status", "frames", "largest_shift", "components", "accepted", "median_snr",
            "warnings")


def _config(size: int) -> dict:
    """The seed's pipeline: piecewise-rigid motion correction, summary, CNMF with patches."""
    return {"motion": {"pw_rigid": size >= 128, "max_shifts": [6, 6]},
            "summary": {},
            "cnmf": {"gSig": [4, 4], "fr": 30.0}}


def write_study(folder: Path, n: int, frames: int, size: int, first: int = 0) -> list[Path]:
    """Write ``n`` simulated recordings (skipped when already there)."""
    from napari_amnesia.core.simulate import write_simulated_movie

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for seed in range(first, first + n):
        path = folder / f"animal_{seed + 1}_{size}x{frames}.tif"
        if not path.exists():
            write_simulated_movie(path, n_frames=frames, shape=(size, size), rng=seed)
        paths.append(path)
    return paths


def _start_sampler(dask_worker):
    """Inside a worker: sample the process's anonymous resident memory every 50 ms."""
    import threading

    def anon() -> int:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("RssAnon:"):
                    return int(line.split()[1]) * 1024
        return 0

    dask_worker.amnesia_peak = anon()

    def sample() -> None:
        while True:
            dask_worker.amnesia_peak = max(dask_worker.amnesia_peak, anon())
            time.sleep(0.05)

    threading.Thread(target=sample, daemon=True).start()


def _peaks(dask_worker):
    import resource

    return dask_worker.amnesia_peak, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _load() -> str:
    return "/".join(f"{x:.2f}" for x in os.getloadavg())


def run_case(workers: int, recordings: list[Path], out: Path, config: dict) -> dict:
    """Run the batch on a fresh LocalCluster of ``workers`` one-thread processes."""
    from napari_amnesia.core.batch import run_batch
    from napari_amnesia.core.batch.cluster import connect

    load_before = _load()
    with connect(workers=workers) as client:
        client.run(_start_sampler)
        start = time.perf_counter()
        result = run_batch(config, recordings, out, client=client, force=True)
        wall = time.perf_counter() - start
        peaks = client.run(_peaks)
    stages = sum(v for row in result.rows for k, v in row.items()
                 if k.startswith("elapsed_") and v is not None)
    times = [row["elapsed"] or 0.0 for row in result.rows]
    return {"workers": workers, "wall": wall, "rows": result.rows,
            "frames": result.rows[0]["frames"], "n": len(recordings),
            "anon": max(p[0] for p in peaks.values()),
            "maxrss": max(p[1] for p in peaks.values()),
            "outside": (wall * workers - stages) / len(recordings),
            "overhead": (wall * workers - sum(times)) / len(recordings),
            "mean_task": sum(times) / len(times), "longest": max(times), "sum": sum(times),
            "load": f"{load_before} → {_load()}",
            "failed": [r["error"] for r in result.rows if r["status"] == "failed"]}


def _median(values: list[float]) -> float:
    values = sorted(values)
    n = len(values)
    return values[n // 2] if n % 2 else (values[n // 2 - 1] + values[n // 2]) / 2


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--recordings", type=int, default=8)
    parser.add_argument("--frames", type=int, default=1500)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--long", type=int, default=None, metavar="F",
                        help="also one recording of F frames on one worker, for the peak "
                        "memory at another length (default: 2 × --frames; 0: skip)")
    parser.add_argument("--repeats", type=int, default=1,
                        help="run the 1-worker / N-worker pair this many times (medians)")
    parser.add_argument("--data", type=Path, default=None,
                        help="folder of the simulated movies (default: a temporary one)")
    parser.add_argument("--keep", action="store_true", help="keep the movies and results")
    args = parser.parse_args(argv)

    import dask

    from napari_amnesia import __version__

    data = args.data or Path(tempfile.mkdtemp(prefix="bench-batch-"))
    long = 2 * args.frames if args.long is None else args.long
    try:
        t0 = time.perf_counter()
        recordings = write_study(data / "movies", args.recordings, args.frames, args.size)
        longer = write_study(data / "movies", 1, long, args.size, first=100) if long else []
        print(f"napari-amnesia {__version__}, dask {dask.__version__}; {os.cpu_count()} CPUs, "
              f"load average {_load()} (1/5/15 min); {args.recordings} recordings of "
              f"{args.size}²×{args.frames} ready in {time.perf_counter() - t0:.0f} s",
              file=sys.stderr)
        config = _config(args.size)
        pairs = []
        for repeat in range(args.repeats):
            pair = [run_case(1, recordings, data / "out-1", config),
                    run_case(args.workers, recordings, data / f"out-{args.workers}", config)]
            print(f"repeat {repeat + 1}: 1 worker {pair[0]['wall']:.1f} s (load "
                  f"{pair[0]['load']}), {args.workers} workers {pair[1]['wall']:.1f} s "
                  f"(load {pair[1]['load']})", file=sys.stderr)
            pairs.append(pair)
        cases = pairs[-1]
        same = all([[r[k] for k in COMPARED] for r in pair[0]["rows"]]
                   == [[r[k] for k in COMPARED] for r in pair[1]["rows"]] for pair in pairs)
        walls = [[pair[j]["wall"] for pair in pairs] for j in (0, 1)]
        ratios = [pair[1]["wall"] / pair[0]["wall"] for pair in pairs]
        print(f"\n{args.recordings} recordings of {args.size}²×{args.frames}, config {config}; "
              f"{os.cpu_count()} CPUs; {args.repeats} repeat(s), medians\n")
        print("| workers | wall (s) | ratio to 1 worker | peak RssAnon / worker (MB) "
              "| peak ru_maxrss / worker (MB) | scheduling overhead / recording (s) "
              "| outside the stages / recording (s) | mean / longest task (s) "
              "| load average before → after (1/5/15 min) |")
        print("|---|---|---|---|---|---|---|---|---|")
        for j, case in enumerate(cases):
            ratio = _median(ratios) if j else 1.0
            print(f"| {case['workers']} | {_median(walls[j]):.1f} | {ratio:.2f} "
                  f"| {case['anon'] / 1e6:.0f} | {case['maxrss'] / 1e6:.0f} "
                  f"| {case['overhead']:.2f} | {case['outside']:.2f} "
                  f"| {case['mean_task']:.1f} / {case['longest']:.1f} | {case['load']} |")
        one = cases[0]
        bound = max(one["longest"], one["sum"] / args.workers) / one["wall"]
        slower = cases[1]["mean_task"] / one["mean_task"]
        print(f"\nbest ratio the 1-worker task times allow with {args.workers} workers: "
              f"{bound:.2f}; a task takes {slower:.2f}× its 1-worker time when "
              f"{args.workers} run at once (CPU contention); ratios of each repeat: "
              + ", ".join(f"{r:.2f}" for r in ratios), flush=True)
        memory = [run_case(1, longer, data / "out-long", config)] if longer else []
        if memory:
            print("\n| recording | workers | peak RssAnon / worker (MB) "
                  "| peak ru_maxrss / worker (MB) | task (s) |")
            print("|---|---|---|---|---|")
            for case in (one, *memory):
                print(f"| {case['n']} × {args.size}²×{case['frames']} | 1 "
                      f"| {case['anon'] / 1e6:.0f} | {case['maxrss'] / 1e6:.0f} "
                      f"| {case['mean_task']:.1f} |")
        print(f"\nsame rows (components, accepted, shifts, SNR, warnings) both ways: {same}")
        for case in (*[c for pair in pairs for c in pair], *memory):
            if case["failed"]:
                print(f"{case['workers']} worker(s): failed: {case['failed']}")
        failed = any(c["failed"] for pair in pairs for c in pair) or any(
            c["failed"] for c in memory)
        return 0 if same and not failed else 1
    finally:
        if not args.keep and args.data is None:
            shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
