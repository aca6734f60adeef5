"""Where a batch runs: here, a ``LocalCluster`` started for the run, or a running cluster.

:func:`connect` is the one way ``amnesia batch`` (``--workers N`` /
``--scheduler ADDRESS``), the Batch dock (*workers* / *scheduler*) and scripts get a
``distributed.Client``: it checks the choice, starts or reaches the cluster, and
closes what it started when the batch ends, fails or is cancelled. Its messages
name the option as the caller's interface spells it (``labels``).

Examples
--------
>>> from napari_amnesia.core.batch.cluster import connect, where
>>> where(None, None)
'here'
>>> with connect() as client:  # neither workers nor a scheduler: no cluster
...     client is None
True
>>> where(None, 4)
'4 local worker process(es)'
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

__all__ = ["connect", "check_cluster", "where", "describe"]

#: How a message names the two choices when the caller gives no ``labels``.
LABELS = {"scheduler": "scheduler", "workers": "workers"}


def _labels(labels: Mapping[str, str] | None) -> dict[str, str]:
    return {**LABELS, **(labels or {})}


def check_cluster(scheduler: Any = None, workers: int | None = None, *,
                  labels: Mapping[str, str] | None = None) -> tuple[str, Any]:
    """Check where a batch should run, without starting or reaching anything.

    Parameters
    ----------
    scheduler : str or path, optional
        A running cluster: its scheduler's address (``tcp://HOST:8786``,
        ``HOST:8786``) or a scheduler file (``dask scheduler --scheduler-file``).
    workers : int, optional
        Start a ``LocalCluster`` of this many worker processes (one thread each).
    labels : mapping, optional
        How the caller's interface names ``"scheduler"`` and ``"workers"`` in its
        messages (``{"scheduler": "--scheduler", "workers": "--workers"}`` on the
        command line).

    Returns
    -------
    kind : {"here", "workers", "address", "file"}
    value : None, int or str
        The number of workers, the address or the scheduler file's path.

    Raises
    ------
    ValueError
        Both given, or ``workers`` not a whole number of at least 1.
    FileNotFoundError
        ``scheduler`` is neither an address nor an existing file.

    Examples
    --------
    >>> check_cluster("tcp://10.0.0.5:8786")
    ('address', 'tcp://10.0.0.5:8786')
    >>> check_cluster(workers=0, labels={"workers": "--workers"})
    Traceback (most recent call last):
    ...
    ValueError: --workers should be at least 1, got 0.
    """
    names = _labels(labels)
    text = "" if scheduler is None else os.fspath(scheduler).strip()
    if text and workers is not None:
        raise ValueError(f"give either {names['workers']} or {names['scheduler']}, not both: "
                         f"{names['workers']} starts a cluster of its own.")
    if workers is not None:
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise ValueError(f"{names['workers']} should be at least 1, got {workers}.")
        return "workers", workers
    if not text:
        return "here", None
    path = Path(os.path.expanduser(text))
    if path.is_file():
        return "file", os.fspath(path)
    host_port = text.split("://", 1)[-1]
    if "://" in text or (":" in host_port and host_port.rsplit(":", 1)[-1].isdigit()):
        return "address", text
    raise FileNotFoundError(f"{names['scheduler']} {text!r} is neither an address "
                            "(tcp://HOST:8786) nor an existing scheduler file.")


def where(scheduler: Any = None, workers: int | None = None) -> str:
    """Say in words where a batch with these choices runs (for a status line)."""
    kind, value = check_cluster(scheduler, workers)
    if kind == "here":
        return "here"
    if kind == "workers":
        return f"{value} local worker process(es)"
    return f"the cluster at {value}"


def describe(client: Any) -> str:
    """Say which cluster ``client`` reached: its scheduler, workers and dashboard link."""
    if client is None:
        return "this process"
    try:
        n = len(client.scheduler_info().get("workers", {}))
    except Exception:  # noqa: BLE001 - a description must not fail the batch
        n = None
    workers = "" if n is None else f", {n} worker(s)"
    return (f"scheduler {client.scheduler.address}{workers}; dashboard "
            f"{client.dashboard_link}")


def _scheduler_address(path: str, label: str) -> str:
    """Return the address a scheduler file (``dask scheduler --scheduler-file``) gives."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise OSError(f"{label} {path}: not a scheduler file ({exc}).") from None
    address = data.get("address") if isinstance(data, dict) else None
    if not isinstance(address, str) or not address:
        raise OSError(f"{label} {path}: not a scheduler file (it names no 'address'; "
                      "dask scheduler --scheduler-file writes one).")
    return address


@contextlib.contextmanager
def connect(scheduler: Any = None, workers: int | None = None, *,
            labels: Mapping[str, str] | None = None, timeout: str = "20s",
            ) -> Iterator[Any]:
    """Yield the ``distributed.Client`` a batch runs on, or None to run here.

    Parameters
    ----------
    scheduler : str or path, optional
        A running cluster's scheduler address (``tcp://HOST:8786`` or
        ``HOST:8786``) or scheduler file: the client connects to it and is closed
        at the end (the cluster keeps running).
    workers : int, optional
        Start a ``LocalCluster`` of ``workers`` processes with one thread each
        for the run; it is closed at the end, whatever happens.
    labels : mapping, optional
        How messages name ``"scheduler"`` and ``"workers"`` (see
        :func:`check_cluster`).
    timeout : str
        How long to try to reach a scheduler.

    Yields
    ------
    distributed.Client or None
        None when neither is given. The client is not made dask's default
        scheduler: dask arrays of the calling process (a viewer's movies) keep
        computing here.

    Raises
    ------
    ValueError, FileNotFoundError
        A bad choice (:func:`check_cluster`).
    OSError
        The scheduler could not be reached, or its file is not a scheduler
        file; the message names the scheduler.
    """
    names = _labels(labels)
    kind, value = check_cluster(scheduler, workers, labels=names)
    if kind == "here":
        yield None
        return
    from distributed import Client, LocalCluster

    if kind == "workers":
        # NUMBA_NUM_THREADS: numba's parallel loops would otherwise use every core of
        # the machine in each one-thread worker (the nanny already pins BLAS/OpenMP)
        with LocalCluster(n_workers=value, threads_per_worker=1, processes=True,
                          dashboard_address=":0", env={"NUMBA_NUM_THREADS": "1"}) as cluster, \
                Client(cluster, set_as_default=False) as client:
            yield client
        return
    address = _scheduler_address(value, names["scheduler"]) if kind == "file" else value
    try:
        client = Client(address, timeout=timeout, set_as_default=False)
    except (OSError, ValueError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        target = f" to {address}" if address != value else ""
        message = f"{names['scheduler']} {value}: could not connect{target} ({reason})."
        del exc
        gc.collect()  # close the half-made client now, while its event loop runs
        raise OSError(message) from None
    with client:
        yield client
