"""Where tasks run: in this process, a local pool of worker processes, or a Dask cluster.

* ``workers <= 1`` and no scheduler: in this process, one task after another.
* local pool: :class:`concurrent.futures.ProcessPoolExecutor` with the ``spawn`` start method and
  ``max_tasks_per_child`` (SPICE backends: a worker is replaced after ``RECYCLE_TASKS`` runs, so memory
  cannot grow over thousands of runs). BLAS is limited to one thread per worker. If a worker dies
  (crash, out of memory) the tasks it may have held are rerun one at a time; the one that kills
  its worker again is recorded as failed, the others complete normally. Workers exit by themselves
  within a second when the parent process dies, even by SIGKILL.
* ``scheduler="tcp://host:port"``: :mod:`dask.distributed` — the tasks are submitted to that
  cluster's workers (which need thermotwin installed). An unreachable scheduler is an error after
  ``CONNECT_TIMEOUT_S``. Dask retries tasks of workers that die and reports ``KilledWorker`` after
  its ``allowed-failures``; such tasks are recorded as failed. SPICE runs are child processes of the
  worker, so their memory is returned after every run; to recycle the Dask workers themselves,
  start them with ``dask worker ADDRESS --lifetime 1h --lifetime-restart``.

The results never depend on where a task ran: every run's seeds are fixed before submission.
"""

from __future__ import annotations

import os
import time
from collections import deque
from contextlib import contextmanager

from ..errors import InputError

#: SPICE runs per worker process before the pool replaces it.
RECYCLE_TASKS = 20
#: How often a pool worker checks that its parent is alive (s).
PARENT_POLL_S = 0.5
#: Seconds to wait for a Dask scheduler before giving up.
CONNECT_TIMEOUT_S = 5.0
_BLAS_ENV = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")


def run_all(tasks: list, fn, on_done, on_fail, workers: int = 1, scheduler: str | None = None,
            recycle: bool = False) -> None:
    """Run ``fn(task)`` for every task; ``on_done(task, result)`` / ``on_fail(task, message)``.

    Callbacks run in this process, in completion order.
    """
    if scheduler:
        _run_dask(tasks, fn, on_done, on_fail, scheduler)
    elif workers <= 1 or len(tasks) <= 1:
        for t in tasks:
            on_done(t, fn(t))
    else:
        _run_pool(tasks, fn, on_done, on_fail, workers, recycle)


@contextmanager
def _single_threaded_blas():
    """Children inherit the environment: one BLAS thread per worker process (no oversubscription)."""
    old = {k: os.environ.get(k) for k in _BLAS_ENV}
    for k in _BLAS_ENV:
        os.environ.setdefault(k, "1")
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _exit_with_parent(parent_pid: int) -> None:
    """Worker initializer: leave when the parent dies (even by SIGKILL).

    A spawned worker holds both ends of its task queue, so it never sees end-of-file when the
    parent is killed; a daemon thread watches for re-parenting instead.
    """
    import threading

    def watch():
        while True:
            time.sleep(PARENT_POLL_S)
            if os.getppid() != parent_pid:
                os._exit(70)

    threading.Thread(target=watch, name="thermotwin-parent-watch", daemon=True).start()


def _run_pool(tasks, fn, on_done, on_fail, workers: int, recycle: bool) -> None:
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    ctx = multiprocessing.get_context("spawn")
    kw = {"initializer": _exit_with_parent, "initargs": (os.getpid(),)}
    if recycle:
        kw["max_tasks_per_child"] = RECYCLE_TASKS
    pending = deque(tasks)
    suspects: deque = deque()          # tasks in flight when a worker died: rerun alone
    with _single_threaded_blas():
        pool = ProcessPoolExecutor(max_workers=workers, mp_context=ctx, **kw)
        try:
            inflight: dict = {}
            while pending or suspects or inflight:
                alone = bool(suspects)
                broken = False
                try:
                    # submit raises BrokenProcessPool when a worker died after the last wait returned
                    if alone and not inflight:
                        t = suspects[0]
                        inflight[pool.submit(fn, t)] = (t, True)
                        suspects.popleft()
                    while not alone and pending and len(inflight) < 2 * workers:
                        t = pending[0]
                        inflight[pool.submit(fn, t)] = (t, False)
                        pending.popleft()
                except BrokenProcessPool:
                    broken = True
                done, _ = wait(list(inflight), return_when=FIRST_COMPLETED) if inflight else (set(), set())
                for fut in done:
                    t, was_alone = inflight.pop(fut)
                    try:
                        res = fut.result()
                    except BrokenProcessPool:
                        broken = True
                        if was_alone:
                            on_fail(t, "the worker process died while running this task (crash or out of memory)")
                        else:
                            suspects.append(t)
                    except Exception as exc:  # noqa: BLE001 - e.g. an unpicklable result: record it
                        on_fail(t, f"{type(exc).__name__}: {exc}")
                    else:
                        on_done(t, res)
                if broken:
                    for fut, (t, was_alone) in list(inflight.items()):
                        suspects.append(t)
                    inflight.clear()
                    pool.shutdown(wait=True, cancel_futures=True)
                    pool = ProcessPoolExecutor(max_workers=workers, mp_context=ctx, **kw)
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        pool.shutdown(wait=True)


def connect(scheduler: str):
    """A :class:`distributed.Client` for ``scheduler``, or an InputError saying what is wrong."""
    if not scheduler.startswith(("tcp://", "tls://", "inproc://", "ws://", "wss://", "ucx://")):
        raise InputError(f"--scheduler {scheduler!r}: give the scheduler address, e.g. tcp://host:8786")
    try:
        from distributed import Client
    except ImportError:
        raise InputError("--scheduler needs dask.distributed; install it with `pip install thermotwin[dask]`") from None
    import logging

    quiet = [logging.getLogger(n) for n in ("distributed", "distributed.comm", "distributed.client")]
    levels = [lg.level for lg in quiet]
    for lg in quiet:
        lg.setLevel(logging.CRITICAL)
    try:
        return Client(scheduler, timeout=CONNECT_TIMEOUT_S, set_as_default=False)
    except (OSError, TimeoutError) as exc:
        raise InputError(f"cannot reach the Dask scheduler at {scheduler} within {CONNECT_TIMEOUT_S:g} s "
                         f"({type(exc).__name__}); check the address and that `dask scheduler` is running") from None
    finally:
        for lg, lv in zip(quiet, levels):
            lg.setLevel(lv)


def _run_dask(tasks, fn, on_done, on_fail, scheduler: str) -> None:
    from distributed import as_completed

    client = connect(scheduler)
    try:
        futs = {client.submit(fn, t, pure=False): t for t in tasks}
        for fut in as_completed(list(futs), loop=client.loop):
            t = futs.pop(fut)
            try:
                res = fut.result()
            except Exception as exc:  # noqa: BLE001 - KilledWorker, lost connection, …: recorded
                on_fail(t, f"{type(exc).__name__}: {exc}")
            else:
                on_done(t, res)
            fut.release()
    finally:
        client.close()
