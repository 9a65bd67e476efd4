"""The six seed scenarios, end to end: each cascade is started THROUGH THE PROJECT'S
action.yml inside an emulator-run workflow (a `repository_dispatch` to the origin repo,
whose workflow `uses: acme/tako-gha@v1`, a world repository holding this action.yml,
run step by step as a composite action), and children that fan out do so from their
own emulated runs the same way. The action's outputs are read by a later step
(`steps.tako.outputs.*`). Nothing here calls the engine directly.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from cascade_world import (
    annotations,
    assert_ran_action_yml,
    receiver,
    start_cascade,
    sub,
    tako_step,
    tako_yml,
    trigger,
    work_step,
)

from tako_gha.emulator import Emulator

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
World = Callable[..., Emulator]


def _runs_of(emu: Emulator, repo: str) -> list:
    return [r for r in emu.runs.list_runs(repo) if r.event_type != "start"]


def one_to_two(world: World, out_dir: Path, action_yml: str | None = None) -> None:
    """acme/core → acme/a, acme/b, with the world's action.yml (or ``action_yml``)."""
    repos = {
        "acme/core": {"tako.yml": tako_yml(produces=["built"]),
                      ".github/workflows/cascade.yml": trigger(out_dir, "built",
                                                               payload='{"version": "1.0.0"}')},
        "acme/a": {"tako.yml": tako_yml(subscriptions=[sub("acme/core", "built")]),
                   ".github/workflows/on-tako.yml": receiver(["built"], [work_step()])},
        "acme/b": {"tako.yml": tako_yml(subscriptions=[sub("acme/core", "built")]),
                   ".github/workflows/on-tako.yml": receiver(["built"], [work_step()])},
    }
    emu = world(repos, action_yml=action_yml)
    result = start_cascade(emu, "acme/core", out_dir)
    assert result.origin_run.conclusion == "success"
    assert (result.status, result.dispatched, result.failed) == ("success", 2, 0)
    kids = result.children()
    assert set(kids) == {"acme/a", "acme/b"}
    for repo, node in kids.items():
        (run,) = _runs_of(emu, repo)
        assert node["run_id"] == run.id and node["state"] == "success"
        assert node["correlation"] == "strict"
        assert run.client_payload["event"]["payload"] == {"version": "1.0.0"}
        assert run.client_payload["tako"]["root"] == result.root


def test_simple_fan_out_one_to_two(world: World, out_dir: Path) -> None:
    one_to_two(world, out_dir)


ACTION_YML = (ROOT / "action.yml").read_text()


@pytest.mark.parametrize(("good", "typo"), [
    ("TAKO_INPUT_EVENT_TYPE: ${{ inputs.event_type }}",
     "TAKO_INPUT_EVENT_TYP: ${{ inputs.event_type }}"),
    ("TAKO_INPUT_PAYLOAD: ${{ inputs.payload }}", "TAKO_INPUT_PAYLOAD: ${{ inputs.paylod }}"),
    ("TAKO_INPUT_TOKEN: ${{ inputs.token }}", "TAKO_INPUT_TOKN: ${{ inputs.token }}"),
    ("value: ${{ steps.tako.outputs.status }}", "value: ${{ steps.tako.output.status }}"),
])
def test_a_typo_in_action_yml_fails_the_end_to_end_suite(world: World, out_dir: Path,
                                                         good: str, typo: str) -> None:
    """The suite runs the real action.yml: one wrong name in a copy of it (the env
    mapping, an input, an output) and the 1→2 scenario no longer passes."""
    assert ACTION_YML.count(good) == 1
    with pytest.raises(AssertionError):
        one_to_two(world, out_dir, action_yml=ACTION_YML.replace(good, typo))


