"""The world file ``DIR/emulator.yml``: secrets, tokens, repo metadata, limits, runner,
faults. Parsed once at load into plain dataclasses; every problem is a ``WorldError``
naming the key and what was expected (docs/emulator.md describes the format).
"""

from __future__ import annotations

import fnmatch
import secrets as _secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tako_gha.core.durations import DurationError, parse_duration

WORLD_FILE = "emulator.yml"
_TOP_KEYS = {"secrets", "tokens", "repos", "limits", "runner", "faults", "admin_token",
             "features"}
_REPO_META_KEYS = {
    "archived", "fork", "disabled", "private", "topics", "default_branch", "description",
}


class WorldError(ValueError):
    """The world directory or its emulator.yml is unusable; the message says where."""


@dataclass
class TokenPolicy:
    """Which repos a token sees, whether it may dispatch, and its hourly budgets."""

    repos: list[str] = field(default_factory=lambda: ["*"])
    dispatch: bool = True
    core_limit: int | None = None  # None: the world default
    graphql_limit: int | None = None
    scopes: list[str] | None = None  # a classic PAT's scopes (x-oauth-scopes); None: fine-grained

    def __post_init__(self) -> None:
        self._everything = any(g in ("*", "*/*") for g in self.repos)
        self._seen: dict[str, bool] = {}

    @property
    def sees_everything(self) -> bool:
        return self._everything

    def scope_allows_write(self, private: bool) -> bool:
        """A classic PAT writes with ``repo`` (any repo) or ``public_repo`` (public)."""
        if self.scopes is None:
            return True
        return "repo" in self.scopes or (not private and "public_repo" in self.scopes)

    def sees(self, full_name: str) -> bool:
        if self._everything:
            return True
        found = self._seen.get(full_name)
        if found is None:
            name = full_name.lower()
            found = any(fnmatch.fnmatchcase(name, glob.lower()) for glob in self.repos)
            if len(self._seen) < 100_000:
                self._seen[full_name] = found
        return found


@dataclass
class Limits:
    """Rate limits, as on github.com unless the world file says otherwise."""

    core: int = 5000  # requests per token per window
    graphql: int = 5000  # points per token per window
    search: int = 30
    run_token_core: int = 1000  # a run's GITHUB_TOKEN, per repository (as on GitHub)
    window: float = 3600.0  # seconds until a budget resets
    content_per_minute: int = 80  # secondary: content-creating POSTs per token
    content_per_hour: int = 500
    concurrency: int = 100  # secondary: requests in flight per token
    # secondary: points per trailing minute per token (REST: GET/HEAD/OPTIONS 1, other
    # methods 5; GraphQL: a query 1). GitHub does not say whether a 304 counts here
    # (it is free for the primary budget); by default it does.
    rest_points_per_minute: int = 900
    graphql_points_per_minute: int = 2000
    not_modified_counts: bool = True
    enabled: bool = True


SIM_CONCLUSIONS = ("success", "failure", "cancelled", "skipped", "neutral", "timed_out")


@dataclass
class Simulation:
    """The simulated runner: no workflow is executed. A run is queued for ``queued``
    seconds, then in progress for ``duration`` seconds, then ends ``conclusion``.
    ``fan_out`` maps a repo to the repos its runs dispatch the same event to when
    they start, with the ``tako`` block and title tako's action would send, so a
    whole tree unfolds without a process."""

    duration: float = 60.0
    conclusion: str = "success"
    queued: float = 1.0
    fan_out: dict[str, list[str]] = field(default_factory=dict)  # lower-case keys
    # Runs of these repos (lower case) stay in progress once started, past ``duration``,
    # until a harness finishes them (``/_emulator/held``; emulator.harness): a process
    # outside the emulator plays their fan-out step (benchmarks/bench_wait.py).
    hold: list[str] = field(default_factory=list)


@dataclass
class RepoMeta:
    archived: bool = False
    fork: bool = False
    disabled: bool = False
    private: bool = False
    topics: list[str] = field(default_factory=list)
    default_branch: str | None = None  # None: the repository's HEAD branch
    description: str | None = None


