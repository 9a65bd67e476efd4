"""The workflow dispatch that names its run: ``POST …/actions/workflows/{file}/dispatches``
with ``"return_run_details": true`` answers ``200 {workflow_run_id, run_url, html_url}``
(github.com since 2026-02), so a run is known from the dispatch itself.

Servers that predate the property (GitHub Enterprise Server 3.20 and older) refuse it as
an unknown key; the refusal proves nothing was started, so the dispatch is sent again
without it, and the host is remembered for the rest of the process (every forge of
the process shares the memory: workers, children of one fan-out). A ``204`` to a
request that asked for details (a server that ignored the property) teaches the same.
The caller learns it once, through ``WorkflowDispatch.note``.

Like ``repository_dispatch``, the POST is never retried after an ambiguous failure
(a timeout, a 5xx): the transport sends it ``safe=False`` and PyGithub's own retries
are off (``retry=None``), so a lost answer is the caller's to resolve.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from tako_gha.core.workflow_inputs import MAX_INPUTS
from tako_gha.forge.base import (
    MAX_STATE_IDS,
    NOT_GITHUB_HINT,
    AmbiguousDispatchError,
    CallKind,
    ForgeError,
    NotDispatchableError,
    RunState,
    UnexpectedInputsError,
    ValidationError,
    WorkflowDispatch,
)
from tako_gha.forge.discovery import _gql_str
from tako_gha.forge.runstate import states_from_body
from tako_gha.forge.transport import Response, TransportAmbiguous

if TYPE_CHECKING:
    from tako_gha.forge.github import GitHubForge

FIELD = "return_run_details"
_lock = threading.Lock()
_without_details: set[str] = set()  # API base URLs (lower-case) that lack the field
UNEXPECTED = "Unexpected inputs provided:"
NO_TRIGGER = "does not have 'workflow_dispatch' trigger"


def lacks_run_details(api_url: str) -> bool:
    with _lock:
        return api_url.lower() in _without_details


def _learn(api_url: str) -> bool:
    """Remember that this host gives no run details; True the first time."""
    with _lock:
        key = api_url.lower()
        first = key not in _without_details
        _without_details.add(key)
        return first


def forget_hosts() -> None:
    """Tests: start again from "every server gives run details"."""
    with _lock:
        _without_details.clear()


def dispatch_workflow(forge: GitHubForge, repo: str, workflow: str, ref: str,
                      inputs: dict[str, str]) -> WorkflowDispatch:
    if len(inputs) > MAX_INPUTS:
        raise ValidationError(
            f"the dispatch of {workflow} to {repo} has {len(inputs)} inputs; GitHub allows "
            f"{MAX_INPUTS}", hint="send fewer inputs (tako-gha lint names them)")
    bad = sorted(name for name, value in inputs.items() if not isinstance(value, str))
    if bad:
        raise ValidationError(f"inputs {', '.join(bad)} for {repo} are not strings",
                              hint="GitHub takes workflow inputs as strings")
    body: dict[str, Any] = {"ref": ref, "inputs": inputs}
    asked = not lacks_run_details(forge.api_url)
    if asked:
        body[FIELD] = True
    resp = _post(forge, repo, workflow, body)
    note = None
    if asked and resp.status in (400, 422) and FIELD in resp.message:
        # Refused as an unknown key: nothing was started. Once more, without it.
        if _learn(forge.api_url):
            note = (f"{forge.api_url} does not return run details for workflow dispatches "
                    f"({resp.status}: {resp.message.splitlines()[-1]}); its runs are found "
                    "by listing, as for repository_dispatch")
        body.pop(FIELD)
        asked = False
        resp = _post(forge, repo, workflow, body)
    if resp.status >= 300:
        raise _refusal(forge, resp, repo, workflow)
    if resp.status == 200:
        found = _details(resp)
        if found is not None:
            return found
    if asked and _learn(forge.api_url):
        note = (f"{forge.api_url} answered a workflow dispatch with HTTP {resp.status} and "
                "no run details; its runs are found by listing, as for repository_dispatch")
    return WorkflowDispatch(note=note)


def _post(forge: GitHubForge, repo: str, workflow: str, body: dict[str, Any]) -> Response:
    url = f"/repos/{repo}/actions/workflows/{quote(workflow, safe='')}/dispatches"
    try:
        resp = forge._request(CallKind.DISPATCH, "POST", url, owner=repo.split("/", 1)[0],
                              body=body, safe=False)
    except TransportAmbiguous as exc:
        raise AmbiguousDispatchError(
            f"the dispatch of {workflow} to {repo} may or may not have been delivered "
            f"({exc})", hint="look for its run before sending it again") from None
    if resp.status >= 500:
        raise AmbiguousDispatchError(
            f"GitHub answered HTTP {resp.status} to the dispatch of {workflow} to {repo}; it "
            "may or may not have been delivered", hint="look for its run before sending it "
            "again", status=resp.status)
    return resp


def _refusal(forge: GitHubForge, resp: Response, repo: str, workflow: str) -> ForgeError:
    message = resp.message
    if resp.status == 422 and NO_TRIGGER in message:
        return NotDispatchableError(
            f"{repo}'s {workflow} does not listen on workflow_dispatch",
            hint=f"add 'workflow_dispatch:' under 'on:' in {workflow}, or set "
                 "'trigger: repository_dispatch' in the subscription", status=422)
    if resp.status == 422 and message.startswith(UNEXPECTED):
        try:
            names = [str(n) for n in json.loads(message[len(UNEXPECTED):].strip())]
        except (ValueError, TypeError):
            names = []
        return UnexpectedInputsError(
            f"GitHub refused to dispatch {workflow} to {repo}: {message}", names,
            hint=f"declare them under on.workflow_dispatch.inputs in {workflow} "
                 "(tako-gha lint shows where)")
    return forge._error(resp, f"dispatch {workflow} to {repo}", repo,
                        permission="Actions: write")


def _details(resp: Response) -> WorkflowDispatch | None:
    try:
        body = resp.json()
        run_id = body["workflow_run_id"]
    except (ValueError, TypeError, KeyError):
        return None
    if not isinstance(run_id, int) or isinstance(run_id, bool) or run_id <= 0:
        return None
    return WorkflowDispatch(run_id=run_id, run_url=str(body.get("run_url") or ""),
                            html_url=str(body.get("html_url") or ""))


def states_query(count: int) -> str:
    """``resource(url:)`` for ``count`` runs, aliased ``r0``…, one query."""
    head = ", ".join(f"$u{i}: URI!" for i in range(count))
    fields = " ".join(
        f"r{i}: resource(url: $u{i}) {{ ... on WorkflowRun {{ id databaseId updatedAt "
        "checkSuite { status conclusion } } }" for i in range(count))
    return f"query({head}) {{ {fields} }}"


def run_states_by_url(forge: GitHubForge, urls: Sequence[str]) -> dict[str, RunState]:
    asked = [str(u) for u in urls]
    if len(asked) > MAX_STATE_IDS:
        raise ValueError(f"at most {MAX_STATE_IDS} run URLs per query, not {len(asked)}")
    if not asked:
        return {}
    resp = forge._request(CallKind.POLL, "POST", forge.graphql_url, body={
        "query": states_query(len(asked)),
        "variables": {f"u{i}": url for i, url in enumerate(asked)}})
    if resp.status != 200:
        raise forge._error(resp, "read the state of workflow runs (GraphQL)")
    body = resp.json()
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, dict):
        raise ForgeError("unexpected answer to the run-state query", hint=NOT_GITHUB_HINT)
    nodes = {"data": {"nodes": [data.get(f"r{i}") for i in range(len(asked))]}}
    by_alias = states_from_body(nodes, [f"r{i}" for i in range(len(asked))])
    return {asked[int(alias[1:])]: RunState(node_id=str(node.get("id") or ""),
                                            run_id=state.run_id, status=state.status,
                                            conclusion=state.conclusion,
                                            updated_at=state.updated_at)
            for alias, state in by_alias.items()
            if isinstance(node := data.get(alias), dict)}


FILES_PER_QUERY = 100


def files_query(items: Sequence[tuple[str, str, str]]) -> str:
    """``f0..fN``: each ``(repo, ref, path)``'s text, one GraphQL query."""
    parts = []
    for i, (full, ref, path) in enumerate(items):
        owner, name = full.split("/", 1)
        parts.append(f"f{i}: repository(owner: {_gql_str(owner)}, name: {_gql_str(name)}) "
                     f"{{ object(expression: {_gql_str(f'{ref}:{path}')}) "
                     "{ ... on Blob { text } } }")
    return "query { " + " ".join(parts) + " }"


