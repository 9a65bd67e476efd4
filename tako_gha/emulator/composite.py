"""``uses:`` in the emulator's runner: composite actions, step by step, as on GitHub.

A step's ``uses:`` is resolved like GitHub resolves it:

- ``./path`` — a directory of the job's workspace holding ``action.yml``/``action.yaml``;
- ``OWNER/REPO[/path]@REF`` — repository ``OWNER/REPO`` of the emulator's world at
  ``REF`` (branch, tag or commit sha), checked out once per job under
  ``$RUNNER_TEMP/_actions``;
- ``actions/checkout``, ``actions/setup-python``, ``actions/cache`` (any ref) — the
  built-ins of :mod:`tako_gha.emulator.builtin_actions`.

An action whose ``runs.using`` is ``composite`` runs its ``runs.steps`` one by one:
``inputs`` (``with:`` values, else the declared defaults, expressions evaluated) as
``${{ inputs.* }}``, each step's ``env``, ``if:`` (status functions see the action's own
steps), ``shell`` (required on ``run`` steps, as on GitHub), ``working-directory``,
``continue-on-error``, ``steps.<id>.outputs`` and ``$GITHUB_ACTION_PATH`` /
``github.action_path``; its ``outputs:`` mapping becomes the calling step's outputs.
Composite actions may use other actions (nested up to ``MAX_DEPTH`` levels).
JavaScript and Docker actions, unknown shells and malformed ``action.yml`` fail the
step with a message naming the action, the key and why.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tako_gha.emulator import confine
from tako_gha.emulator import expressions as ex
from tako_gha.emulator.gitstore import UnsafeTree
from tako_gha.emulator.workflows import Step, WorkflowError, parse_step

MAX_DEPTH = 9  # nested composite actions below a workflow step
CACHE_DIR = ".tako-cache"  # actions/cache entries, beside the world's repositories
ACTION_FILES = ("action.yml", "action.yaml")
SUPPORTED = ("composite actions, and the built-ins actions/checkout, actions/setup-python "
             "and actions/cache")
_REPO_USES = re.compile(r"^(?P<owner>[A-Za-z0-9_.-]+)/(?P<repo>[A-Za-z0-9_.-]+)"
                        r"(?:/(?P<path>[^@]+))?@(?P<ref>\S+)$")
Result = tuple[str, str, dict[str, str]]  # outcome, "" | "step" | "job" timeout, outputs


class ActionError(ValueError):
    """An action the emulator cannot run (names the action, the key and why)."""


@dataclass
class PostStep:
    """Work an action leaves for the end of the job (``post:``; actions/cache saves)."""

    label: str
    run: Callable[[Callable[[str], None]], None]  # gets the log writer
    post_if_success: bool = True  # GitHub's `post-if: success()`


@dataclass
class ActionIO:
    """What running actions needs from the runner, for one job."""

    world: Any  # state.WorldView
    repo: str  # the run's repository
    sha: str  # the run's commit
    workspace: Path
    temp: Path
    cache_root: Path
    job_env: dict[str, str]  # the job's env (GITHUB_ENV lands here)
    run_env: dict[str, str]  # the machine's env (GITHUB_PATH lands in its PATH)
    token: str
    log: Callable[[str], None]
    annotate: Callable[[str, str], None]
    cancelled: Callable[[], bool]
    # argv/env/cwd/deadline -> Result; a fresh GITHUB_OUTPUT etc. per call
    run_command: Callable[[list[str], dict[str, str], Path, float], Result]
    run_script: Callable[[str, str, dict[str, str], Path, float], Result]
    token_reads: Callable[[str, str], bool]  # (token, repo): may it read the repo?
    post: list[PostStep] = field(default_factory=list)


@dataclass
class ActionMeta:
    """An ``action.yml`` read into what the runner uses."""

    label: str  # how messages name it: "acme/tako-gha@v1" or "./path"
    path: Path  # the action's directory ($GITHUB_ACTION_PATH)
    using: str
    inputs: dict[str, Any]  # name -> default (None: no default)
    outputs: dict[str, Any]  # name -> value expression
    steps: list[Step]
    repository: str = ""
    ref: str = ""


def step_header(step: Step) -> str:
    """How a step's part of the log starts, as on GitHub: ``Run`` and its command."""
    if step.uses is not None:
        return f"Run {step.uses}"
    first = (step.run or "").strip().splitlines()
    return f"Run {first[0]}" if first else f"Run step {step.index + 1}"


