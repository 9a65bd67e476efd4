"""``POST /repos/{owner}/{repo}/actions/workflows/{workflow}/dispatches``, as GitHub has it.

The workflow is named by its numeric id or its file name; ``ref`` (a branch or tag)
must exist; ``inputs`` are checked against the workflow's ``on.workflow_dispatch.inputs``
(``core.workflow_inputs``, GitHub's 422 texts); at most 25 of them. With
``"return_run_details": true`` the answer is ``200 {"workflow_run_id", "run_url",
"html_url"}`` naming the run it started, otherwise ``204``.

World setting ``features: {return_run_details: false}`` (emulator.yml) makes the
server behave like a GitHub Enterprise Server that predates the property: a body that
carries it is refused with GitHub's validation error, as any unknown key is, and
nothing is started.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from tako_gha.core import workflow_inputs as wi
from tako_gha.emulator import confine
from tako_gha.emulator.httpkit import ApiError, Request, Response, Router, not_found
from tako_gha.emulator.workflows import is_workflow_path, workflow_id_for

if TYPE_CHECKING:
    from tako_gha.emulator.server import ApiApp
    from tako_gha.emulator.world import WorldRepo

DOC = ("https://docs.github.com/rest/actions/workflows#create-a-workflow-dispatch-event")
DOC_WORKFLOW = "https://docs.github.com/rest/actions/workflows#get-a-workflow"
KEYS = ("ref", "inputs", "return_run_details")
FEATURE = "return_run_details"


def register(router: Router) -> None:
    router.add("POST", "/repos/{owner}/{repo}/actions/workflows/{workflow}/dispatches",
               "dispatch", create_workflow_dispatch)


def supports_run_details(app: ApiApp) -> bool:
    """False in a world that plays a server without ``return_run_details``."""
    features = getattr(app.settings, "features", None) or {}
    return bool(features.get(FEATURE, True))


def create_workflow_dispatch(app: ApiApp, req: Request) -> Response:
    # the route table imports this module
    from tako_gha.emulator.rest import (
        after_create_faults,
        dispatch_target,
        refuse_if_content_limited,
    )

    repo = dispatch_target(app, req, DOC)
    path = _workflow_path(repo, req.params["workflow"])
    ref, inputs, details = _body(app, req)
    if repo.resolve_ref(ref.removeprefix("refs/tags/")) is None:
        raise _invalid(f"No ref found for: {ref}", plain=True)
    declared = wi.parse(repo.read_file(path) or b"", path)
    if not declared.listens:
        raise _invalid("Workflow does not have 'workflow_dispatch' trigger", plain=True)
    problems = wi.check(declared, inputs)
    if problems:
        raise _invalid(problems[0].message, plain=problems[0].code != "too-many")
    refuse_if_content_limited(app, req)
    if app.faults.drop_dispatch():
        return Response(204)
    run = None
    if app.runner is not None:
        run = app.runner.dispatch_workflow(repo.full_name, path, ref, inputs,
                                           app.render.actor(req.login))
    after_create_faults(app, [run] if run is not None else [])
    if not details or run is None:
        return Response(204)
    api = f"{app.base_url}/repos/{run.repo}/actions/runs/{run.id}"
    return Response(200, {"workflow_run_id": run.id, "run_url": api,
                          "html_url": f"{app.base_url}/{run.repo}/actions/runs/{run.id}"})


def _workflow_path(repo: WorldRepo, wanted: str) -> str:
    """The workflow file the path names, by numeric id or file name (404 otherwise)."""
    for path in repo.list_files(".github/workflows/"):
        if not is_workflow_path(path):
            continue
        if (confine.valid_id(wanted) and workflow_id_for(repo.full_name, path) == int(wanted)) \
                or path.rsplit("/", 1)[-1] == wanted:
            return path
    raise not_found(DOC_WORKFLOW)


def _body(app: ApiApp, req: Request) -> tuple[str, dict[str, Any], bool]:
    body = req.json()
    if not isinstance(body, dict):
        raise _invalid(f"For 'links/0/schema', {_show(body)} is not an object.")
    allowed = KEYS if supports_run_details(app) else KEYS[:2]
    extra = [key for key in body if key not in allowed]
    if extra:
        raise _invalid(f"{json.dumps(extra[0])} is not a permitted key.")
    if "ref" not in body:
        raise _invalid('"ref" wasn\'t supplied.')
    ref = body["ref"]
    if not isinstance(ref, str):
        raise _invalid(f"For 'properties/ref', {_show(ref)} is not a string.")
    inputs = body.get("inputs")
    if inputs is None:
        inputs = {}
    if not isinstance(inputs, dict):
        raise _invalid(f"For 'properties/inputs', {_show(inputs)} is not an object.")
    if len(inputs) > wi.MAX_INPUTS:
        raise _invalid(f"No more than {wi.MAX_INPUTS} properties are allowed; "
                       f"{len(inputs)} were supplied.")
    details = body.get(FEATURE, False)
    if not isinstance(details, bool):
        raise _invalid(f"For 'properties/{FEATURE}', {_show(details)} is not a boolean.")
    return ref, inputs, details


def _invalid(detail: str, *, plain: bool = False) -> ApiError:
    """GitHub's 422: schema problems read ``Invalid request.\\n\\n…``; the workflow's own
    refusals (ref, trigger, inputs) are the bare sentence."""
    message = detail if plain else f"Invalid request.\n\n{detail}"
    return ApiError(422, message, DOC, extra={"status": "422"})


def _show(value: Any) -> str:
    text = json.dumps(value)
    return text if len(text) <= 60 else text[:57] + "..."