def read_files(forge: GitHubForge, items: Sequence[tuple[str, str, str]]
               ) -> dict[tuple[str, str, str], str | None]:
    """The text of each ``(repo, ref, path)`` (None: no such file, or not readable), in
    GraphQL queries of ``FILES_PER_QUERY`` (the engine reads the workflows exact-mode
    subscriptions name: a few queries for a whole fan-out). Raises ForgeError when a
    query fails as a whole."""
    out: dict[tuple[str, str, str], str | None] = {}
    wanted = list(dict.fromkeys(items))
    for start in range(0, len(wanted), FILES_PER_QUERY):
        chunk = wanted[start:start + FILES_PER_QUERY]
        resp = forge._request(CallKind.DISCOVERY, "POST", forge.graphql_url,
                              body={"query": files_query(chunk)})
        if resp.status != 200:
            raise forge._error(resp, "read workflow files (GraphQL)")
        body = resp.json()
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, dict):
            raise ForgeError("unexpected answer to the workflow file query",
                             hint=NOT_GITHUB_HINT)
        for i, item in enumerate(chunk):
            repo = data.get(f"f{i}")
            obj = repo.get("object") if isinstance(repo, dict) else None
            text = obj.get("text") if isinstance(obj, dict) else None
            out[item] = text if isinstance(text, str) else None
    return out
