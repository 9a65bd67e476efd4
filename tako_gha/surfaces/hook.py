"""The git pre-push hook (docs/hook.md): lint the ``tako.yml`` being pushed.

Reads what git is about to push — from the hook's stdin (``<local-ref> <local-oid>
<remote-ref> <remote-oid>`` per ref) or, under pre-commit, ``PRE_COMMIT_TO_REF`` —
and lints the config file of each pushed tip commit, read from git's objects with
GitPython (not the work tree, which may hold something else). Deletions are skipped;
the same blob pushed on several refs is linted once.

Blocks (exit 1) only on errors, each printed as ``<commit> (<ref>): file:line:col:
error: …``. Warnings are printed and pass. With a token in the environment it also
prints the cascade the pushed ``produces`` events would start; any failure there
(no network, bad token) is a note, never a blocked push.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TextIO

from tako_gha.core.names import repo_from_remote_url as repo_from_remote
from tako_gha.core.settings import SettingError, read_number

if TYPE_CHECKING:
    import git

    from tako_gha.core.config import ConfigResult, Produced, RepoConfig
    from tako_gha.core.matching import Plan

# Not imported from core.config: the loader pulls in the CEL stack, which a push
# that does not touch tako.yml never needs (start-up time is the hook's cost).
DEFAULT_CONFIG_PATH = "tako.yml"
PLAN_BUDGET_SECONDS = 10.0  # the longest a push waits for the (optional) plan

ZERO_OID = "0" * 40
_ZEROS = re.compile(r"^0+$")
_OID = re.compile(r"[0-9a-f]{7,64}")


@dataclass(frozen=True)
class PushedRef:
    local_ref: str
    local_oid: str
    remote_ref: str
    remote_oid: str

    @property
    def is_deletion(self) -> bool:
        return bool(_ZEROS.match(self.local_oid))


@dataclass
class CheckedCommit:
    ref: PushedRef
    result: ConfigResult | None  # None: no config file, or unchanged (below)
    unchanged: bool = False  # same blob as on the remote already: nothing new to lint

    @property
    def label(self) -> str:
        """``<commit> (<branch>)``, leaving out what says nothing: under pre-commit the
        pushed tip may be given as ``HEAD`` with no branch (``HEAD (HEAD)``); then there
        is no prefix at all, the pushed commit being the only one."""
        oid = self.ref.local_oid
        short = oid[:7] if _OID.fullmatch(oid) else ""
        name = (self.ref.remote_ref.removeprefix("refs/heads/")
                or self.ref.local_ref.removeprefix("refs/heads/"))
        if name in ("", "HEAD", oid):
            return short
        return f"{short} ({name})" if short else name


@dataclass
class HookResult:
    checked: list[CheckedCommit] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def blocked(self) -> bool:
        return any(c.result is not None and not c.result.ok for c in self.checked)


def parse_push_lines(text: str) -> list[PushedRef]:
    """The ref lines git gives a pre-push hook on stdin; malformed lines are ignored."""
    refs = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 4:
            refs.append(PushedRef(*parts))
    return refs


def refs_from_pre_commit(env: Mapping[str, str]) -> list[PushedRef]:
    """pre-commit consumes stdin and exports the pushed range instead."""
    to_ref = env.get("PRE_COMMIT_TO_REF") or env.get("PRE_COMMIT_SOURCE") or ""
    if not to_ref:
        return []
    from_ref = env.get("PRE_COMMIT_FROM_REF") or env.get("PRE_COMMIT_ORIGIN") or ZERO_OID
    return [PushedRef(env.get("PRE_COMMIT_LOCAL_BRANCH", "HEAD"), to_ref,
                      env.get("PRE_COMMIT_REMOTE_BRANCH", ""), from_ref)]


def open_repo(git_dir: str) -> git.Repo:
    """The repository being pushed from; ValueError when ``git_dir`` is not in one."""
    import git  # imported here to keep the hook's start-up small

    try:
        return git.Repo(git_dir, search_parent_directories=True)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError) as exc:
        raise ValueError(f"{git_dir} is not inside a git repository") from exc


def read_blob(repo: git.Repo, oid: str, path: str) -> tuple[str, str] | None:
    """(blob oid, text) of ``path`` in commit ``oid``; None when the commit has no such
    file. Raises ValueError when ``oid`` is not a commit of this repository."""
    import git

    try:
        commit = repo.commit(oid)
        tree = commit.tree
    except (git.BadName, git.BadObject, ValueError) as exc:
        raise ValueError(f"{oid[:12]} is not a commit of this repository") from exc
    try:
        blob = tree / path
    except KeyError:
        return None
    if blob.type != "blob":
        return None
    return blob.hexsha, blob.data_stream.read().decode("utf-8", errors="replace")


def _blob_oid(repo: git.Repo, oid: str, path: str) -> str | None:
    """The config blob's oid in ``oid``, None if absent or ``oid`` is unknown here."""
    import git

    try:
        return (repo.commit(oid).tree / path).hexsha
    except (git.BadName, git.BadObject, ValueError, KeyError):
        return None


