"""Markdown summary and plain-text tree, on hand-built trees."""

from __future__ import annotations

import re

from report_samples import rerun_report, sample_report, wide_report

from tako_gha.core.tree import Node, NodeState, TreeReport, TreeStatus
from tako_gha.surfaces.reports import MAX_SUMMARY_BYTES, render_markdown, render_text
from tako_gha.surfaces.reports.markdown import MAX_DIAGRAM_NODES, escape


def _sections(text: str) -> list[str]:
    return re.findall(r"^### (\w+)", text, flags=re.MULTILINE)


def test_markdown_puts_failures_first_then_tree_diagram_cost() -> None:
    text = render_markdown(sample_report())
    assert text.startswith("## ❌ tako cascade `f00df00df00d`: failure")
    assert _sections(text) == ["Failures", "Tree", "Diagram", "Cost"]


def test_markdown_failures_show_path_reason_hint_and_run_link() -> None:
    text = render_markdown(sample_report())
    failures = text.split("### Failures (2)")[1].split("### Tree")[0]
    assert ("acme/svc-a → **acme/svc-c** | ❌ failure | job build failed: exit 1 "
            "| [run 1003](http://127.0.0.1:1/acme/svc-c/actions/runs/1003) |") in failures
    assert "⚪ not\\_started" not in failures  # state values are not escaped
    assert "⚪ not_started" in failures
    assert "hint: no workflow in acme/svc-b listens" in failures


def test_markdown_tree_is_nested_with_states_and_links() -> None:
    tree = render_markdown(sample_report()).split("### Tree")[1].split("### Diagram")[0]
    lines = [line for line in tree.splitlines() if line.strip().startswith("- ")]
    assert lines[0] == "- **acme/core-lib** (origin)"
    assert lines[1].startswith("  - ✅ **acme/svc-a** success · [run 1001](")
    assert lines[2].startswith("    - ❌ **acme/svc-c** failure")
    assert "same as `aaaaaaaaaaaa`" in tree
    assert "_correlation: heuristic_" in tree


def test_markdown_mermaid_diagram_has_every_edge_and_state_classes() -> None:
    text = render_markdown(sample_report())
    body = text.split("```mermaid\n")[1].split("```")[0]
    assert body.startswith("flowchart TD")
    labels = dict(re.findall(r'^\s+(n\d+)\["([^"]+)"\]', body, flags=re.MULTILINE))
    by_repo = {label.split("<br/>")[0]: key for key, label in labels.items()}
    assert f"{by_repo['acme/svc-a']} --> {by_repo['acme/svc-c']}" in body
    assert f"{by_repo['acme/core-lib']} --> {by_repo['acme/svc-b']}" in body
    assert f"{by_repo['acme/svc-d']} -.-> {by_repo['acme/svc-a']}" in body
    assert re.search(rf"{by_repo['acme/svc-c']}\[.*\]:::bad", body)
    assert "classDef bad" in body


def test_markdown_cost_ledger_table() -> None:
    cost = render_markdown(sample_report()).split("### Cost")[1]
    assert "| poll | 20 | 12 | 0 |" in cost
    assert "| **total** | **25** | 12 | 0 |" in cost
    assert "Rate budget left: 4975 of 5000." in cost


def test_markdown_escapes_user_text() -> None:
    report = sample_report()
    report.origin.children[0].children[0].reason = "bad | pipe <script> `x`\nnext"
    text = render_markdown(report)
    assert "bad \\| pipe \\<script\\> \\`x\\` next" in text
    assert escape("a_b*c") == "a\\_b\\*c"


def test_markdown_success_without_failures_section() -> None:
    text = render_markdown(wide_report(3))
    assert text.startswith("## ✅ tako cascade")
    assert "### Failures" not in text
    assert "3 nodes: 3 success" in text


def test_markdown_stays_under_the_step_summary_limit_for_huge_trees() -> None:
    report = wide_report(20_000, reason="x" * 250, failed_every=7)
    text = render_markdown(report)
    size = len(text.encode("utf-8"))
    assert size <= MAX_SUMMARY_BYTES < 1024 * 1024
    assert "nodes not shown to stay within GitHub's 1 MiB summary limit" in text
    assert "more failures not shown" in text
    assert f"Diagram shows {MAX_DIAGRAM_NODES} of 20001 nodes" in text
    assert "### Cost" in text