@pytest.mark.parametrize("dedupe", ["none", "root"])
def test_diamond(world: World, out_dir: Path, dedupe: str) -> None:
    """A→B, A→C, B→D, C→D: D runs once per path, or once per root with dedupe.

    C works a little longer than B, so that with ``dedupe: root`` B's dispatch to D is
    visible when C looks (GitHub has no lock: siblings dispatching in the very same
    instant can both send; dedupe sees what the runs API already shows)."""
    fan = tako_step("mid_done", dedupe=dedupe)
    repos = {
        "acme/a": {"tako.yml": tako_yml(produces=["top"]),
                   ".github/workflows/cascade.yml": trigger(out_dir, "top", dedupe=dedupe)},
        "acme/b": {"tako.yml": tako_yml(["mid_done"], [sub("acme/a", "top")]),
                   ".github/workflows/on-tako.yml": receiver(["top"], [work_step(), fan])},
        "acme/c": {"tako.yml": tako_yml(["mid_done"], [sub("acme/a", "top")]),
                   ".github/workflows/on-tako.yml": receiver(["top"], [work_step(2.5), fan])},
        "acme/d": {"tako.yml": tako_yml(subscriptions=[sub("acme/b", "mid_done"),
                                                       sub("acme/c", "mid_done")]),
                   ".github/workflows/on-tako.yml": receiver(["mid_done"], [work_step()])},
    }
    emu = world(repos)
    result = start_cascade(emu, "acme/a", out_dir)
    assert result.status == "success", result.tree
    kids = result.children()
    assert set(kids) == {"acme/b", "acme/c"}
    bottoms = [n for mid in kids.values() for n in mid["children"]]
    assert {n["repo"] for n in bottoms} == {"acme/d"}
    d_runs = _runs_of(emu, "acme/d")
    if dedupe == "none":
        assert len(bottoms) == 2 and len(d_runs) == 2
        assert {n["run_id"] for n in bottoms} == {r.id for r in d_runs}
        assert all(n["state"] == "success" for n in bottoms)
    else:
        # One run of D for the whole root. C's refused dispatch never made a run, so
        # the root (which rebuilds descendants from runs) shows D once, at B.
        assert len(d_runs) == 1
        ran = [n for n in bottoms if n["state"] != "deduplicated"]
        assert [(n["state"], n["run_id"]) for n in ran] == [("success", d_runs[0].id)]
        assert d_runs[0].client_payload["tako"]["chain"] == ["acme/a", "acme/b", "acme/d"]


def test_deep_chain_waited_from_the_root(world: World, out_dir: Path) -> None:
    """A→B→C→D: every level in A's tree, each found under its parent."""
    repos = {
        "acme/a": {"tako.yml": tako_yml(produces=["e1"]),
                   ".github/workflows/cascade.yml": trigger(out_dir, "e1")},
        "acme/b": {"tako.yml": tako_yml(["e2"], [sub("acme/a", "e1")]),
                   ".github/workflows/on-tako.yml": receiver(["e1"], [tako_step("e2")])},
        "acme/c": {"tako.yml": tako_yml(["e3"], [sub("acme/b", "e2")]),
                   ".github/workflows/on-tako.yml": receiver(["e2"], [tako_step("e3")])},
        "acme/d": {"tako.yml": tako_yml(subscriptions=[sub("acme/c", "e3")]),
                   ".github/workflows/on-tako.yml": receiver(["e3"], [work_step()])},
    }
    emu = world(repos)
    result = start_cascade(emu, "acme/a", out_dir)
    assert result.status == "success", result.tree
    node, path = result.origin, []
    while node["children"]:
        (node,) = node["children"]
        path.append((node["repo"], node["depth"], node["state"]))
    assert path == [("acme/b", 1, "success"), ("acme/c", 2, "success"),
                    ("acme/d", 3, "success")]
    for middle in ("acme/b", "acme/c"):  # their fan-out went through action.yml too
        assert_ran_action_yml(emu, _runs_of(emu, middle)[0])
    d_run = _runs_of(emu, "acme/d")[0]
    assert d_run.client_payload["tako"]["chain"] == ["acme/a", "acme/b", "acme/c", "acme/d"]
    assert d_run.client_payload["tako"]["root"] == result.root


