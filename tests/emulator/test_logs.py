"""Job and run logs as GitHub serves them (302 to a plain-text or zip download,
timestamped lines, masked secrets) and the web page at a run's html_url."""

from __future__ import annotations

import io
import re
import time
import zipfile
from collections.abc import Iterator
from datetime import datetime, timezone
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml

from tako_gha.emulator import Emulator
from tako_gha.emulator.logroutes import SIGNER
from tako_gha.emulator.logs import JobLog, LinkSigner, safe_name, stamp
from tako_gha.emulator.pagelog import PAGE_SUMMARY_CHARS, summary_html
from tako_gha.emulator.state import RunRecord
from tako_gha.emulator.testing import Reply, call
from tako_gha.emulator.worldgen import write_world

pytestmark = pytest.mark.timeout(120)
STAMP = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}Z"
SECRET = "pa55-w0rd-secret"
WORKFLOW = {
    "name": "build", "on": {"repository_dispatch": {"types": ["go"]}},
    "jobs": {
        "build": {"name": "Build <it>", "steps": [
            {"name": "prepare", "run": 'echo "prepared with $S and $GITHUB_TOKEN"',
             "env": {"S": "${{ secrets.S }}"}},
            {"name": "late mask", "run": 'echo "value later-hidden"; '
                                         'echo "::add-mask::later-hidden"'},
            {"name": "break <b>", "run": 'echo "config missing: tako.yml"; exit 2'},
            {"name": "after", "run": "echo never"},
        ]},
        "other": {"steps": [{"run": "echo other job"}]},
    },
}


@pytest.fixture(scope="module")
def emu(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    root = tmp_path_factory.mktemp("logs") / "world"
    write_world(root, {"acme/app": {".github/workflows/b.yml": yaml.safe_dump(WORKFLOW)},
                       "acme/lib": {"README.md": "lib\n"}},
                {"secrets": {"S": SECRET}, "tokens": {"t-admin": {"repos": ["*"]},
                                                       "t-lib": {"repos": ["acme/lib"]}}})
    with Emulator(root, port=0) as emulator:
        yield emulator


@pytest.fixture(scope="module")
def run(emu: Emulator) -> RunRecord:
    (record,) = emu.runner.dispatch("acme/app", "go", {}, "tester")
    assert emu.wait_idle(60)
    assert record.conclusion == "failure"
    return record


def get(emu: Emulator, path: str, token: str | None = "t-admin", **kw: object) -> Reply:
    return call(emu.base_url, "GET", path, token, **kw)  # type: ignore[arg-type]


def test_job_logs_redirect_to_a_timestamped_masked_download(emu: Emulator,
                                                            run: RunRecord) -> None:
    job = run.jobs[0]
    reply = get(emu, f"/repos/acme/app/actions/jobs/{job.id}/logs", follow_redirects=False)
    assert reply.status == 302
    location = reply.headers["location"]
    assert location.startswith(f"{emu.base_url}/_emulator/logs/jobs/{job.id}?")
    assert {"expires", "sig"} <= set(parse_qs(urlsplit(location).query))
    text = call(location, "GET", "").body.decode()  # no token needed, like GitHub's link
    lines = text.splitlines()
    assert all(re.match(STAMP + " ", line) for line in lines), lines
    body = [line.split(" ", 1)[1] for line in lines]
    assert '##[group]Run echo "prepared with $S and $GITHUB_TOKEN"' in body
    assert "prepared with *** and ***" in body  # the secret and the run token
    assert "value ***" in body  # masked after the fact, too
    assert "config missing: tako.yml" in body
    assert "##[error]Process completed with exit code 2." in body
    assert "never" not in body
    assert SECRET not in text and "later-hidden" not in text and "ghs_" not in text


def test_run_logs_are_a_zip_of_jobs_and_steps(emu: Emulator, run: RunRecord) -> None:
    reply = get(emu, f"/repos/acme/app/actions/runs/{run.id}/logs", follow_redirects=False)
    assert reply.status == 302
    archive = get(emu, urlsplit(reply.headers["location"]).path + "?" +
                  urlsplit(reply.headers["location"]).query, token=None)
    assert archive.status == 200 and archive.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(archive.body)) as zipped:
        names = set(zipped.namelist())
        assert {"0_Build it.txt", "1_other.txt", "Build it/1_prepare.txt",
                "Build it/3_break b.txt", "other/1_Run echo other job.txt"} <= names
        step = zipped.read("Build it/3_break b.txt").decode()
        assert "config missing" in step and "prepared" not in step
        whole = zipped.read("0_Build it.txt").decode()
        assert "prepared with *** and ***" in whole and SECRET not in whole
        assert zipped.read("Build it/4_after.txt") == b""  # skipped: no lines