def test_markdown_respects_a_small_byte_budget() -> None:
    text = render_markdown(wide_report(500, failed_every=2), max_bytes=4000)
    assert len(text.encode("utf-8")) <= 4000
    assert "not shown" in text or "truncated" in text


def test_markdown_diagram_keeps_failure_paths_when_capped() -> None:
    report = wide_report(400)
    deep = report.origin.children[-1]
    deep.children.append(Node("acme/deep", "9" * 12, NodeState.TIMED_OUT, "x", 2,
                              reason="timed out"))
    body = render_markdown(report).split("```mermaid\n")[1]
    assert '"acme/deep<br/>timed_out"' in body
    assert '"acme/service-00399<br/>success"' in body  # its parent, on the path


def test_text_tree_with_branches_failures_and_cost() -> None:
    text = render_text(sample_report())
    lines = text.splitlines()
    assert lines[0].startswith("tako cascade f00df00df00d: failure after 12s")
    assert "acme/core-lib (origin, library_built)" in lines
    assert any(line.startswith("├── acme/svc-a  success  [library_built]  run 1001 http")
               for line in lines)
    assert any(line.startswith("│   └── acme/svc-c  failure") for line in lines)
    assert any(line.startswith("└── acme/svc-e") and "(correlation: heuristic)" in line
               for line in lines)
    assert "  acme/core-lib → acme/svc-a → acme/svc-c: failure — job build failed: exit 1" \
        in lines
    assert "    hint: no workflow in acme/svc-b listens for repository_dispatch type " \
        "library_built" in lines
    assert lines[-1].startswith("cost: 25 API calls (discovery 2, dispatch 3, poll 20), "
                                "12 answered 304, 0 retries")


def test_text_for_an_empty_cascade() -> None:
    origin = Node("acme/lonely", "0" * 12, NodeState.SUCCESS)
    text = render_text(TreeReport("0" * 12, TreeStatus.SUCCESS, origin))
    assert "success" in text.splitlines()[0]
    assert "(no nodes)" in text.splitlines()[0]
    assert "cost: no API calls recorded" in text
    md = render_markdown(TreeReport("0" * 12, TreeStatus.SUCCESS, origin))
    assert "No API calls recorded." in md


def test_markdown_notes_list_skipped_repositories_after_failures() -> None:
    notes = ["skipped acme/legacy: schema_version 2.1.0 is not in [1.0.0...2.0.0)",
             "skipped acme/broken: tako.yml could not be used: tako.yml:3:1: bad"]
    text = render_markdown(sample_report(), notes=notes)
    assert _sections(text) == ["Failures", "Notes", "Tree", "Diagram", "Cost"]
    assert "- skipped acme/broken: tako.yml could not be used: tako.yml:3:1: bad" in text
    many = render_markdown(sample_report(), notes=[f"skipped acme/r{i}: x" for i in range(150)])
    assert "_… 50 more notes not shown._" in many


def test_text_keeps_user_text_on_one_line() -> None:
    report = sample_report()
    report.origin.children[1].reason = "x\n::error::forged"
    report.origin.children[1].hint = "y\n::error::forged"
    assert not any(line.startswith("::") for line in render_text(report).splitlines())


def _one_cause_one_slow() -> TreeReport:
    """core → gen (its fan-out step failed) → proto (the real failure: exit 1), and
    gen → docs (slow: timed out). gen's reason is what its step said about proto."""
    cause = "job build failed: exit 1 in step compile"
    proto = Node("acme/proto", "cccccccccccc", NodeState.FAILURE, "built", 2, reason=cause)
    docs = Node("acme/docs", "dddddddddddd", NodeState.TIMED_OUT, "built", 2,
                reason="still running when the wait ended")
    gen = Node("acme/gen", "bbbbbbbbbbbb", NodeState.FAILURE, "built", 1,
               reason=f"acme/gen → acme/proto: failure — {cause}", children=[proto, docs])
    ok = Node("acme/ok", "eeeeeeeeeeee", NodeState.SUCCESS, "built", 1)
    origin = Node("acme/core", "f00df00df00d", NodeState.SUCCESS, "built", 0,
                  children=[gen, ok])
    return TreeReport("f00df00df00d", TreeStatus.TIMED_OUT, origin, elapsed_seconds=60.0)