def run_post_steps(posts: list[PostStep], *, failed: bool, log: Callable[[str], None]) -> None:
    """At job end, in reverse order, like GitHub's ``Post`` steps."""
    for post in reversed(posts):
        if post.post_if_success and failed:
            log(f"Post {post.label}: skipped (an earlier step failed)")
            continue
        log(f"##[group]Post {post.label}")
        log("##[endgroup]")
        try:
            post.run(log)
        except OSError as exc:  # a post step's problem is logged, as on GitHub (warning)
            log(f"##[warning]Post {post.label}: {exc}")
    posts.clear()


# --------------------------------------------------------------------------- uses

def run_uses(io: ActionIO, uses: str, with_raw: dict[str, Any], scope_env: dict[str, str],
             contexts: dict[str, Any], deadline: float, where: str, depth: int = 0) -> Result:
    """Run the action a step ``uses:``; failures become annotations, never exceptions."""
    from tako_gha.emulator import builtin_actions  # it builds on this module's ActionIO

    label = uses.strip()
    try:
        if depth > MAX_DEPTH:
            raise ActionError(f"{where}: {label}: composite actions nest more than "
                              f"{MAX_DEPTH} levels deep")
        builtin = builtin_actions.lookup(label)
        with_values = _with_values(with_raw, contexts, io)
        if builtin is not None:
            io.log(f"{label} (the emulator's built-in)")
            return builtin(io, with_values, contexts)
        meta = resolve(io, label, where)
        if meta.using != "composite":
            raise ActionError(_not_composite(meta))
        inputs = _inputs(io, meta, with_values, contexts)
        return _run_composite(io, meta, inputs, scope_env, contexts, deadline, depth)
    except (ActionError, WorkflowError, ex.ExpressionError) as exc:
        io.annotate("failure", str(exc) if str(exc).startswith(where) else f"{where}: {exc}")
        return "failure", "", {}


def resolve(io: ActionIO, uses: str, where: str) -> ActionMeta:
    """Find and read the action ``uses`` names (see the module docstring)."""
    if uses.startswith("docker://"):
        raise ActionError(f"{uses}: Docker container actions are not run by the emulator "
                          f"(it runs {SUPPORTED})")
    if uses == "." or uses.startswith("./"):
        directory = (io.workspace / uses).resolve()
        if not directory.is_relative_to(io.workspace.resolve()):
            raise ActionError(f"{uses}: the path leaves the workspace")
        return load_action(directory, uses)
    match = _REPO_USES.match(uses)
    if match is None:
        raise ActionError(f"Expected format {{org}}/{{repo}}[/path]@ref. Actual '{uses}'")
    full_name = f"{match['owner']}/{match['repo']}"
    view = io.world.repo(full_name)
    # A private repository's actions serve its own workflows only (GitHub's default
    # access): to any other run it is not found, the same answer as a missing one.
    if view is None or not io.token_reads(io.token, view.full_name):
        raise ActionError(f"Unable to resolve action `{uses}`, repository not found "
                          "(the world has no such repository, or it is private to another "
                          "repository's runs)")
    ref = match["ref"]
    checkout = io.temp / "_actions" / match["owner"] / match["repo"] / _safe_ref(ref)
    if not checkout.is_dir():
        staging = checkout.with_name(checkout.name + ".partial")
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        if materialise(view, ref, staging) is None:
            shutil.rmtree(staging, ignore_errors=True)
            raise ActionError(f"Unable to resolve action `{uses}`, unable to find version "
                              f"`{ref}`")
        staging.rename(checkout)
    directory = (checkout / (match["path"] or "")).resolve()
    if not directory.is_relative_to(checkout.resolve()):
        raise ActionError(f"{uses}: the path leaves the action's repository")
    meta = load_action(directory, uses)
    meta.repository, meta.ref = full_name, ref
    return meta


def materialise(view: Any, ref: str | None, dest: Path,
                root: Path | None = None) -> str | None:
    """Write ``view``'s tree at ``ref`` (branch, tag, sha; None = default branch) into
    ``dest``, confined to ``root`` (default ``dest``: entry names checked, links inside
    ``root`` only); the commit sha, or None when ``ref`` names nothing. A tree that
    cannot be written there is an ``ActionError`` (the step fails, not the run)."""
    git_dir = getattr(view, "git_dir", None)
    if git_dir is None:  # a world without git (test stand-ins): the default branch only
        if ref not in (None, view.default_branch, view.head_sha()):
            return None
        view.checkout_to(dest)
        return view.head_sha()
    wanted = ref or view.default_branch
    if not confine.valid_ref(wanted):  # "-..." would be an option of git rev-parse
        return None
    found = _git(git_dir, ["rev-parse", "--verify", "--quiet", f"{wanted}^{{commit}}"])
    if found is None or not found.strip():
        return None
    sha = found.decode().strip()
    try:
        view.checkout_to(dest, sha, root)
    except (UnsafeTree, LookupError) as exc:
        raise ActionError(f"cannot check out {view.full_name}@{sha}: {exc}") from None
    return sha