@dataclass
class WorldSettings:
    secrets: dict[str, str] = field(default_factory=dict)
    tokens: dict[str, TokenPolicy] | None = None  # None: any token sees every repo
    repos: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # (glob, meta)
    limits: Limits = field(default_factory=Limits)
    runner_capacity: int | None = None
    simulate: Simulation | None = None  # runner.simulate: no processes
    faults: dict[str, Any] = field(default_factory=dict)
    admin_token: str = ""
    # server features a GitHub Enterprise Server may lack: {return_run_details: false}
    features: dict[str, bool] = field(default_factory=dict)

    def repo_meta(self, full_name: str) -> RepoMeta:
        """Metadata of one repo: every matching ``repos:`` entry applied in file order."""
        merged: dict[str, Any] = {}
        name = full_name.lower()
        for glob, meta in self.repos:
            if fnmatch.fnmatchcase(name, glob.lower()):
                merged.update(meta)
        return RepoMeta(**merged)

    def policy(self, token: str) -> TokenPolicy | None:
        """The policy of a token; None for an unknown token when tokens are declared."""
        if self.tokens is None:
            return TokenPolicy()
        return self.tokens.get(token)


def load_settings(world_dir: Path) -> WorldSettings:
    """Read ``world_dir/emulator.yml`` (absent = defaults)."""
    path = world_dir / WORLD_FILE
    if not path.is_file():
        return finish_settings(WorldSettings())
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.MarkedYAMLError as exc:
        # One line, file:line:col first, like tako.yml diagnostics (PyYAML's own text
        # spans several lines and names "<unicode string>").
        mark = exc.problem_mark or exc.context_mark
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        raise WorldError(f"{where}: invalid YAML: {exc.problem or exc.context}") from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise WorldError(f"{path}: cannot read: {exc}") from None
    return parse_settings(raw, where=str(path))


def parse_settings(raw: Any, where: str = WORLD_FILE) -> WorldSettings:
    if raw is None:
        raw = {}
    _expect(isinstance(raw, dict), where, "the top level", "a mapping")
    unknown = sorted(set(raw) - _TOP_KEYS)
    if unknown:
        raise WorldError(
            f"{where}: unknown key {unknown[0]!r} (known: {', '.join(sorted(_TOP_KEYS))})"
        )
    settings = WorldSettings()
    settings.secrets = _parse_secrets(raw.get("secrets"), where)
    settings.tokens = _parse_tokens(raw.get("tokens"), where)
    settings.repos = _parse_repos(raw.get("repos"), where)
    settings.limits = parse_limits(raw.get("limits"), where)
    settings.runner_capacity = _parse_runner(raw.get("runner"), where)
    settings.simulate = _parse_simulation((raw.get("runner") or {}).get("simulate"), where)
    faults = raw.get("faults") or {}
    _expect(isinstance(faults, dict), where, "faults", "a mapping")
    settings.faults = faults
    settings.features = _parse_features(raw.get("features"), where)
    admin = raw.get("admin_token")
    if admin is not None:
        _expect(isinstance(admin, str) and admin, where, "admin_token", "a non-empty string")
        settings.admin_token = admin
    return finish_settings(settings)


def finish_settings(settings: WorldSettings) -> WorldSettings:
    """Pick the admin token: explicit, else the first all-seeing dispatching token,
    else a fresh one added to the declared tokens."""
    if settings.admin_token:
        if settings.tokens is not None and settings.admin_token not in settings.tokens:
            settings.tokens[settings.admin_token] = TokenPolicy()
        return settings
    if settings.tokens is None:
        settings.admin_token = "emu-admin-" + _secrets.token_hex(8)
        return settings
    for token, policy in settings.tokens.items():
        if policy.dispatch and any(g in ("*", "*/*") for g in policy.repos):
            settings.admin_token = token
            return settings
    settings.admin_token = "emu-admin-" + _secrets.token_hex(8)
    settings.tokens[settings.admin_token] = TokenPolicy()
    return settings