def test_each_root_cause_is_listed_once_with_its_path() -> None:
    report = _one_cause_one_slow()
    text = render_text(report)
    assert text.count("exit 1 in step compile") == 2  # the tree line and the failure list
    failed = text.split("failed (2):")[1].split("cost:")[0]
    assert "acme/core → acme/gen → acme/proto: failure — job build failed" in failed
    assert "acme/core → acme/gen → acme/docs: timed_out" in failed
    assert "acme/core → acme/gen: failure" not in failed
    assert "acme/gen  failure" in text and "failed because of what failed below it" in text
    markdown = render_markdown(report)
    assert markdown.count("exit 1 in step compile") == 2  # the failures table and the tree
    assert "### Failures (2)" in markdown


def test_annotations_name_each_root_cause_once() -> None:
    from tako_gha.surfaces.action import annotation_lines

    lines = annotation_lines(_one_cause_one_slow())
    assert len(lines) == 2, lines
    assert sum("exit 1 in step compile" in line for line in lines) == 1
    assert lines[0].startswith("::error title=tako%3A acme/proto failure::acme/core → "
                               "acme/gen → acme/proto: failure")


def test_mermaid_gives_timed_out_its_own_class_and_dims_skipped_subscribers() -> None:
    notes = ["not for acme/legacy: schema_version 2.1.0 is outside '^1'",
             "skipped acme/broken: tako.yml could not be used: bad YAML",
             "re-sent built to acme/x"]
    diagram = render_markdown(_one_cause_one_slow(), notes=notes).split("```mermaid")[1]
    assert re.search(r'n\d+\["acme/docs<br/>timed_out"\]:::timedout', diagram), diagram
    assert re.search(r'n\d+\["acme/proto<br/>failure"\]:::bad', diagram)
    assert "classDef timedout " in diagram and "classDef skipped " in diagram
    assert 's0["acme/legacy<br/>skipped"]:::skipped' in diagram
    assert 's1["acme/broken<br/>skipped"]:::skipped' in diagram
    assert "n0 -.-> s0" in diagram and "acme/x" not in diagram


URL = "http://127.0.0.1:1/{}/actions/runs/{}"


def test_text_shows_a_re_run_node_by_its_attempt_and_the_earlier_conclusions() -> None:
    lines = render_text(rerun_report()).splitlines()
    a = next(line for line in lines if "acme/svc-a" in line)
    assert ("attempt 2 of run 1042 (attempt 1: failure) " + URL.format("acme/svc-a", 1042)
            in a)
    b = next(line for line in lines if "acme/svc-b" in line)
    assert "attempt 3 of run 1043 " + URL.format("acme/svc-b", 1043) in b
    assert "(attempt" not in b  # earlier attempts not seen: nothing made up
    c = next(line for line in lines if "acme/svc-c" in line)
    assert "run 1044 " in c and "attempt" not in c  # a first attempt reads as before


def test_markdown_shows_a_re_run_node_by_its_attempt_in_tree_and_failures() -> None:
    text = render_markdown(rerun_report())
    failures, tree = text.split("### Tree")
    assert ("[attempt 3 of run 1043](" + URL.format("acme/svc-b", 1043) + ")") in failures
    assert ("✅ **acme/svc-a** success · [attempt 2 of run 1042 (attempt 1: failure)]("
            + URL.format("acme/svc-a", 1042) + ")") in tree
    assert "· [run 1044](" in tree


def test_json_keeps_the_latest_attempt_and_reads_it_back() -> None:
    data = rerun_report().origin.to_json()
    kids = {c["repo"]: c for c in data["children"]}
    assert kids["acme/svc-a"]["run_attempt"] == 2
    assert kids["acme/svc-b"]["run_attempt"] == 3
    assert "run_attempt" not in kids["acme/svc-c"]
    back = Node.from_json(kids["acme/svc-b"])
    assert back.runs[0].attempt == 3 and back.runs[0].label() == "attempt 3 of run 1043"
