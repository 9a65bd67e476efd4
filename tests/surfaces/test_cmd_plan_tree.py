"""``tako-gha plan`` shows the whole tree an event would reach, level by level, and
plans with the source's ``example_payload`` when no --payload is given."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from tako_gha.surfaces.cli import cli

CORE = """version: 1
events:
  produces:
    - type: built
      example_payload: {channel: stable}
  subscriptions:
    - artifact: acme/c
      events: [c_done]
"""
A = """version: 1
events:
  produces: [a_done]
  subscriptions:
    - artifact: acme/core
      events: [built]
      filters: ['event.payload.channel == "stable"']
"""
B = """version: 1
events:
  subscriptions:
    - artifact: acme/a
      events: [a_done]
      filters: ['event.payload.size > 3']
"""
C = """version: 1
events:
  produces:
    - type: c_done
      example_payload: {ok: true}
  subscriptions:
    - artifact: acme/a
      events: [a_done]
"""
D = """version: 1
events:
  subscriptions:
    - artifact: acme/c
      events: [c_done]
"""


def _workspace(root: Path) -> Path:
    for name, text in {"core": CORE, "a": A, "b": B, "c": C, "d": D}.items():
        (root / "acme" / name).mkdir(parents=True)
        (root / "acme" / name / "tako.yml").write_text(text)
    return root


def _plan(root: Path, *extra: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["plan", "--workspace", str(root), "--source",
                                      "acme/core", "--event", "built", *extra])
    return result.exit_code, result.output


def test_plan_follows_the_tree_level_by_level(tmp_path: Path) -> None:
    code, out = _plan(_workspace(tmp_path))
    assert code == 0, out
    lines = out.splitlines()
    assert lines[0] == ("payload: the example_payload of built in acme/core's tako.yml "
                        "(no --payload given)")
    assert "targets (1):" in lines and lines[lines.index("targets (1):") + 1].startswith(
        "  acme/a ")  # the example's channel passes acme/a's filter
    level2 = lines.index("level 2 (events the level 1 targets declare under events.produces):")
    assert lines[level2 + 1] == "  acme/a  a_done → acme/c"
    assert lines[level2 + 2].startswith("      depends on the payload: acme/b (declare an "
                                        "example_payload for a_done")
    level3 = lines.index("level 3 (events the level 2 targets declare under events.produces):")
    assert lines[level3 + 1] == "  acme/c  c_done (with its example_payload) → acme/core, acme/d"
    assert lines[level3 + 2] == ("      cycle: acme/core (already on the path; refused at "
                                 "run time)")
    assert "level 4" not in out  # acme/d produces nothing; the cycle is not followed


def test_a_given_payload_wins_over_the_example(tmp_path: Path) -> None:
    code, out = _plan(_workspace(tmp_path), "--payload", '{"channel": "beta"}')
    assert code == 0, out
    assert "example_payload of built" not in out
    assert "targets (0):" in out and "level 2" not in out


def test_plan_json_has_the_levels(tmp_path: Path) -> None:
    code, out = _plan(_workspace(tmp_path), "--format", "json")
    assert code == 0, out
    data = json.loads(out)
    assert data["payload_from_example"] is True
    assert [(h["level"], h["source"], h["event"], h["targets"]) for h in data["levels"]] == [
        (2, "acme/a", "a_done", ["acme/c"]), (3, "acme/c", "c_done", ["acme/core", "acme/d"])]
    assert data["levels"][1]["cycles"] == ["acme/core"]
    assert data["levels"][1]["path"] == ["acme/core", "acme/a", "acme/c"]


def test_plan_of_an_undeclared_event_says_fan_out_refuses_it(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["plan", "--workspace", str(_workspace(tmp_path)),
                                      "--source", "acme/core", "--event", "biult"])
    assert result.exit_code == 0, result.output
    assert "--event: error: acme/core does not produce event type 'biult': its " \
        in result.output
    assert "declares 'built' under events.produces; fan-out refuses it" in result.output
    assert "did you mean 'built'?" in result.output
    assert result.output.count("does not") == 1  # one message, not two