def test_a_child_that_hangs_past_the_timeout(world: World, out_dir: Path) -> None:
    """The hanging child's node is timed_out, the tree partial, the run cancelled."""
    repos = {
        "acme/core": {"tako.yml": tako_yml(produces=["built"]),
                      ".github/workflows/cascade.yml": trigger(
                          out_dir, "built", timeout="8s", cancel_on_timeout="true")},
        "acme/quick": {"tako.yml": tako_yml(subscriptions=[sub("acme/core", "built")]),
                       ".github/workflows/on-tako.yml": receiver(["built"], [work_step()])},
        "acme/stuck": {"tako.yml": tako_yml(subscriptions=[sub("acme/core", "built")]),
                       ".github/workflows/on-tako.yml": receiver(["built"],
                                                                 [work_step(120)])},
    }
    emu = world(repos)
    result = start_cascade(emu, "acme/core", out_dir)
    assert result.status == "timed_out"
    assert result.origin_run.conclusion == "failure"  # the action exits 3
    kids = result.children()
    assert kids["acme/quick"]["state"] == "success"
    assert kids["acme/stuck"]["state"] in ("timed_out", "cancelled")
    assert emu.wait_idle(20)
    (stuck_run,) = _runs_of(emu, "acme/stuck")
    assert stuck_run.conclusion == "cancelled"


def test_a_cycle_is_refused_with_its_path(world: World, out_dir: Path) -> None:
    """A→B→A: B refuses to dispatch back to A; the root learns why B failed."""
    repos = {
        "acme/a": {"tako.yml": tako_yml(["ping"], [sub("acme/b", "pong")]),
                   ".github/workflows/cascade.yml": trigger(out_dir, "ping"),
                   ".github/workflows/on-tako.yml": receiver(["pong"], [tako_step("ping")])},
        "acme/b": {"tako.yml": tako_yml(["pong"], [sub("acme/a", "ping")]),
                   ".github/workflows/on-tako.yml": receiver(["ping"], [tako_step("pong")])},
    }
    emu = world(repos)
    result = start_cascade(emu, "acme/a", out_dir)
    assert result.status == "failure"
    (b_node,) = result.origin["children"]
    assert b_node["repo"] == "acme/b" and b_node["state"] == "failure"
    assert "acme/a → acme/b → acme/a" in (b_node["reason"] or ""), b_node
    assert _runs_of(emu, "acme/a") == []  # A was never dispatched to again
    (b_run,) = _runs_of(emu, "acme/b")
    assert any("acme/a → acme/b → acme/a" in a for a in annotations(emu, b_run))


def test_a_failing_child_says_why_from_the_end_of_its_log(world: World, out_dir: Path) -> None:
    """A step that only exits non-zero leaves the annotation "Process completed with
    exit code 2."; the tree's reason adds the last lines that step printed."""
    failing = {"name": "deploy", "run": 'echo "connecting"\n'
                                        'echo "error: DATABASE_URL is not set" >&2\nexit 2'}
    repos = {
        "acme/core": {"tako.yml": tako_yml(produces=["built"]),
                      ".github/workflows/cascade.yml": trigger(out_dir, "built")},
        "acme/bad": {"tako.yml": tako_yml(subscriptions=[sub("acme/core", "built")]),
                     ".github/workflows/on-tako.yml": receiver(
                         ["built"], [failing, {"if": "always()", "run": "echo cleanup"}])},
    }
    emu = world(repos)
    result = start_cascade(emu, "acme/core", out_dir)
    assert result.status == "failure"
    reason = result.children()["acme/bad"]["reason"] or ""
    assert reason.startswith("Process completed with exit code 2."), reason
    assert "connecting ⏎ error: DATABASE_URL is not set" in reason
    assert "cleanup" not in reason


# ---------------------------------------------------------------- configuration hell
RANGES = [("^1.0.0", True), ("~1.4.0", True), ("[1.0.0...2.0.0)", True), (">=1.5.0", False),
          ("1.x || 3.x", True), ("<1.4.0", False), ("*", True), ("2.x", False)]
