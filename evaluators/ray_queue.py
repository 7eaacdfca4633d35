"""The evaluator as a Ray task, and the queue that hands the hub's jobs to it.

A task runs :func:`jobs.run_job`: it loads the submission's artifacts and the playground's
private eval data itself (cached per worker process, since the eval data never changes), scores
it and returns an :class:`EvaluationResult`. Ray re-runs a task whose worker died
(``max_retries``); the hub writes a result only once per submission, so a retry can never
score a submission twice.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import ray

from aims_spaces.domain import EvaluationJob, EvaluationResult

from .jobs import run_job

log = logging.getLogger(__name__)


@ray.remote
def evaluate_submission(job: EvaluationJob) -> EvaluationResult:
    return run_job(job)


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
        max_retries: int = 3,
    ) -> None:
        self._on_done = on_done
        self._options = {"num_cpus": num_cpus, "max_retries": max_retries}
        self._pending: dict[int, ray.ObjectRef] = {}
        self._lock = threading.Lock()
        # Results are written to the registry off Ray's callback thread.
        self._writer = ThreadPoolExecutor(max_workers=2, thread_name_prefix="aims-eval-done")
        self._closed = False

    def warm_up(self, n: int = 2) -> None:
        ray.get([_warm_up.options(num_cpus=self._options["num_cpus"]).remote() for _ in range(n)])

    def submit(self, job: EvaluationJob) -> None:
        with self._lock:
            if self._closed or job.submission_id in self._pending:
                return
            ref = evaluate_submission.options(**self._options).remote(job)
            self._pending[job.submission_id] = ref
        ref.future().add_done_callback(lambda fut: self._done(job.submission_id, fut))

    def _done(self, submission_id: int, fut: Future[Any]) -> None:
        with self._lock:
            self._pending.pop(submission_id, None)
            if self._closed:
                return  # shutting down: the submission stays queued and is re-run next start
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
            log.error("evaluator crashed on submission %d: %s", submission_id, e)
            result = EvaluationResult(ok=False, error=f"the evaluator crashed: {e.cause!r}"[:2000])
        self._writer.submit(self._report, submission_id, result)

    def _report(self, submission_id: int, result: EvaluationResult) -> None:
        try:
            self._on_done(submission_id, result)
        except Exception:  # a failure here must not kill the writer thread; it is logged
            log.exception("could not record the result of submission %d", submission_id)

    @property
    def pending(self) -> int:
        with self._lock:
            return len(self._pending)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            refs = list(self._pending.values())
            self._pending.clear()
        for ref in refs:
            try:
                ray.cancel(ref, force=True)
            except Exception:  # the task may already be gone; nothing to clean up then
                pass
        self._writer.shutdown(wait=True)
