"""Workflow files read into a small model: what the emulator's runner executes.

Only the parts of GitHub's workflow syntax the emulator runs are modelled (``on``,
``name``, ``run-name``, ``env``, ``defaults.run``, ``jobs.<id>`` with ``name``,
``needs``, ``if``, ``env``, ``timeout-minutes``, ``outputs``, ``continue-on-error``,
``strategy.matrix``, ``steps``); other keys (``runs-on``, ``permissions``,
``concurrency``, ``strategy.max-parallel``…) are accepted and ignored. Structural
problems raise :class:`WorkflowError` naming the file and key.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import yaml

WORKFLOWS_DIR = ".github/workflows/"
DEFAULT_JOB_TIMEOUT_MINUTES = 360.0  # GitHub's default job timeout


class WorkflowError(ValueError):
    """A workflow file the emulator cannot run (path + what is wrong + hint)."""


@dataclass
class Step:
    index: int  # 0-based position in the job
    id: str | None
    name: str | None
    run: str | None = None
    uses: str | None = None
    with_: dict[str, Any] = field(default_factory=dict)
    env: dict[str, Any] = field(default_factory=dict)
    if_: Any = None
    shell: str | None = None
    working_directory: str | None = None
    timeout_minutes: Any = None  # number or expression text
    continue_on_error: Any = False

    def display_name(self) -> str:
        if self.name:
            return self.name
        if self.uses:
            return f"Run {self.uses}"
        first = (self.run or "").strip().splitlines()
        return f"Run {first[0]}" if first else f"Step {self.index + 1}"


@dataclass
class Job:
    id: str
    name: str | None
    needs: list[str] = field(default_factory=list)
    if_: Any = None
    env: dict[str, Any] = field(default_factory=dict)
    steps: list[Step] = field(default_factory=list)
    timeout_minutes: Any = None
    outputs: dict[str, Any] = field(default_factory=dict)
    continue_on_error: Any = False
    defaults_run: dict[str, Any] = field(default_factory=dict)
    matrix: Any = None  # strategy.matrix: a mapping, or an expression giving one
    fail_fast: bool = True  # strategy.fail-fast (GitHub's default: true)


@dataclass
class Workflow:
    path: str
    name: str | None
    run_name: str | None
    on: dict[str, Any]  # event name -> its configuration (None when bare)
    env: dict[str, Any] = field(default_factory=dict)
    jobs: dict[str, Job] = field(default_factory=dict)
    defaults_run: dict[str, Any] = field(default_factory=dict)

    @property
    def display_name(self) -> str:
        """``name:`` or, as on GitHub, the file path."""
        return self.name or self.path

    def listens_to(self, event_name: str, event_type: str | None = None) -> bool:
        """Does ``on:`` include ``event_name`` (and, for activity types, ``event_type``)?"""
        if event_name not in self.on:
            return False
        config = self.on[event_name]
        if event_type is None or not isinstance(config, dict) or "types" not in config:
            return True
        types = config["types"]
        if types is None:
            return True
        if isinstance(types, str):
            types = [types]
        return event_type in [str(t) for t in types]


def workflow_id_for(repo: str, path: str) -> int:
    """A stable numeric workflow id per (repo, file), as GitHub keeps one per file."""
    digest = hashlib.sha256(f"{repo.lower()}\n{path}".encode()).hexdigest()
    return 10_000_000 + int(digest[:12], 16) % 90_000_000


def is_workflow_path(path: str) -> bool:
    """GitHub reads only ``.yml``/``.yaml`` directly inside ``.github/workflows``."""
    if not path.startswith(WORKFLOWS_DIR):
        return False
    rest = path[len(WORKFLOWS_DIR):]
    return "/" not in rest and rest.endswith((".yml", ".yaml"))


def parse_workflow(path: str, text: str | bytes) -> Workflow:
    """Read one workflow file; raises WorkflowError with path and reason."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else path
        problem = getattr(exc, "problem", None) or str(exc)
        raise WorkflowError(f"{where}: invalid YAML: {problem}") from None
    if not isinstance(doc, dict):
        raise WorkflowError(f"{path}: a workflow must be a mapping with 'on' and 'jobs'")
    # YAML 1.1 reads a bare `on` key as the boolean True
    on_raw = doc.get("on", doc.get(True))
    if on_raw is None:
        raise WorkflowError(f"{path}: missing 'on' (hint: on: repository_dispatch)")
    jobs_raw = doc.get("jobs")
    if not isinstance(jobs_raw, dict) or not jobs_raw:
        raise WorkflowError(f"{path}: 'jobs' must be a non-empty mapping of job ids")
    wf = Workflow(
        path=path,
        name=_opt_str(doc.get("name")),
        run_name=_opt_str(doc.get("run-name")),
        on=_parse_on(path, on_raw),
        env=_mapping(path, "env", doc.get("env")),
        defaults_run=_defaults_run(path, doc.get("defaults")),
    )
    for job_id, raw in jobs_raw.items():
        wf.jobs[str(job_id)] = _parse_job(path, str(job_id), raw)
    _check_needs(path, wf)
    return wf