def check_push(refs: Sequence[PushedRef], *, git_dir: str = ".",
               config_path: str = DEFAULT_CONFIG_PATH, repo: str | None = None) -> HookResult:
    """Lint the config of every pushed tip (deletions skipped, each blob once, a blob
    the remote ref already has skipped)."""
    started = time.perf_counter()
    result = HookResult()
    pushed = [ref for ref in refs if not ref.is_deletion]
    if not pushed:
        return result
    git_repo = open_repo(git_dir)
    seen: dict[str, ConfigResult] = {}
    for ref in pushed:
        found = read_blob(git_repo, ref.local_oid, config_path)
        if found is None:
            result.checked.append(CheckedCommit(ref, None))
            continue
        blob_oid, text = found
        if not _ZEROS.match(ref.remote_oid) and \
                _blob_oid(git_repo, ref.remote_oid, config_path) == blob_oid:
            result.checked.append(CheckedCommit(ref, None, unchanged=True))
            continue
        if blob_oid not in seen:
            from tako_gha.core.config import load_config

            seen[blob_oid] = load_config(text, path=config_path, repo=repo)
        result.checked.append(CheckedCommit(ref, seen[blob_oid]))
    git_repo.close()
    result.seconds = time.perf_counter() - started
    return result


def report_lint(result: HookResult, out: TextIO) -> None:
    """Diagnostics prefixed with the commit; errors first; one closing line."""
    printed: set[tuple[str, str]] = set()
    for checked in result.checked:
        if checked.result is None:
            continue
        diagnostics = sorted(checked.result.diagnostics, key=lambda d: (not d.is_error, d.line))
        for diag in diagnostics:
            key = (checked.ref.local_oid, diag.format())
            if key in printed:
                continue
            printed.add(key)
            label = checked.label
            out.write(f"{label}: {diag.format()}\n" if label else f"{diag.format()}\n")
    if result.blocked:
        out.write("tako-gha: push blocked: fix the errors above (or push with --no-verify "
                  "to skip this check)\n")


# ------------------------------------------------------------------ plan (optional)
PlanPrinter = Callable[[str, "ConfigResult", TextIO], None]


def print_plan(repo: str, config: ConfigResult, out: TextIO, *, api_url: str, token: str,
               config_path: str = DEFAULT_CONFIG_PATH,
               payload: dict[str, Any] | None = None) -> None:
    """The targets each produced event type would reach, using the org's configs.
    Filters and input templates see ``payload`` (from ``TAKO_HOOK_PAYLOAD``), else the
    ``example_payload`` the produced event declares in tako.yml; without either, those
    that read the payload are not judged on a stand-in: their repositories "depend on
    the payload" and are counted apart from the real skips."""
    from tako_gha.forge.base import RepoSelection
    from tako_gha.surfaces.connect import open_forge

    if config.config is None or not config.config.produces:
        return
    from tako_gha.forge.transport import RetryPolicy

    # A hook must not stall a push: one quick retry, no long waits on rate limits.
    quick = RetryPolicy(max_retries=1, backoff_base=0.5, backoff_cap=1.0,
                        secondary_min_wait=1.0, max_secondary_retries=0, max_rate_wait=0.0)
    forge = open_forge(api_url, token=token, policy=quick)
    owner = repo.split("/")[0]
    discovery = forge.discover(RepoSelection(org=owner, config_path=config_path))
    configs = [c for c in discovery.configs() if c.repo.lower() != repo.lower()] + [config]
    for produced in config.config.produces:
        plan, example = plan_event(produced, repo, configs, config.config, payload)
        write_plan(plan, repo, out, example=example)
        note = unsubscribed_note(produced.type, repo, configs, plan)
        if note:
            out.write(note + "\n")


