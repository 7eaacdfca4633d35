"""The evaluator as a Ray task, and the queue that hands the hub's jobs to it.

A task runs :func:`jobs.run_job`: it loads the submission's artifacts and the playground's
private eval data itself (cached per worker process, since the eval data never changes), scores
it and returns an :class:`EvaluationResult`. Ray re-runs a task whose worker died
(``max_retries``); the hub writes a result only once per submission, so a retry can never
score a submission twice.

With a wall-clock limit (``timeout_s``, counted from the task's start, so time spent waiting in
Ray's queue behind other submissions does not count), the model is stopped when the limit passes
and the submission fails with "timed out after N s". An operator onnxruntime cannot interrupt
gets a grace period more; then the task returns that failure anyway and its worker process
exits right after delivering it, taking the stuck thread with it (see
:func:`_retire_after_return`).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import ray

from aims_spaces.domain import EvaluationJob, EvaluationResult

from .jobs import run_job, timed_out

log = logging.getLogger(__name__)

BACKSTOP_GRACE_S = 10.0
# A max_calls no worker reaches by counting: it only lets _retire_after_return end a worker the
# way Ray ends one at max_calls.
_RETIRE_AT = 1_000_003


@ray.remote(max_calls=_RETIRE_AT)
def evaluate_submission(
    job: EvaluationJob, timeout_s: float | None = None, grace_s: float = BACKSTOP_GRACE_S
) -> EvaluationResult:
    if timeout_s is None:
        return run_job(job)
    result, finished = run_bounded(job, timeout_s, grace_s)
    if not finished:
        _retire_after_return()
    return result


def run_bounded(
    job: EvaluationJob, timeout_s: float, grace_s: float = BACKSTOP_GRACE_S
) -> tuple[EvaluationResult, bool]:
    """Run ``job`` with a limit of ``timeout_s``, on a thread of its own.

    Returns:
        The result, and whether the job's thread finished. If it is still busy ``grace_s``
        after the limit (stuck in an operator onnxruntime cannot stop), the result is the
        "timed out after N s" failure and the thread is left running; the caller must end the
        process.
    """
    start = time.perf_counter()
    outcome: dict[str, Any] = {}

    def work() -> None:
        try:
            outcome["result"] = run_job(job, timeout_s=timeout_s)
        except BaseException as e:  # handed to the caller's thread, which raises it
            outcome["error"] = e

    thread = threading.Thread(target=work, name=f"aims-evaluation-{job.submission_id}", daemon=True)
    thread.start()
    thread.join(timeout_s + grace_s)
    if thread.is_alive():
        log.warning(
            "submission %d: still running %.0f s after its %.0f s limit; ending this worker",
            job.submission_id,
            grace_s,
            timeout_s,
        )
        failure = EvaluationResult(
            ok=False,
            error=timed_out(timeout_s),
            seconds=time.perf_counter() - start,
            evaluated_by={"host": socket.gethostname(), "pid": os.getpid()},
        )
        return failure, False
    if "error" in outcome:
        raise outcome["error"]
    return outcome["result"], True


def _retire_after_return() -> None:
    """Have Ray end this worker process right after it delivers the running task's result.

    Ray does exactly this when a function reaches its ``max_calls``: the result goes out with a
    note that the worker is exiting, so its owner neither reuses the worker nor retries the
    task, and the process exits. :func:`evaluate_submission` declares a ``max_calls`` no worker
    reaches by counting; setting this worker's count to one short makes the running call its
    last. The count lives in Ray's function manager, which has no public setter;
    ``tests/evaluators/test_timeout.py`` checks the behaviour against the installed Ray.
    """
    try:
        manager = ray._private.worker.global_worker.function_actor_manager
        ids = [
            function_id
            for function_id, info in manager._function_execution_info.items()
            if getattr(info, "max_calls", 0) == _RETIRE_AT
        ]
        for function_id in ids:
            manager._num_task_executions[function_id] = _RETIRE_AT - 1
    except AttributeError:  # a Ray whose internals moved: fall back below
        ids = []
    if not ids:
        # Exit shortly after returning instead. A task Ray hands this worker in that moment dies
        # with it and is retried as a crash, which is still better than a core lost for good.
        log.warning("cannot have Ray retire this worker; exiting in 2 s")
        threading.Timer(2.0, os._exit, (0,)).start()


@ray.remote
def _warm_up() -> int:
    # Imports the scoring stack (onnxruntime, scikit-learn, datasets) in a worker ahead of the
    # first real submission. Ray ships remote functions by value, so the worker has imported
    # nothing of ours until a task body touches it.
    import datasets  # noqa: F401
    import onnxruntime  # noqa: F401

    import evaluators.jobs  # noqa: F401
    import evaluators.ray_queue  # noqa: F401

    return os.getpid()


class RayEvaluationQueue:
    """Runs each job as a Ray task and reports its result to ``on_done`` exactly once."""

    def __init__(
        self,
        on_done: Callable[[int, EvaluationResult], None],
        *,
        num_cpus: float = 0.5,
        resources: dict[str, float] | None = None,
        max_retries: int = 3,
        timeout_s: float | None = None,
        grace_s: float = BACKSTOP_GRACE_S,
        per_account: int | None = None,
    ) -> None:
        """
        Args:
            on_done: called once per submission with its result, off Ray's threads.
            num_cpus: CPUs one evaluation reserves in Ray.
            resources: Ray custom resources one evaluation needs, so that on a cluster
                evaluations run only on the nodes started with them (None: any node).
            max_retries: times Ray re-runs an evaluation whose worker died.
            timeout_s: wall-clock limit of one evaluation from its start (None: no limit).
            grace_s: how much longer an evaluation stuck in an operator that cannot be
                interrupted may take before its task gives up on it and ends its worker.
            per_account: most evaluations of one account handed to Ray at once; the rest wait
                here in submission order, so one account's models (slow or many) cannot take
                every evaluator while others wait (None: no cap; jobs without an account are
                never held back).
        """
        self._on_done = on_done
        self._options: dict[str, Any] = {
            "num_cpus": num_cpus,
            "resources": dict(resources or {}),
            "max_retries": max_retries,
        }
        self._timeout_s = timeout_s
        self._grace_s = grace_s
        self._pending: dict[int, ray.ObjectRef] = {}
        self._per_account = per_account
        self._running: dict[int, int] = {}  # account -> its evaluations in Ray now
        self._waiting: dict[int, deque[EvaluationJob]] = {}  # account -> its jobs held back
        self._accounts: dict[int, int | None] = {}  # submission id -> account, while in Ray
        self._lock = threading.Lock()
        # Results are written to the registry off Ray's callback thread.
        self._writer = ThreadPoolExecutor(max_workers=2, thread_name_prefix="aims-eval-done")
        self._closed = False

    def warm_up(self, n: int = 2, *, wait: bool = True) -> None:
        """Import the scoring stack in ``n`` workers ahead of the first submission; with
        ``wait=False`` it happens while the hub goes on starting."""
        # Where evaluations run (the same CPUs and custom resources), spread over the nodes that
        # offer them, so that on a cluster the first evaluation on each node finds a warm worker.
        where = {"num_cpus": self._options["num_cpus"], "resources": self._options["resources"]}
        refs = [_warm_up.options(**where, scheduling_strategy="SPREAD").remote() for _ in range(n)]
        if wait:
            ray.get(refs)
        else:
            self._warming = refs  # kept, so Ray does not cancel them as unreferenced

    def submit(self, job: EvaluationJob) -> None:
        with self._lock:
            if self._closed or job.submission_id in self._pending:
                return
            account = job.account
            if account is not None and self._per_account is not None:
                if any(j.submission_id == job.submission_id for j in self._waiting.get(account, ())):
                    return
                if self._running.get(account, 0) >= self._per_account:
                    self._waiting.setdefault(account, deque()).append(job)
                    return
        self._dispatch(job)

    def _dispatch(self, job: EvaluationJob) -> None:
        with self._lock:
            if self._closed:
                return
            ref = evaluate_submission.options(**self._options).remote(job, self._timeout_s, self._grace_s)
            self._pending[job.submission_id] = ref
            self._accounts[job.submission_id] = job.account
            if job.account is not None:
                self._running[job.account] = self._running.get(job.account, 0) + 1
        ref.future().add_done_callback(lambda fut: self._done(job.submission_id, fut))

    def _release(self, submission_id: int) -> EvaluationJob | None:
        """Called with the lock held when a job left Ray: the account's next job, if one waits."""
        account = self._accounts.pop(submission_id, None)
        if account is None:
            return None
        self._running[account] = max(self._running.get(account, 1) - 1, 0)
        waiting = self._waiting.get(account)
        if not waiting:
            self._waiting.pop(account, None)
            return None
        return waiting.popleft()

    def _done(self, submission_id: int, fut: Future[Any]) -> None:
        with self._lock:
            self._pending.pop(submission_id, None)
            following = self._release(submission_id)
            if self._closed:
                return  # shutting down: the submission stays queued and is re-run next start
        if following is not None:
            self._dispatch(following)
        try:
            result = fut.result()
        except (ray.exceptions.TaskCancelledError, ray.exceptions.RaySystemError) as e:
            log.warning("evaluation of submission %d did not finish: %s", submission_id, e)
            return
        except ray.exceptions.WorkerCrashedError:
            result = EvaluationResult(
                ok=False,
                error=f"the evaluator's worker died {self._options['max_retries'] + 1} times "
                "running this submission (out of memory?)",
            )
        except ray.exceptions.RayTaskError as e:
            # A bug or a broken store, not the submission's fault: the details go to the log,
            # never to the participant.
            log.error("evaluator crashed on submission %d: %s", submission_id, e)
            result = EvaluationResult(
                ok=False,
                error="the evaluator failed with an internal error (the hub's log has the details)",
            )
        self._writer.submit(self._report, submission_id, result)

    def _report(self, submission_id: int, result: EvaluationResult) -> None:
        try:
            self._on_done(submission_id, result)
        except Exception:  # a failure here must not kill the writer thread; it is logged
            log.exception("could not record the result of submission %d", submission_id)

    @property
    def pending(self) -> int:
        with self._lock:
            return len(self._pending) + sum(len(w) for w in self._waiting.values())

    def close(self) -> None:
        with self._lock:
            self._closed = True
            refs = list(self._pending.values())
            self._pending.clear()
            self._waiting.clear()
        for ref in refs:
            try:
                ray.cancel(ref, force=True)
            except Exception:  # the task may already be gone; nothing to clean up then
                pass
        self._writer.shutdown(wait=True)