FILTERS = [('event.payload.channel == "stable"', True), ("event.payload.tier >= 3", False),
           ('semver.major(event.payload.version) == 1', True),
           ('event.payload.channel.startsWith("beta")', False),
           ('subscriber.endsWith("7")', None)]  # None: true for repos ending in 7
MALFORMED = {
    "acme/svc-013": "version: 1\nevents: [unclosed\n",
    "acme/svc-077": "- just\n- a list\n",
    "acme/svc-150": "version: 9\n",
    # usable, but one subscription is dropped for CEL that does not compile
    "acme/svc-199": "version: 1\nevents:\n  subscriptions:\n    - artifact: acme/core\n"
                    "      events: [lib_built]\n      filters: ['event.payload.(']\n"
                    "    - artifact: acme/core\n      events: [lib_built]\n"
                    "      schema_version: '>=9'\n",
}


def _hell_repo(i: int) -> tuple[str, dict[str, str], bool]:
    """Repo i: several subscriptions; whether it should run is decided here, in the
    test, from the tables above (never by asking the product)."""
    name = f"acme/svc-{i:03d}"
    rng, rng_ok = RANGES[i % len(RANGES)]
    flt, flt_ok = FILTERS[(i // len(RANGES)) % len(FILTERS)]
    if flt_ok is None:
        flt_ok = name.endswith("7")
    subs = [sub(f"acme/other-{i % 5}", "lib_built"),  # another producer: never matches
            sub("acme/core", "docs_built"),  # another event type: never matches
            sub("acme/core", "lib_built", schema_version=rng, filters=[flt])]
    if i % 10 == 0:  # a second, always-matching subscription: still one dispatch
        subs.append(sub("acme/core", "lib_built"))
    expected = (rng_ok and flt_ok) or i % 10 == 0
    files = {".github/workflows/on-tako.yml": receiver(["lib_built"],
                                                       [{"run": "true"}])}
    if name in MALFORMED:
        files["tako.yml"] = MALFORMED[name]
        expected = False
    else:
        files["tako.yml"] = tako_yml(subscriptions=subs)
    return name, files, expected


def test_configuration_hell(world: World, out_dir: Path) -> None:
    """200 repos, many subscriptions each: exactly the right repos run, and every
    malformed tako.yml is reported (in the summary notes and as a warning)."""
    repos: dict[str, dict[str, str]] = {}
    expected: set[str] = set()
    for i in range(200):
        name, files, should_run = _hell_repo(i)
        repos[name] = files
        if should_run:
            expected.add(name)
    core_yml = tako_yml(produces=["lib_built"]).replace("1.0.0", "1.4.0")
    repos["acme/core"] = {"tako.yml": core_yml,
                          ".github/workflows/cascade.yml": trigger(
                              out_dir, "lib_built", concurrency_limit="50",
                              payload='{"version": "1.4.2", "channel": "stable", "tier": 1}')}
    for k in range(5):
        repos[f"acme/other-{k}"] = {"tako.yml": tako_yml(produces=["lib_built"])}
    assert 30 < len(expected) < 120  # the tables give a real mix
    emu = world(repos, bare=True)
    result = start_cascade(emu, "acme/core", out_dir, timeout=150)
    assert result.status == "success", [n for n in result.walk() if n["state"] != "success"]
    assert set(result.children()) == expected
    ran = {r.repo for r in emu.runs.all_runs() if r.event_type == "lib_built"}
    assert ran == expected
    assert result.dispatched == len(expected)
    # Every malformed file is reported, ahead of the ordinary "did not match" notes
    # (GitHub shows only the first 10 warnings of a step).
    warnings = [a for a in annotations(emu, result.origin_run)
                if a.startswith("warning ")][:4]
    for name in MALFORMED:
        (line,) = [w for w in warnings if f"tako: skipped {name}:" in w]
        assert "tako.yml could not be used" in line or "tako.yml has 1 error" in line, line


def test_shutil_which_bash_is_available() -> None:
    assert shutil.which("bash"), "the emulator runs steps in bash"


def test_a_child_can_fan_out_with_the_cli_in_a_run_step(world: World, out_dir: Path) -> None:
    """The other way in from a workflow: `run: tako-gha fan-out` in B continues A's
    tree just as the action does (GITHUB_EVENT_PATH carries client_payload.tako)."""
    cli_step = {"name": "fan out with the CLI",
                "env": {"GITHUB_TOKEN": "${{ secrets.TAKO_TOKEN }}"},
                "run": "python -m tako_gha fan-out --event e2 --timeout 60s "
                       "--discovery-timeout 30s"}
    repos = {
        "acme/a": {"tako.yml": tako_yml(produces=["e1"]),
                   ".github/workflows/cascade.yml": trigger(out_dir, "e1")},
        "acme/b": {"tako.yml": tako_yml(["e2"], [sub("acme/a", "e1")]),
                   ".github/workflows/on-tako.yml": receiver(["e1"], [cli_step])},
        "acme/c": {"tako.yml": tako_yml(subscriptions=[sub("acme/b", "e2")]),
                   ".github/workflows/on-tako.yml": receiver(["e2"], [work_step()])},
    }
    emu = world(repos)
    result = start_cascade(emu, "acme/a", out_dir)
    assert result.status == "success", result.tree
    (b_node,) = result.origin["children"]
    (c_node,) = b_node["children"]
    assert (b_node["repo"], c_node["repo"], c_node["state"]) == ("acme/b", "acme/c", "success")
    (c_run,) = _runs_of(emu, "acme/c")
    assert c_run.client_payload["tako"]["root"] == result.root
    assert c_run.client_payload["tako"]["chain"] == ["acme/a", "acme/b", "acme/c"]


def test_a_cli_fan_out_leaves_its_report_for_the_root(world: World, out_dir: Path) -> None:
    """`run: tako-gha fan-out` inside a tree names its report in the step outputs; an
    upload step after it leaves it as the run's artifact, and the root reads it (two
    requests) instead of listing the repository subscribed to b."""
    from tako_gha.emulator.testing import call

    cli_step = {"id": "fan", "name": "fan out with the CLI",
                "env": {"GITHUB_TOKEN": "${{ secrets.TAKO_TOKEN }}"},
                "run": "python -m tako_gha fan-out --event e2 --timeout 60s "
                       "--discovery-timeout 30s --no-wait"}
    upload = {"if": "always() && steps.fan.outputs.report_name != ''",
              "uses": "actions/upload-artifact@ea165f8d65b6e75b540449e92b4886f43607fa02",
              "with": {"name": "${{ steps.fan.outputs.report_name }}",
                       "path": "${{ steps.fan.outputs.report_path }}", "retention-days": 1}}
    repos = {
        "acme/a": {"tako.yml": tako_yml(produces=["e1"]),
                   ".github/workflows/cascade.yml": trigger(out_dir, "e1")},
        "acme/b": {"tako.yml": tako_yml(["e2"], [sub("acme/a", "e1")]),
                   ".github/workflows/on-tako.yml": receiver(["e1"], [cli_step, upload])},
        "acme/c": {"tako.yml": tako_yml(subscriptions=[sub("acme/b", "e2")]),
                   ".github/workflows/on-tako.yml": receiver(["e2"], [work_step(3)])},
    }
    emu = world(repos)
    result = start_cascade(emu, "acme/a", out_dir)
    assert result.status == "success", result.tree
    (b_node,) = result.origin["children"]
    (c_node,) = b_node["children"]
    assert (c_node["repo"], c_node["state"]) == ("acme/c", "success")
    (b_run,) = _runs_of(emu, "acme/b")
    listed = call(emu.base_url, "GET", f"/repos/acme/b/actions/runs/{b_run.id}/artifacts",
                  emu.admin_token).json()
    names = [a["name"] for a in listed["artifacts"]]
    assert names == [f"tako-report-{result.root}-{b_node['id']}"]
    kinds = emu.stats()["by_kind"]
    assert kinds["artifacts"]["total"] >= 2  # the root read it: listed by name, downloaded