def _expect(ok: bool, where: str, key: str, what: str) -> None:
    if not ok:
        raise WorldError(f"{where}: {key}: expected {what}")


def _parse_features(raw: Any, where: str) -> dict[str, bool]:
    """``features: {return_run_details: false}``: behave like a server without it."""
    if raw is None:
        return {}
    _expect(isinstance(raw, dict), where, "features", "a mapping {return_run_details: BOOL}")
    for key, value in raw.items():
        _expect(key == "return_run_details", where, f"features.{key}",
                "a known feature (return_run_details)")
        _expect(isinstance(value, bool), where, f"features.{key}", "true or false")
    return dict(raw)


def _parse_secrets(raw: Any, where: str) -> dict[str, str]:
    if raw is None:
        return {}
    _expect(isinstance(raw, dict), where, "secrets", "a mapping NAME: value")
    out: dict[str, str] = {}
    for name, value in raw.items():
        _expect(isinstance(name, str), where, f"secrets.{name}", "a string name")
        _expect(isinstance(value, (str, int, float, bool)), where, f"secrets.{name}", "a scalar")
        out[name] = str(value)
    return out


def _parse_tokens(raw: Any, where: str) -> dict[str, TokenPolicy] | None:
    if raw is None:
        return None
    _expect(isinstance(raw, dict), where, "tokens", "a mapping TOKEN: {repos, dispatch}")
    out: dict[str, TokenPolicy] = {}
    for token, spec in raw.items():
        key = "tokens.<a token>"  # never echo a token value in a message
        _expect(isinstance(token, str) and bool(token), where, key, "a non-empty string")
        spec = spec or {}
        _expect(isinstance(spec, dict), where, key, "a mapping {repos, dispatch}")
        extra = sorted(set(spec) - {"repos", "dispatch", "rate_limit", "graphql_limit", "scopes"})
        if extra:
            raise WorldError(f"{where}: {key}: unknown key {extra[0]!r}")
        repos = spec.get("repos", ["*"])
        if isinstance(repos, str):
            repos = [repos]
        _expect(
            isinstance(repos, list) and all(isinstance(r, str) for r in repos),
            where, f"{key}.repos", "a list of owner/repo globs",
        )
        dispatch = spec.get("dispatch", True)
        _expect(isinstance(dispatch, bool), where, f"{key}.dispatch", "true or false")
        scopes = spec.get("scopes")
        if isinstance(scopes, str):
            scopes = [s.strip() for s in scopes.split(",") if s.strip()]
        _expect(scopes is None or (isinstance(scopes, list)
                                   and all(isinstance(s, str) for s in scopes)),
                where, f"{key}.scopes", "a list of OAuth scopes (e.g. [repo, workflow])")
        out[token] = TokenPolicy(
            repos=repos,
            dispatch=dispatch,
            core_limit=_opt_int(spec.get("rate_limit"), where, f"{key}.rate_limit"),
            graphql_limit=_opt_int(spec.get("graphql_limit"), where, f"{key}.graphql_limit"),
            scopes=scopes,
        )
    return out


def _parse_repos(raw: Any, where: str) -> list[tuple[str, dict[str, Any]]]:
    if raw is None:
        return []
    _expect(isinstance(raw, dict), where, "repos", "a mapping OWNER/REPO-GLOB: {archived, ...}")
    out: list[tuple[str, dict[str, Any]]] = []
    for glob, meta in raw.items():
        key = f"repos.{glob}"
        _expect(isinstance(glob, str) and "/" in glob, where, key, "an owner/repo glob as key")
        meta = meta or {}
        _expect(isinstance(meta, dict), where, key, "a mapping")
        extra = sorted(set(meta) - _REPO_META_KEYS)
        if extra:
            raise WorldError(
                f"{where}: {key}: unknown key {extra[0]!r} "
                f"(known: {', '.join(sorted(_REPO_META_KEYS))})"
            )
        for flag in ("archived", "fork", "disabled", "private"):
            if flag in meta:
                _expect(isinstance(meta[flag], bool), where, f"{key}.{flag}", "true or false")
        if "topics" in meta:
            topics = meta["topics"]
            _expect(
                isinstance(topics, list) and all(isinstance(t, str) for t in topics),
                where, f"{key}.topics", "a list of strings",
            )
        for text in ("default_branch", "description"):
            if text in meta:
                _expect(isinstance(meta[text], str), where, f"{key}.{text}", "a string")
        out.append((glob, dict(meta)))
    return out