def _opt_str(value: Any) -> str | None:
    if value is None:
        return None
    return str(value)


def _mapping(path: str, where: str, value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise WorkflowError(f"{path}: '{where}' must be a mapping, not {type(value).__name__}")
    return {str(k): v for k, v in value.items()}


def _parse_on(path: str, raw: Any) -> dict[str, Any]:
    if isinstance(raw, str):
        return {raw: None}
    if isinstance(raw, list):
        return {str(e): None for e in raw}
    if isinstance(raw, dict):
        return {str(k): v for k, v in raw.items()}
    raise WorkflowError(f"{path}: 'on' must be an event name, a list or a mapping")


def _defaults_run(path: str, raw: Any) -> dict[str, Any]:
    defaults = _mapping(path, "defaults", raw)
    return _mapping(path, "defaults.run", defaults.get("run"))


def _parse_job(path: str, job_id: str, raw: Any) -> Job:
    where = f"jobs.{job_id}"
    if not isinstance(raw, dict):
        raise WorkflowError(f"{path}: '{where}' must be a mapping")
    if "uses" in raw:
        raise WorkflowError(
            f"{path}: '{where}' calls a reusable workflow; the emulator runs steps only"
        )
    needs_raw = raw.get("needs")
    if needs_raw is None:
        needs: list[str] = []
    elif isinstance(needs_raw, str):
        needs = [needs_raw]
    elif isinstance(needs_raw, list):
        needs = [str(n) for n in needs_raw]
    else:
        raise WorkflowError(f"{path}: '{where}.needs' must be a job id or a list of job ids")
    steps_raw = raw.get("steps")
    if not isinstance(steps_raw, list) or not steps_raw:
        raise WorkflowError(f"{path}: '{where}.steps' must be a non-empty list")
    return Job(
        id=job_id,
        name=_opt_str(raw.get("name")),
        needs=needs,
        if_=raw.get("if"),
        env=_mapping(path, f"{where}.env", raw.get("env")),
        steps=[_parse_step(path, where, i, s) for i, s in enumerate(steps_raw)],
        timeout_minutes=raw.get("timeout-minutes"),
        outputs=_mapping(path, f"{where}.outputs", raw.get("outputs")),
        continue_on_error=raw.get("continue-on-error", False),
        defaults_run=_defaults_run(path, raw.get("defaults")),
        matrix=_strategy_matrix(path, where, raw.get("strategy")),
        fail_fast=_fail_fast(path, where, raw.get("strategy")),
    )


def _strategy_matrix(path: str, where: str, raw: Any) -> Any:
    strategy = _mapping(path, f"{where}.strategy", raw)
    matrix = strategy.get("matrix")
    if matrix is None or isinstance(matrix, (dict, str)):
        return matrix
    raise WorkflowError(f"{path}: '{where}.strategy.matrix' must be a mapping of lists "
                        "(or an expression such as ${{ fromJSON(...) }})")


def _fail_fast(path: str, where: str, raw: Any) -> bool:
    value = _mapping(path, f"{where}.strategy", raw).get("fail-fast", True)
    if isinstance(value, bool):
        return value
    if str(value).strip().lower() in ("true", "false"):
        return str(value).strip().lower() == "true"
    raise WorkflowError(f"{path}: '{where}.strategy.fail-fast' must be true or false")


MAX_MATRIX_JOBS = 256  # GitHub's limit per workflow run matrix


def expand_matrix(where: str, matrix: Any) -> list[dict[str, Any]]:
    """The combinations of a (fully evaluated) ``strategy.matrix``, GitHub's rules:
    cartesian product of the list-valued keys, minus ``exclude`` entries, then each
    ``include`` entry extends every combination whose original values it does not
    overwrite, or becomes a combination of its own."""
    if not isinstance(matrix, dict):
        raise WorkflowError(f"{where}: strategy.matrix must be a mapping")
    include = _entries(where, "include", matrix.get("include"))
    exclude = _entries(where, "exclude", matrix.get("exclude"))
    axes = {str(k): v for k, v in matrix.items() if k not in ("include", "exclude")}
    combos: list[dict[str, Any]] = [{}] if axes else []
    for key, values in axes.items():
        if not isinstance(values, list) or not values:
            raise WorkflowError(f"{where}: strategy.matrix.{key} must be a non-empty list")
        combos = [{**c, key: v} for c in combos for v in values]
    combos = [c for c in combos
              if not any(all(c.get(k) == v for k, v in drop.items()) for drop in exclude)]
    originals = [dict(c) for c in combos]
    for extra in include:
        matched = False
        for combo, original in zip(combos, originals, strict=False):
            if all(original[k] == v for k, v in extra.items() if k in original):
                combo.update(extra)
                matched = True
        if not matched:
            combos.append(dict(extra))
    if not combos:
        raise WorkflowError(f"{where}: strategy.matrix has no combinations left")
    if len(combos) > MAX_MATRIX_JOBS:
        raise WorkflowError(f"{where}: strategy.matrix makes {len(combos)} jobs; "
                            f"the limit is {MAX_MATRIX_JOBS}")
    return combos


def _entries(where: str, name: str, raw: Any) -> list[dict[str, Any]]:
    if raw is None:
        return []
    if not isinstance(raw, list) or not all(isinstance(e, dict) for e in raw):
        raise WorkflowError(f"{where}: strategy.matrix.{name} must be a list of mappings")
    return [{str(k): v for k, v in e.items()} for e in raw]


def _parse_step(path: str, job_where: str, index: int, raw: Any) -> Step:
    where = f"{job_where}.steps[{index}]"
    if not isinstance(raw, dict):
        raise WorkflowError(f"{path}: '{where}' must be a mapping with 'run' or 'uses'")
    run, uses = raw.get("run"), raw.get("uses")
    if (run is None) == (uses is None):
        raise WorkflowError(f"{path}: '{where}' needs exactly one of 'run' or 'uses'")
    if uses is not None and not isinstance(uses, str):
        raise WorkflowError(f"{path}: '{where}.uses' must be a string like owner/repo@ref")
    return Step(
        index=index,
        id=_opt_str(raw.get("id")),
        name=_opt_str(raw.get("name")),
        run=None if run is None else str(run),
        uses=uses,
        with_=_mapping(path, f"{where}.with", raw.get("with")),
        env=_mapping(path, f"{where}.env", raw.get("env")),
        if_=raw.get("if"),
        shell=_opt_str(raw.get("shell")),
        working_directory=_opt_str(raw.get("working-directory")),
        timeout_minutes=raw.get("timeout-minutes"),
        continue_on_error=raw.get("continue-on-error", False),
    )


parse_step = _parse_step  # composite actions' runs.steps have the same shape


def _check_needs(path: str, wf: Workflow) -> None:
    for job in wf.jobs.values():
        for need in job.needs:
            if need not in wf.jobs:
                raise WorkflowError(
                    f"{path}: job '{job.id}' needs '{need}', which is not a job of this "
                    f"workflow (jobs: {', '.join(wf.jobs)})"
                )
    job_order(wf)  # raises on cycles


def job_order(wf: Workflow) -> list[str]:
    """Job ids in an order where every job comes after its needs (file order kept)."""
    done: list[str] = []
    placed: set[str] = set()
    pending = list(wf.jobs)
    while pending:
        ready = [j for j in pending if all(n in placed for n in wf.jobs[j].needs)]
        if not ready:
            raise WorkflowError(
                f"{wf.path}: the 'needs' of jobs {', '.join(pending)} form a cycle"
            )
        for j in ready:
            done.append(j)
            placed.add(j)
        pending = [j for j in pending if j not in placed]
    return done