def unsubscribed_note(event_type: str, repo: str, configs: Sequence[ConfigResult],
                      plan: Plan) -> str | None:
    """A produced type nobody subscribes to, close to one the org does subscribe to
    from this repository: most likely a typo in ``produces`` (or in the workflow that
    sends it), which would fan out to no one. A did-you-mean, never a block."""
    import difflib

    if plan.targets or plan.undecided:
        return None
    key = repo.lower()
    wanted: dict[str, list[str]] = {}
    for result in configs:
        for sub in result.config.subscriptions if result.config is not None else []:
            if sub.producer.lower() == key:
                for other in sub.events:
                    wanted.setdefault(other, []).append(result.repo)
    close = difflib.get_close_matches(event_type, sorted(wanted), n=1)
    if not close or close[0] == event_type:
        return None
    who = ", ".join(sorted(set(wanted[close[0]]))[:3])
    return (f"  note: no repository subscribes to {event_type} from {repo}; did you mean "
            f"{close[0]!r} (subscribed to by {who})? Fix events.produces, or the workflow "
            "that sends it")


def plan_event(produced: Produced, repo: str, configs: Sequence[ConfigResult],
               source: RepoConfig, payload: dict[str, Any] | None
               ) -> tuple[Plan, bool]:
    """The plan of one produced event: with ``payload`` if given, else with the event's
    ``example_payload`` (second value True), else with the payload unknown."""
    from tako_gha.core.events import Event
    from tako_gha.core.matching import plan_fanout

    example = payload is None and produced.example_payload is not None
    given = produced.example_payload if example else payload
    event = Event(type=produced.type, source=repo, schema_version=produced.schema_version,
                  payload=dict(given or {}))
    return plan_fanout(event, configs, source_config=source,
                       payload_known=given is not None), example


def write_plan(plan: Plan, repo: str, out: TextIO, *, example: bool = False) -> None:
    """One produced event's plan: targets, the repos only a payload can decide, the
    subscribers that would be skipped, and a line counting the three apart. ``example``:
    the payload is the event's ``example_payload`` from tako.yml, and the plan says so."""
    undecided = plan.undecided
    targets = ", ".join(plan.target_repos()) or (
        "no repository for certain" if undecided else "no repository")
    with_example = " (with its example_payload from tako.yml)" if example else ""
    out.write(f"tako-gha: {plan.event.type} from {repo}{with_example} would start: "
              f"{targets}\n")
    for skip in undecided:
        out.write(f"  depends on the payload {skip.repo}: {_payload_reason(skip.reason)}\n")
    skipped = [s for s in plan.skipped if s not in undecided
               and (s.subscription_index is not None or s.error)]
    for skip in skipped:
        out.write(f"  skipped {skip.repo}: {skip.reason}\n")
    counts = (f"  {len(plan.targets)} would start, {len(undecided)} depend on the payload, "
              f"{len(skipped)} skipped")
    if undecided:
        counts += (f" (set {PAYLOAD_VAR}, or an example_payload under produces in "
                   "tako.yml, to decide them)")
    out.write(counts + "\n")


def _payload_reason(reason: str) -> str:
    """What reads the payload, without repeating "depends on the payload"."""
    return reason.replace("depends on the payload: ", "")


def maybe_plan(result: HookResult, repo: str | None, env: Mapping[str, str], out: TextIO,
               *, config_path: str = DEFAULT_CONFIG_PATH,
               printer: PlanPrinter | None = None) -> None:
    """Print plans when a token is available; never raise (a push is never blocked
    because the network or the token did not cooperate)."""
    token = env.get("GITHUB_TOKEN") or env.get("GH_TOKEN") or ""
    if not token or result.blocked:
        return
    if repo is None:
        out.write("tako-gha: note: cannot tell owner/repo from the remote URL; "
                  "no cascade plan printed (set TAKO_REPOSITORY=owner/repo to name it)\n")
        return
    api_url = env.get("GITHUB_API_URL") or "https://api.github.com"
    budget = _plan_budget(env, out)
    if env.get(PAYLOAD_VAR, "").strip():
        payload = hook_payload(env, out)
        if payload is None:
            return
    else:
        payload = None  # no payload: filters reading one are not judged

    def default_printer(name: str, cfg: ConfigResult, stream: TextIO) -> None:
        print_plan(name, cfg, stream, api_url=api_url, token=token, config_path=config_path,
                   payload=payload)

    show = printer or default_printer
    for checked in result.checked:
        config = checked.result
        if config is None or config.config is None:
            continue
        _run_bounded(lambda cfg=config: show(repo, cfg, out), budget, out)
        break  # one plan per push: the pushed tips share an org


PAYLOAD_VAR = "TAKO_HOOK_PAYLOAD"  # JSON text or @FILE: the payload the plan assumes