def parse_limits(raw: Any, where: str = WORLD_FILE, base: Limits | None = None) -> Limits:
    limits = Limits(**vars(base)) if base else Limits()
    if raw is None:
        return limits
    _expect(isinstance(raw, dict), where, "limits", "a mapping")
    for key, value in raw.items():
        if key == "window":
            limits.window = _duration(value, where, "limits.window")
        elif key in ("enabled", "not_modified_counts"):
            _expect(isinstance(value, bool), where, f"limits.{key}", "true or false")
            setattr(limits, key, value)
        elif key in Limits.__dataclass_fields__:
            number = _opt_int(value, where, f"limits.{key}")
            setattr(limits, key, number)
        else:
            known = ", ".join(sorted(Limits.__dataclass_fields__))
            raise WorldError(f"{where}: limits: unknown key {key!r} (known: {known})")
    return limits


def _parse_runner(raw: Any, where: str) -> int | None:
    if raw is None:
        return None
    _expect(isinstance(raw, dict), where, "runner", "a mapping {capacity: N}")
    extra = sorted(set(raw) - {"capacity", "simulate"})
    if extra:
        raise WorldError(f"{where}: runner: unknown key {extra[0]!r} "
                         "(known: capacity, simulate)")
    cap = _opt_int(raw.get("capacity"), where, "runner.capacity")
    if cap is not None and cap < 1:
        raise WorldError(f"{where}: runner.capacity: expected an integer >= 1")
    return cap


def _parse_simulation(raw: Any, where: str) -> Simulation | None:
    if raw is None:
        return None
    key = "runner.simulate"
    _expect(isinstance(raw, dict), where, key,
            "a mapping {duration, conclusion, queued, fan_out}")
    extra = sorted(set(raw) - {"duration", "conclusion", "queued", "fan_out", "hold"})
    if extra:
        raise WorldError(f"{where}: {key}: unknown key {extra[0]!r} "
                         "(known: conclusion, duration, fan_out, hold, queued)")
    sim = Simulation()
    if "duration" in raw:
        sim.duration = _duration(raw["duration"], where, f"{key}.duration")
    if "queued" in raw:
        sim.queued = _duration(raw["queued"], where, f"{key}.queued")
    if "conclusion" in raw:
        _expect(raw["conclusion"] in SIM_CONCLUSIONS, where, f"{key}.conclusion",
                "one of " + ", ".join(SIM_CONCLUSIONS))
        sim.conclusion = raw["conclusion"]
    fan = raw.get("fan_out") or {}
    _expect(isinstance(fan, dict), where, f"{key}.fan_out",
            "a mapping owner/repo: [owner/repo, ...]")
    for parent, children in fan.items():
        _expect(isinstance(parent, str) and "/" in parent and isinstance(children, list)
                and all(isinstance(c, str) and "/" in c for c in children),
                where, f"{key}.fan_out.{parent}", "a list of owner/repo names")
        sim.fan_out[parent.lower()] = list(children)
    hold = raw.get("hold") or []
    _expect(isinstance(hold, list) and all(isinstance(h, str) and "/" in h for h in hold),
            where, f"{key}.hold", "a list of owner/repo names")
    sim.hold = [h.lower() for h in hold]
    return sim


def _opt_int(value: Any, where: str, key: str) -> int | None:
    if value is None:
        return None
    _expect(
        isinstance(value, int) and not isinstance(value, bool) and value >= 0,
        where, key, "a non-negative integer",
    )
    return int(value)


def _duration(value: Any, where: str, key: str) -> float:
    try:
        return parse_duration(str(value))
    except DurationError as exc:
        raise WorldError(f"{where}: {key}: {exc}") from None
