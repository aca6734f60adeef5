"""One CNMF fit in a fresh process, with its time and memory: the worker of the CNMF benchmarks.

``python benchmarks/cnmf_worker.py MOVIE.tif OUT_FOLDER '{"gSig": 4, ...}'`` fits
``napari_amnesia.core.cnmf.fit(open_movie(MOVIE), **params)``, saves the result in
OUT_FOLDER and prints one JSON line: ``time_s``, ``peak_rss_mb`` (the process's high-water
mark), ``rss_increase_mb`` (above the movie opened), ``peak_pss_mb`` (proportional set
size, sampled every 10 ms: shared pages counted once), ``timings``, ``K``, ``accepted``,
``n_patches``, ``chosen`` (the automatic sizes), ``capped`` and the JSON-able ``info``.
``bench_cnmf.py``, ``bench_cnmf_defaults.py`` and ``bench_neurofinder.py`` run it, one
process per fit, so one fit's memory never counts in another's.
"""

import json
import sys
import threading
import time


def _pss_mb() -> float:
    with open("/proc/self/smaps_rollup") as fh:
        return next(int(line.split()[1]) / 1024 for line in fh if line.startswith("Pss:"))


def main(tif: str, out: str, params: dict) -> dict:
    from napari_amnesia._memory import peak_mb, reset_peak
    from napari_amnesia.core import cnmf
    from napari_amnesia.core.io import open_movie

    pss = {"peak": 0.0, "run": True}

    def sample() -> None:  # PSS has no high-water mark: sampled
        while pss["run"]:
            pss["peak"] = max(pss["peak"], _pss_mb())
            time.sleep(0.01)

    movie = open_movie(tif)
    base = reset_peak()
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    t0 = time.perf_counter()
    result = cnmf.fit(movie, **params)
    elapsed = time.perf_counter() - t0
    pss["run"] = False
    sampler.join()
    peak = peak_mb()
    result.save(out, overwrite=True)
    sizes = result.info.get("sizes", {})
    return {"time_s": elapsed, "peak_rss_mb": peak, "rss_increase_mb": peak - base,
            "peak_pss_mb": pss["peak"], "timings": result.info.get("timings", {}),
            "K": int(result.K), "accepted": int(result.accepted.sum()),
            "n_patches": result.info.get("n_patches"),
            "chosen": {k: v.get("value") for k, v in sizes.items() if isinstance(v, dict)},
            "capped": result.info.get("k_capped"),
            "info": {k: v for k, v in result.info.items()
                     if isinstance(v, (int, float, str, bool, list))}}


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], sys.argv[2], json.loads(sys.argv[3])), default=str))