def test_log_links_are_signed_and_expire(emu: Emulator, run: RunRecord) -> None:
    path = f"/_emulator/logs/jobs/{run.jobs[0].id}"
    assert get(emu, SIGNER.sign(path), token=None).status == 200
    stale = SIGNER.sign(path, now=time.time() - 120)
    assert get(emu, stale, token=None).status == 403
    forged = SIGNER.sign(f"/_emulator/logs/jobs/{run.jobs[1].id}").split("?")[1]
    assert get(emu, f"{path}?{forged}", token=None).status == 403
    assert get(emu, path, token=None).status == 403
    assert get(emu, SIGNER.sign("/_emulator/logs/jobs/1"), token=None).status == 404
    assert get(emu, SIGNER.sign("/_emulator/logs/runs/1"), token=None).status == 404
    assert get(emu, SIGNER.sign("/_emulator/logs/nothing/1"), token=None).status == 404


def test_logs_endpoints_check_token_repo_and_ids(emu: Emulator, run: RunRecord) -> None:
    job = run.jobs[0].id
    assert get(emu, f"/repos/acme/app/actions/jobs/{job}/logs", token=None).status == 401
    assert get(emu, f"/repos/acme/app/actions/jobs/{job}/logs", token="t-lib").status == 404
    assert get(emu, f"/repos/acme/lib/actions/jobs/{job}/logs").status == 404
    assert get(emu, "/repos/acme/app/actions/jobs/99999999/logs").status == 404
    assert get(emu, "/repos/acme/app/actions/runs/99999999/logs").status == 404
    assert get(emu, "/repos/acme/app/actions/runs/x/logs").status == 404
    assert get(emu, f"/repos/acme/lib/actions/runs/{run.id}/logs").status == 404


def test_the_run_page_shows_jobs_steps_conclusions_and_the_log(emu: Emulator,
                                                               run: RunRecord) -> None:
    page = get(emu, f"/acme/app/actions/runs/{run.id}", token=None)
    assert page.status == 200 and page.headers["content-type"].startswith("text/html")
    html = page.body.decode()
    assert "<h1>build</h1>" in html
    assert "Build &lt;it&gt;" in html and "<it>" not in html  # names are escaped
    assert "break &lt;b&gt;</td><td><b class=\"failure\">failure</b>" in html
    assert "after</td><td><b class=\"skipped\">skipped</b>" in html
    assert "Process completed with exit code 2." in html  # the annotation
    assert "config missing: tako.yml" in html and SECRET not in html
    assert html.count("<h2 id=\"job-") == 2
    job_page = get(emu, f"/acme/app/actions/runs/{run.id}/job/{run.jobs[1].id}", token=None)
    assert job_page.status == 200
    assert "other job" in job_page.body.decode() and "prepared" not in job_page.body.decode()
    # the html_url the API gives is this page
    api = get(emu, f"/repos/acme/app/actions/runs/{run.id}").json()
    assert urlsplit(api["html_url"]).path == f"/acme/app/actions/runs/{run.id}"


@pytest.mark.parametrize("path", ["/acme/lib/actions/runs/{run}", "/acme/app/actions/runs/1",
                                  "/acme/app/actions/runs/{run}/job/1"])
def test_pages_of_unknown_runs_are_not_found(emu: Emulator, run: RunRecord, path: str) -> None:
    assert get(emu, path.format(run=run.id), token=None).status == 404


# ----------------------------------------------------------------------------- JobLog

def test_job_log_model() -> None:
    log = JobLog(limit=40, mask=lambda text: text.replace("tok", "***"))
    log.write("job line")
    log.write("step one tok", step=1)
    log.write("step two", step=2)
    log.write("x" * 50, step=2)
    log.write("dropped", step=2)
    assert log.plain().splitlines() == ["job line", "step one ***", "step two",
                                        "… log truncated (the emulator keeps 40 characters "
                                        "per job)"]
    assert log.tail(2) == ["step two", log.plain().splitlines()[-1]]
    assert log.tail(5, step=1) == ["step one ***"] and log.tail(0) == []
    assert re.fullmatch(STAMP + " step one \\*\\*\\*\n", log.step_text(1))
    moment = datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=timezone.utc)
    assert stamp(moment) == "2026-01-02T03:04:05.1234560Z"
    assert safe_name('a/b:c*"d"') == "abcd" and safe_name("///") == "job"