def _git(git_dir: Path, args: list[str]) -> bytes | None:
    done = subprocess.run(["git", "--git-dir", str(git_dir), *args], capture_output=True,
                          check=False)
    return done.stdout if done.returncode == 0 else None


def _safe_ref(ref: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", ref)


# --------------------------------------------------------------------------- action.yml

def load_action(directory: Path, label: str) -> ActionMeta:
    """Read ``directory/action.yml``; raises ActionError naming the file and key."""
    meta_file = next((directory / n for n in ACTION_FILES if (directory / n).is_file()), None)
    if meta_file is None:
        if (directory / "Dockerfile").is_file():
            raise ActionError(f"{label}: a Docker container action; the emulator runs "
                              f"{SUPPORTED}")
        raise ActionError(f"Can't find 'action.yml', 'action.yaml' or 'Dockerfile' under "
                          f"'{directory}'. Did you forget to run actions/checkout before "
                          "running your local action?")
    where = f"{label} ({meta_file.name})"
    try:
        doc = yaml.safe_load(meta_file.read_text(encoding="utf-8", errors="replace"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f":{mark.line + 1}:{mark.column + 1}" if mark else ""
        raise ActionError(f"{where}{at}: invalid YAML: "
                          f"{getattr(exc, 'problem', None) or exc}") from None
    if not isinstance(doc, dict):
        raise ActionError(f"{where}: an action file must be a mapping with 'runs'")
    runs = doc.get("runs")
    if not isinstance(runs, dict) or not isinstance(runs.get("using"), str):
        raise ActionError(f"{where}: 'runs.using' is missing (composite, node20, docker…)")
    meta = ActionMeta(label=label, path=directory, using=runs["using"].strip().lower(),
                      inputs=_declared(where, "inputs", doc.get("inputs"), "default"),
                      outputs=_declared(where, "outputs", doc.get("outputs"), "value"),
                      steps=[])
    if meta.using == "composite":
        raw_steps = runs.get("steps")
        if not isinstance(raw_steps, list) or not raw_steps:
            raise ActionError(f"{where}: 'runs.steps' must be a non-empty list")
        meta.steps = [parse_step(where, "runs", i, s) for i, s in enumerate(raw_steps)]
    return meta


def _declared(where: str, key: str, raw: Any, field_name: str) -> dict[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ActionError(f"{where}: '{key}' must be a mapping")
    out: dict[str, Any] = {}
    for name, spec in raw.items():
        if spec is not None and not isinstance(spec, dict):
            raise ActionError(f"{where}: '{key}.{name}' must be a mapping")
        out[str(name)] = (spec or {}).get(field_name)
    return out


def _not_composite(meta: ActionMeta) -> str:
    kind = "a JavaScript action" if meta.using.startswith("node") else (
        "a Docker container action" if meta.using == "docker" else "an action")
    return (f"{meta.label}: {kind} (runs.using: {meta.using}); the emulator runs "
            f"{SUPPORTED}")


# --------------------------------------------------------------------------- running

def _with_values(with_raw: dict[str, Any], contexts: dict[str, Any],
                 io: ActionIO) -> dict[str, str]:
    scope = {**contexts, "github": {**contexts["github"], "token": io.token}}
    return {str(k): ex.to_string(ex.interpolate_value(v, scope)) for k, v in with_raw.items()}


def _inputs(io: ActionIO, meta: ActionMeta, given: dict[str, str],
            contexts: dict[str, Any]) -> dict[str, str]:
    """``with:`` values for the declared inputs, else their defaults (evaluated)."""
    declared = {name.lower(): name for name in meta.inputs}
    unknown = [k for k in given if k.lower() not in declared]
    if unknown:
        valid = ", ".join(f"'{n}'" for n in meta.inputs)
        io.annotate("warning", f"Unexpected input(s) {', '.join(map(repr, unknown))}, "
                    f"valid inputs are [{valid}]")
    scope = {**contexts, "github": {**contexts["github"], "token": io.token}}
    values: dict[str, str] = {}
    for name, default in meta.inputs.items():
        values[name] = "" if default is None else ex.to_string(
            ex.interpolate_value(default, scope))
    for key, value in given.items():
        values[declared.get(key.lower(), key)] = value
    return values


def _action_contexts(contexts: dict[str, Any], meta: ActionMeta, inputs: dict[str, str],
                     steps: dict[str, Any], env: dict[str, str], io: ActionIO) -> dict:
    github = {**contexts["github"], "token": io.token, "action_path": str(meta.path),
              "action_repository": meta.repository, "action_ref": meta.ref}
    # as on GitHub, secrets reach an action only through its inputs
    kept = {k: v for k, v in contexts.items() if k not in ("secrets", "steps", "inputs")}
    return {**kept, "github": github, "inputs": inputs, "steps": steps, "env": env}


def _run_composite(io: ActionIO, meta: ActionMeta, inputs: dict[str, str],
                   scope_env: dict[str, str], contexts: dict[str, Any], deadline: float,
                   depth: int) -> Result:
    steps_ctx: dict[str, Any] = {}
    failed = cancelled = False
    timed_out = ""
    for step in meta.steps:
        where = f"{meta.label} runs.steps[{step.index}]"
        status = ex.Status(failed=failed, cancelled=io.cancelled())
        scope = _action_contexts(contexts, meta, inputs, steps_ctx,
                                 {**io.job_env, **scope_env}, io)
        outcome, timed_out, outputs = _composite_step(io, meta, step, scope, status,
                                                      scope_env, deadline, where, depth)
        if outcome == "skipped":
            conclusion = "skipped"
        else:
            conclusion = _conclusion(io, step, scope, outcome, where)
        if step.id:
            steps_ctx[step.id] = {"outputs": outputs, "outcome": outcome,
                                  "conclusion": conclusion}
        failed = failed or conclusion == "failure"
        cancelled = cancelled or outcome == "cancelled"
        if timed_out:
            break  # a timeout ends the whole action (its step's or the job's)
    final = _action_contexts(contexts, meta, inputs, steps_ctx,
                             {**io.job_env, **scope_env}, io)
    outputs = {}
    for name, value in meta.outputs.items():
        try:
            outputs[name] = ex.to_string(ex.interpolate_value(value, final))
        except ex.ExpressionError as exc:
            io.annotate("failure", f"{meta.label} outputs.{name}: {exc}")
            failed = True
    if failed or timed_out:
        return "failure", timed_out, outputs
    return ("cancelled" if cancelled else "success"), "", outputs


def _composite_step(io: ActionIO, meta: ActionMeta, step: Step, scope: dict[str, Any],
                    status: ex.Status, scope_env: dict[str, str], deadline: float,
                    where: str, depth: int) -> Result:
    try:
        if not ex.evaluate_condition(step.if_, scope, status):
            return "skipped", "", {}
    except ex.ExpressionError as exc:
        io.annotate("failure", f"{where}.if: {exc}")
        return "failure", "", {}
    io.log(f"##[group]{step_header(step)}")
    io.log("##[endgroup]")
    try:
        own = dict(scope_env)
        for key, raw in step.env.items():
            own[key] = ex.to_string(ex.interpolate_value(raw, {**scope, "env": {
                **io.job_env, **own}}))
        if step.uses is not None:
            return run_uses(io, step.uses, step.with_, own, scope, deadline, where, depth + 1)
        if not step.shell:
            raise ActionError(f"{where}: 'shell' is required on a run step of a composite "
                              "action (bash, sh, python or a template like 'perl {0}')")
        cwd = io.workspace
        if step.working_directory:
            cwd = (io.workspace / ex.interpolate(step.working_directory, scope)).resolve()
            if not cwd.is_dir():
                raise ActionError(f"{where}: working-directory {step.working_directory!r} "
                                  "does not exist")
        script = ex.interpolate(step.run or "", scope)
        env = {**io.job_env, **own, "GITHUB_ACTION_PATH": str(meta.path),
               "GITHUB_ACTION_REPOSITORY": meta.repository, "GITHUB_ACTION_REF": meta.ref,
               "GITHUB_ACTION": step.id or f"__run_{step.index}"}
        return io.run_script(step.shell, script, env, cwd, deadline)
    except (ActionError, ex.ExpressionError, ValueError) as exc:
        text = str(exc)
        io.annotate("failure", text if text.startswith(where) else f"{where}: {text}")
        return "failure", "", {}


def _conclusion(io: ActionIO, step: Step, scope: dict[str, Any], outcome: str,
                where: str) -> str:
    if outcome != "failure":
        return outcome
    value = step.continue_on_error
    try:
        if isinstance(value, str) and "${{" in value:
            value = ex.interpolate(value, scope)
        return "success" if ex.truthy(value) and str(value).lower() != "false" else "failure"
    except ex.ExpressionError as exc:
        io.annotate("warning", f"{where}.continue-on-error: {exc}")
        return "failure"