def hook_payload(env: Mapping[str, str], out: TextIO) -> dict[str, Any] | None:
    """``TAKO_HOOK_PAYLOAD`` read like ``--payload`` (the one strict reader); {} when
    unset. A bad one is a note and None (no plan), never a blocked push."""
    raw = env.get(PAYLOAD_VAR, "").strip()
    if not raw:
        return {}
    from tako_gha.surfaces.errors import UserError
    from tako_gha.surfaces.flags import read_payload

    try:
        return read_payload(raw, flag=PAYLOAD_VAR)
    except UserError as exc:
        out.write(f"tako-gha: note: {exc.message}; no cascade plan printed\n")
        return None


def _plan_budget(env: Mapping[str, str], out: TextIO) -> float:
    """``TAKO_HOOK_PLAN_TIMEOUT`` (core.settings: finite, at most an hour); a bad value
    is said and the default used, since the push must go on."""
    raw = env.get("TAKO_HOOK_PLAN_TIMEOUT", "").strip()
    if not raw:
        return PLAN_BUDGET_SECONDS
    try:
        return max(0.1, read_number("TAKO_HOOK_PLAN_TIMEOUT", raw))
    except SettingError as exc:
        out.write(f"tako-gha: note: {exc}; using {PLAN_BUDGET_SECONDS:g}s\n")
        return PLAN_BUDGET_SECONDS


def _run_bounded(work: Callable[[], None], budget: float, out: TextIO) -> None:
    """Run ``work`` for at most ``budget`` seconds; any failure or overrun is a note
    (network, auth, anything): the push is never blocked by the plan."""
    failure: list[BaseException] = []

    def target() -> None:
        try:
            work()
        except Exception as exc:
            failure.append(exc)

    # A daemon thread: if the API hangs, the hook returns and the process exits anyway.
    thread = threading.Thread(target=target, name="tako-hook-plan", daemon=True)
    thread.start()
    thread.join(budget)
    if thread.is_alive():
        out.write(f"tako-gha: note: the cascade plan took longer than {budget:g}s "
                  "(TAKO_HOOK_PLAN_TIMEOUT); the push goes on\n")
    elif failure:
        out.write(f"tako-gha: note: could not print the cascade plan "
                  f"({_why(failure[0])}); the push goes on\n")


def _why(exc: BaseException) -> str:
    """A failure in the user's words: known errors by their message and hint; only an
    unexpected exception names its class (that is a bug worth reporting)."""
    from tako_gha.forge.base import ForgeError
    from tako_gha.surfaces.errors import UserError, api_url_named

    if isinstance(exc, ForgeError):
        # message (hint); never holds a token
        return api_url_named(str(exc), "GITHUB_API_URL")
    if isinstance(exc, UserError):
        return api_url_named(f"{exc.message} ({exc.hint})" if exc.hint else exc.message,
                             "GITHUB_API_URL")
    return f"{type(exc).__name__}: {exc}"


def run_pre_push(stdin_text: str, argv: Sequence[str], env: Mapping[str, str], out: TextIO,
                 *, git_dir: str = ".", config_path: str = DEFAULT_CONFIG_PATH,
                 plan: bool = True) -> int:
    """The hook: exit 0 to let the push go, 1 to block it."""
    refs = refs_from_pre_commit(env) if env.get("PRE_COMMIT") == "1" else []
    refs = refs or parse_push_lines(stdin_text)
    remote_url = (argv[1] if len(argv) > 1 else "") or env.get("PRE_COMMIT_REMOTE_URL", "")
    repo = repo_from_remote(remote_url) or env.get("TAKO_REPOSITORY") or None
    try:
        result = check_push(refs, git_dir=git_dir, config_path=config_path, repo=repo)
    except ValueError as exc:
        out.write(f"tako-gha: note: {exc}; tako.yml not checked\n")
        return 0
    report_lint(result, out)
    if result.blocked:
        return 1
    if plan:
        maybe_plan(result, repo, env, out, config_path=config_path)
    if env.get("TAKO_HOOK_TIMING"):
        out.write(f"tako-gha: linted in {result.seconds * 1000:.0f} ms\n")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m tako_gha.surfaces.hook pre-push [REMOTE [URL]]``: the hook without
    the CLI's start-up (hooks/pre-push uses it when it can find the interpreter)."""
    import os
    import sys

    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] != "pre-push":
        sys.stderr.write("usage: python -m tako_gha.surfaces.hook pre-push [REMOTE [URL]]\n")
        return 2
    stdin_text = "" if sys.stdin is None or sys.stdin.isatty() else sys.stdin.read()
    return run_pre_push(stdin_text, args[1:], os.environ, sys.stderr)


if __name__ == "__main__":
    raise SystemExit(main())