def test_link_signer_rejects_malformed_links() -> None:
    signer = LinkSigner(b"k" * 32)
    link = signer.sign("/p", now=1000.0)
    query = parse_qs(urlsplit(link).query)
    assert signer.check("/p", query["expires"][0], query["sig"][0], now=1001.0)
    assert not signer.check("/p", query["expires"][0], query["sig"][0], now=2000.0)
    assert not signer.check("/p", "soon", query["sig"][0], now=1001.0)
    assert not signer.check("/p", None, None)
    assert not LinkSigner(b"o" * 32).check("/p", query["expires"][0], query["sig"][0],
                                           now=1001.0)




# ----------------------------------------------------------------------------- run page

PAGE_SCRIPT = r"""echo start
echo "::add-mask::page-hidden"
echo "value page-hidden"
echo "::notice title=Heads up::all good"
echo "::warning::be careful"
echo "::error file=a.py,line=3::it broke"
echo "::group::My group"
echo "inside the group"
echo "::endgroup::"
echo "::debug::only with debug logging"
python3 -c "print('w' * 5000)"
cat >> "$GITHUB_STEP_SUMMARY" <<'EOF'
## Cascade <b>bold</b>

| a | b |
|---|---|
| 1 | two<br>lines |

```mermaid
flowchart TD
  n0 --> n1
```

<script>alert(1)</script>

[bad](javascript:alert(1)) and [good](https://example.com/x)
EOF
"""


def test_the_run_page_renders_the_summary_and_reads_workflow_commands(
        make_world, start_emulator) -> None:
    """A screenshot-free check of the page: its HTML, as a browser would get it."""
    flow = {"name": "page", "on": {"repository_dispatch": {"types": ["go"]}},
            "jobs": {"j": {"steps": [{"name": "talk", "run": PAGE_SCRIPT}]}}}
    emu = start_emulator(make_world({"acme/app": {".github/workflows/p.yml":
                                                  yaml.safe_dump(flow)}}))
    (run,) = emu.runner.dispatch("acme/app", "go", {}, "tester")
    assert emu.wait_idle(60) and run.conclusion == "success"
    html = get(emu, f"/acme/app/actions/runs/{run.id}", token=None).body.decode()
    ts = r'<span class="ts">[^<]*</span> '
    # workflow commands are read, not printed: masks consumed, annotations, groups
    for raw in ("::add-mask::", "::notice", "::warning", "::error", "::group::",
                "::endgroup::", "::debug::", "page-hidden"):
        assert raw not in html, raw
    assert '<span class="note notice">Notice:</span> all good' in html
    assert "Heads up: all good" in html  # the annotation, with its title
    assert '<span class="note warning">Warning:</span> be careful' in html
    assert '<span class="note failure">Error:</span> it broke' in html
    assert re.search(f"<details><summary>{ts}My group</summary><div>{ts}inside the group"
                     "</div></details>", html)
    assert re.search(f"<details><summary>{ts}Run echo start</summary>", html)  # its header
    assert "value ***" in html
    # long lines wrap, whole
    assert "w" * 5000 in html and "white-space:pre-wrap" in html
    assert "overflow-x:auto" not in html
    # the summary, as Markdown; raw HTML stays text, only <br> passes; Mermaid's source
    summary = html.split("<h3>Summary</h3>", 1)[1].split("<h3>Log</h3>", 1)[0]
    assert "<h2>Cascade &lt;b&gt;bold&lt;/b&gt;</h2>" in summary
    assert "<td>two<br>lines</td>" in summary
    assert 'Mermaid diagram' in summary
    assert '<code class="language-mermaid">flowchart TD\n  n0 --&gt; n1\n</code>' in summary
    assert "<script>" not in html and 'href="javascript' not in html
    assert '<a href="https://example.com/x">good</a>' in summary


def test_a_long_summary_is_cut_on_the_page_and_says_so() -> None:
    """Rendering a megabyte of Markdown table takes seconds: the page renders the
    first PAGE_SUMMARY_CHARS and says how long the whole summary is."""
    text = "| a |\n|---|\n" + "| row |\n" * 40_000
    html = summary_html(text)
    assert (f"the summary is {len(text):,} characters; this page shows the first "
            f"{PAGE_SUMMARY_CHARS:,}") in html
    assert 10_000 < html.count("<td>row</td>") < 40_000
    assert summary_html("short") == "<p>short</p>\n" and summary_html(" \n") == ""
