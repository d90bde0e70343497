"""Where runs execute: local worker processes, or a Dask distributed cluster.

Both call the same `execute_run` on the same task, and the parent process alone
writes the store, so the results do not depend on the executor.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import signal
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from perfmodel.errors import PerfmodelError
from perfmodel.sweep.worker import RunTask, execute_run

EXECUTORS = ("local", "dask")
OnDone = Callable[[dict[str, Any]], None]


def default_workers() -> int:
    """Every core this process may run on."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _die_with_parent(parent: int) -> None:
    """Linux: have the kernel kill this worker when the sweep process dies, even by SIGKILL."""
    if sys.platform.startswith("linux"):
        import ctypes

        pr_set_pdeathsig = 1
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)


def _init_worker(parent: int) -> None:
    # Ctrl-C reaches the whole process group; the parent alone decides what to do.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _die_with_parent(parent)


def _stop(pool: ProcessPoolExecutor) -> None:
    """Cancel what has not started and stop the workers now, not after their current run."""
    procs = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for p in procs:
        with contextlib.suppress(OSError, ValueError):
            p.terminate()
    for p in procs:
        with contextlib.suppress(OSError, ValueError, AssertionError):
            p.join(5)
    # Let the pool's manager thread finish closing its wakeup pipe now. Otherwise the
    # interpreter's exit hook may write to that pipe while the thread closes it and
    # print an EBADF traceback (a race in Python 3.11's concurrent.futures).
    mgr = getattr(pool, "_executor_manager_thread", None)
    if mgr is not None:
        with contextlib.suppress(RuntimeError):
            mgr.join(5)


def run_local(tasks: list[RunTask], workers: int, on_done: OnDone) -> None:
    """A pool of `workers` spawned processes (spawn: no state inherited from the parent)."""
    if not tasks:
        return
    pool = ProcessPoolExecutor(
        max_workers=min(workers, len(tasks)), mp_context=multiprocessing.get_context("spawn"),
        initializer=_init_worker, initargs=(os.getpid(),),
    )
    try:
        futures = [pool.submit(execute_run, t) for t in tasks]
        for fut in as_completed(futures):
            on_done(fut.result())
    except BrokenProcessPool as e:
        _stop(pool)
        raise RuntimeError(f"a sweep worker process died ({e}); finished runs are kept") from None
    except BaseException:
        _stop(pool)
        raise
    pool.shutdown(wait=True)


@contextlib.contextmanager
def _quiet_dask() -> Iterator[None]:
    # distributed logs cluster start and stop at INFO on stderr; keep stderr for errors.
    names = ("distributed", "distributed.scheduler", "distributed.core", "distributed.nanny",
             "distributed.worker", "distributed.http.proxy")
    old = {n: logging.getLogger(n).level for n in names}
    for n in names:
        logging.getLogger(n).setLevel(logging.ERROR)
    try:
        yield
    finally:
        for n, lvl in old.items():
            logging.getLogger(n).setLevel(lvl)


def run_dask(tasks: list[RunTask], on_done: OnDone, scheduler: Any = None,
             workers: int | None = None) -> None:
    """Run on a Dask cluster: `scheduler` is an address, a Client, or None for a
    LocalCluster of `workers` single-threaded worker processes on this machine."""
    if not tasks:
        return
    from distributed import Client, LocalCluster, as_completed

    with contextlib.ExitStack() as stack:
        stack.enter_context(_quiet_dask())
        if scheduler is not None and not isinstance(scheduler, str):
            client = scheduler
        elif scheduler:
            try:
                client = stack.enter_context(Client(scheduler, timeout="20s"))
            except OSError as e:
                raise PerfmodelError(f"--scheduler {scheduler}: cannot connect: {e}") from None
        else:
            cluster = stack.enter_context(LocalCluster(
                n_workers=workers or default_workers(), threads_per_worker=1, processes=True,
                dashboard_address=None,
            ))
            client = stack.enter_context(Client(cluster))
        futures = [
            client.submit(execute_run, t, key=f"perfmodel-run-{t.key}", pure=False)
            for t in tasks
        ]
        try:
            for fut in as_completed(futures):
                on_done(fut.result())
        except BaseException:
            client.cancel(futures)
            raise
