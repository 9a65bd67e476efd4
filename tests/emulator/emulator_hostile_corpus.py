"""Hostile requests for the emulator, each with the status GitHub (and so the
emulator) answers. Three surfaces: paths and refs (``PATH_CASES``), request bodies
(``BODY_CASES``), GraphQL documents (``GRAPHQL_CASES``). Paths are written as sent on
the wire: percent-encoded where HTTP needs it, decoded once by the server.

``CONTROL_*`` are the well-formed neighbours of the hostile cases: they must succeed,
which shows the refusals come from the checks and not from a broken fixture.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any

# -- paths and refs -----------------------------------------------------------------------


@dataclass(frozen=True)
class PathCase:
    id: str
    path: str
    status: int
    method: str = "GET"
    token: bool = True
    body: Any = None


# Owner or repository names GitHub refuses (or that name nothing in the world).
HOSTILE_NAMES = [
    "..", ".", "%2e%2e", "%2E%2E", "%2e.", ".%2e", "%2e", "...", "%252e%252e",
    "%2e%2e%2f%2e%2e", "..%5c..", "%5c", "%00", "app%00", "app%0a", "app%0d%0aX-Injected:%201",
    "app%20", "%20app", "app%09", ".git", ".tako-objects.git", "~", "~root", "*", "app*",
    "app%3F", "app%23", "app;x", "app%25", "a" * 101, "%c0%ae%c0%ae", "%u002e%u002e",
    "%ef%bc%8e%ef%bc%8e", "app%e2%80%8b", "escape", "outside", "app%7f", "%ff",
]

# Paths inside a repository (after /contents/) that must never resolve.
HOSTILE_CONTENT_PATHS = [
    "..", "../", "../..", "../../marker.txt", "../../../marker.txt", "../../../../marker.txt",
    "%2e%2e/%2e%2e/marker.txt", "%2e%2e%2f%2e%2e%2fmarker.txt", "..%2f..%2fmarker.txt",
    "./tako.yml", "docs/../tako.yml", "docs/./guide.md", "tako.yml/..", "/etc/passwd",
    "//marker.txt", "docs//guide.md", "tako.yml%00", "tako.yml%00.md", "%00",
    "..%5c..%5cmarker.txt", ".git/config", ".git/HEAD", "....//....//marker.txt",
    "%252e%252e/marker.txt", "%c0%ae%c0%ae/marker.txt", "docs/%2e%2e/tako.yml",
    "x" * 5000, "../world/emulator.yml", "../../emulator.yml", "...",
    "docs/guide.md/../../..", "~/.ssh/id_rsa", "%2fetc%2fpasswd", "docs/%2e/guide.md",
]

# ?ref= values: refused by git check-ref-format, or naming nothing.
HOSTILE_REFS = [
    "../../marker.txt", "../../../../marker.txt", "../../../../../marker.txt", "..", ".",
    "../HEAD", "../../HEAD", "../../config", "%2e%2e/%2e%2e/HEAD", "..%2f..%2fHEAD",
    "main/../main", "refs/heads/../../HEAD", "refs/heads/..", "/main", "main/", "main//x",
    ".main", "main.lock", "main.", "@", "main@%7B1%7D", "main~1", "main%5E", "main%5E%7Btree%7D",
    "main:tako.yml", "main%3F", "main*", "ma%5Bin", "main%5C", "main%20x", "%00", "main%00",
    "main%0a", "main%0d%0a", "-main", "x" * 300, "a/" * 600, "%252e%252e/HEAD", "0" * 40,
    "g" * 40, "HEAD", "refs/heads/main/../../../HEAD", "%ef%bc%8e%ef%bc%8e/HEAD", "main%7f",
    "../../../../../../../../etc/passwd", "objects/../HEAD", "refs/heads/main.lock/x",
    "refs/heads/.x", "%2e%2e", "main/.", "ORIG_HEAD/../HEAD",
]

# After /_emulator/raw/ (owner/repo/ref/path), no token.
HOSTILE_RAW = [
    "./../main/marker.txt", "../../main/marker.txt", "acme/../main/marker.txt",
    "../acme/main/marker.txt", "acme/app/main/../../../marker.txt",
    "acme/app/main/%2e%2e/%2e%2e/marker.txt", "%2e%2e/%2e%2e/main/marker.txt",
    "acme/app/..%2f..%2fHEAD/x", "acme/app/main//etc/passwd", "acme/app/main/",
    "acme/app/main", "acme/app", "acme", "", "acme/app/main/.", "acme/app/main/..",
    "outside/plain/main/marker.txt", "acme/escape/main/marker.txt", ".//main/marker.txt",
    "acme/.git/main/config", "acme/app/refs%2fheads%2f..%2f..%2fHEAD/tako.yml",
    "acme/app/../tako.yml", "acme/app/%2e%2e/tako.yml", "acme/app/main.lock/tako.yml",
    "acme/app/@/tako.yml", "acme/app/-main/tako.yml", "acme/app/%00/tako.yml",
    "acme/app/main/tako.yml%00", "%2e/%2e%2e/main/marker.txt", "acme/app/main/docs/../tako.yml",
    "world/acme/main/emulator.yml", "acme/app/main%5E/tako.yml",
]

# Neither route nor file: the API has no path to the world's own files.
HOSTILE_OTHER = [
    ("/emulator.yml", 404), ("/../emulator.yml", 404), ("/%2e%2e/emulator.yml", 404),
    ("/world/emulator.yml", 404), ("/acme/app/tako.yml", 404), ("/..", 404), ("/%2e%2e", 404),
    ("/marker.txt", 404), ("/repos/acme/app/../../..", 404), ("/repos/acme/app/%2e%2e/%2e%2e", 404),
    ("/repos/acme/app/contents/../../../emulator.yml", 404),
    ("/_emulator/..", 404), ("/_emulator/../emulator.yml", 404),
    ("/_emulator/%2e%2e/emulator.yml", 404), ("/_emulator/raw", 404),
    ("/_emulator/faults/../../emulator.yml", 404), ("/_emulator/world/emulator.yml", 404),
    ("/_emulator/requests?since=nan", 400), ("/_emulator/requests?since=inf", 400),
    ("/_emulator/requests?since=-inf", 400), ("/_emulator/requests?since=1e999", 400),
    ("/_emulator/requests?since=abc", 400), ("/_emulator/requests?since=" + "9" * 5000, 400),
    ("/orgs/outside", 404), ("/orgs/outside/repos", 404), ("/repos/outside/plain", 404),
    ("/repos/acme/escape", 404), ("/repos/acme/escape/contents/marker.txt", 404),
    ("/repos/outside/world/contents/emulator.yml", 404),
    ("/repos/acme/app/actions/workflows/%C2%B2/runs", 404),
    ("/repos/acme/app/actions/workflows/" + "9" * 5000 + "/runs", 404),
    ("/repos/acme/app/actions/runs/" + "9" * 5000, 404),
    ("/repos/acme/app/actions/runs?created=9999-12-31T23:59:59-05:00", 422),
    ("/repos/acme/app/actions/runs?created=0001-01-01T00:00:00%2B01:00", 422),
    ("/repos/acme/app/actions/runs?created=%3E%3D9999-12-31", 200),
    ("/acme/app/actions/runs/" + "9" * 5000, 404), ("/acme/app/actions/runs/%C2%B2", 404),
    ("/acme/app/actions/runs/1/job/" + "9" * 5000, 404), ("/../../actions/runs/1", 404),
    ("/_emulator/logs/../../marker.txt", 403), ("/_emulator/logs/jobs/../../../marker.txt", 403),
    ("/_emulator/logs/runs/" + "9" * 5000 + "?expires=1&sig=x", 403),
    # odd expires/sig values: an invalid link (403), never a 500 as before
    ("/_emulator/logs/runs/1?expires=%C2%B2&sig=" + "0" * 64, 403),
    ("/_emulator/logs/runs/1?expires=" + "9" * 5000 + "&sig=" + "0" * 64, 403),
    ("/_emulator/logs/runs/1?expires=9999999999&sig=%C3%A9", 403),
    ("/_emulator/logs/jobs/1?expires=9999999999&sig=" + "%C3%A9" * 64, 403),
    ("/_emulator/logs/runs/1?expires=-1&sig=" + "0" * 64, 403),
    ("/_emulator/logs/runs/1?expires=1%0a&sig=" + "0" * 64, 403),
    # the artifact download link: a sig that is not ASCII is a wrong sig (403), not a 500
    ("/_blobs/artifacts/1?expires=9999999999&sig=%C3%A9", 403),
    ("/_blobs/artifacts/1?expires=9999999999&sig=%ED%A0%80", 403),
    ("/_blobs/artifacts/1?expires=%C2%B2&sig=" + "0" * 64, 404),
    ("/repos/acme/app/actions/runs/" + "9" * 5000 + "/logs", 404),
    ("/repos/acme/app/actions/jobs/%C2%B2/logs", 404),
    ("/repos/acme/%2e%2e/actions/jobs/1/logs", 404),
    ("/repos/acme/app/actions/runs/1%0d%0a%0d%0a/jobs?page=2", 404),
    ("/repos/acme/app/actions/runs/%201", 404), ("/repos/acme/app/actions/runs/1_0", 404),
    ("/repos/acme/app/actions/jobs/1%0a/logs", 404),
    ("/repos/acme/app/actions/workflows/x%0d%0aX-Injected:%201/runs", 404),
    ("/repos/acme/app/actions/runs?per_page=" + "9" * 5000 + "&page=" + "9" * 4000, 200),
]

# Without a token: refused before anything is looked up.
UNAUTHENTICATED = [
    "/repos/acme/..", "/repos/acme/../contents/emulator.yml", "/repos/%2e%2e/%2e%2e",
    "/orgs/../repos", "/repos/acme/app/contents/tako.yml?ref=../../HEAD",
    "/repos/./../contents/marker.txt", "/orgs/%2e%2e", "/users/../repos",
]


def _path_cases() -> list[PathCase]:
    cases: list[PathCase] = []
    for i, name in enumerate(HOSTILE_NAMES):
        cases.append(PathCase(f"repo-name-{i}", f"/repos/acme/{name}", 404))
        cases.append(PathCase(f"owner-name-{i}", f"/repos/{name}/app", 404))
    for i, name in enumerate(HOSTILE_NAMES[:12]):
        cases.append(PathCase(f"contents-names-{i}", f"/repos/{name}/{name}/contents/tako.yml",
                              404))
        cases.append(PathCase(f"org-{i}", f"/orgs/{name}/repos", 404))
        cases.append(PathCase(f"runs-{i}", f"/repos/acme/{name}/actions/runs", 404))
        cases.append(PathCase(f"dispatch-{i}", f"/repos/acme/{name}/dispatches", 404,
                              method="POST", body={"event_type": "x"}))
    for i, path in enumerate(HOSTILE_CONTENT_PATHS):
        cases.append(PathCase(f"content-path-{i}", f"/repos/acme/app/contents/{path}", 404))
    for i, ref in enumerate(HOSTILE_REFS):
        cases.append(PathCase(f"ref-{i}", f"/repos/acme/app/contents/tako.yml?ref={ref}", 404))
    for i, ref in enumerate(HOSTILE_REFS[:10]):
        cases.append(PathCase(f"ref-dir-{i}", f"/repos/acme/app/contents/?ref={ref}", 404))
    for i, rest in enumerate(HOSTILE_RAW):
        cases.append(PathCase(f"raw-{i}", f"/_emulator/raw/{rest}", 404, token=False))
    for i, rest in enumerate(HOSTILE_RAW[:8]):
        cases.append(PathCase(f"raw-head-{i}", f"/_emulator/raw/{rest}", 404, method="HEAD",
                              token=False))
    for i, (path, status) in enumerate(HOSTILE_OTHER):
        cases.append(PathCase(f"other-{i}", path, status, token=not path.startswith("/_")))
    for i, path in enumerate(UNAUTHENTICATED):
        cases.append(PathCase(f"no-token-{i}", path, 401, token=False))
    return cases


PATH_CASES = _path_cases()

CONTROL_PATHS = [
    PathCase("contents", "/repos/acme/app/contents/tako.yml", 200),
    PathCase("contents-ref", "/repos/acme/app/contents/tako.yml?ref=main", 200),
    PathCase("contents-full-ref", "/repos/acme/app/contents/tako.yml?ref=refs/heads/main", 200),
    PathCase("contents-dir-slash", "/repos/acme/app/contents/docs/", 200),
    PathCase("contents-nested", "/repos/acme/app/contents/docs/guide.md", 200),
    PathCase("repo", "/repos/acme/lib", 200),
    PathCase("org", "/orgs/acme/repos", 200),
    PathCase("raw", "/_emulator/raw/acme/app/main/tako.yml", 200, token=False),
    PathCase("raw-nested", "/_emulator/raw/acme/app/main/docs/guide.md", 200, token=False),
]


# -- bodies -------------------------------------------------------------------------------


@dataclass(frozen=True)
class BodyCase:
    id: str
    target: str  # dispatch | graphql | faults
    raw: bytes
    status: int


TARGETS = ("dispatch", "graphql", "faults")
_PAYLOAD = b'{"event_type":"x","client_payload":{"a":%s}}'


def _payload(value: bytes) -> bytes:
    return _PAYLOAD % value


# Refused by the JSON reader: 400 "Problems parsing JSON" on every endpoint.
BAD_JSON: list[tuple[str, bytes]] = [
    ("open-brace", b"{"), ("close-brace", b"}"), ("not-json", b"{not json"),
    ("trailing-comma-list", b"[1,]"), ("trailing-comma-object", b'{"a":1,}'),
    ("single-quotes", b"{'a': 1}"), ("missing-colon", b'{"a" 1}'), ("tru", b"tru"),
    ("nul", b"nul"), ("raw-control-char", b'"\x01"'),
    ("lone-surrogate", b'{"a":"\\ud800"}'), ("lone-surrogate-key", b'{"\\udfff":1}'),
    ("lone-low-surrogate-payload", _payload(b'"\\udc00x"')),
    ("invalid-utf8", b"\xff\xfe{}"), ("utf16", '{"a": 1}'.encode("utf-16")),
    ("utf8-bom", b"\xef\xbb\xbf{}"), ("nan", b"NaN"), ("minus-nan", b"-NaN"),
    ("infinity", b"Infinity"), ("minus-infinity", b"-Infinity"),
    ("payload-nan", _payload(b"NaN")), ("payload-infinity", _payload(b"Infinity")),
    ("payload-minus-infinity", _payload(b"-Infinity")), ("payload-1e999", _payload(b"1e999")),
    ("payload-minus-1e400", _payload(b"-1e400")), ("int-5000-digits", _payload(b"1" * 5000)),
    ("int-4301-digits", _payload(b"7" * 4301)), ("int-101-digits", _payload(b"1" * 101)),
    ("negative-int-200-digits", _payload(b"-" + b"9" * 200)),
    ("float-203-chars", _payload(b"1." + b"0" * 201)),
    ("nan-in-list", _payload(b"[1, NaN]")),
    ("depth-101", b"[" * 101 + b"]" * 101), ("depth-100000", b"[" * 100000 + b"]" * 100000),
    ("unclosed-depth-100000", b"[" * 100000), ("objects-depth-200", b'{"a":' * 200 + b"1"
                                                + b"}" * 200),
    ("payload-depth-101", _payload(b'{"a":' * 99 + b"1" + b"}" * 99)),
    ("mixed-depth-150", b'{"k":' + b'[{"k":' * 75 + b"1" + b"}]" * 75 + b"}"),
    ("nul-byte", b"\x00"), ("garbage-after", b"{}garbage"), ("two-documents", b'{"a":1}{"b":2}'),
    ("leading-zero", b'{"a":01}'), ("bare-fraction", b'{"a":.5}'), ("plus-sign", b'{"a":+1}'),
    ("hex", b'{"a":0x10}'), ("bad-exponent", b'{"a":1e}'), ("bad-escape", b'{"a":"\\x41"}'),
    ("short-unicode-escape", b'{"a":"\\u12"}'), ("undefined", b'{"a":undefined}'),
    ("unquoted-key", b"{a:1}"), ("comment", b"/*c*/{}"), ("trailing-comment", b'{"a":1}//'),
    ("unterminated-string", b'{"a":"abc'), ("unterminated-deep-string", b'"' + b"[" * 5000),
    ("brackets-after-string", b'["]' + b"[" * 200),
]

# Well-formed JSON of the wrong shape: (raw, dispatch, graphql, faults) statuses.
WRONG_SHAPE: list[tuple[str, bytes, int, int, int]] = [
    ("empty-list", b"[]", 422, 200, 400), ("string", b'"str"', 422, 200, 400),
    ("number", b"1", 422, 200, 400), ("true", b"true", 422, 200, 400),
    ("list-of-objects", b"[{}]", 422, 200, 400), ("empty-string", b'""', 422, 200, 400),
    ("minus-zero", b"-0", 422, 200, 400), ("float", b"1.5", 422, 200, 400),
    ("null", b"null", 422, 200, 200), ("empty-body", b"", 422, 200, 200),
    ("whitespace-body", b"  \n\t ", 422, 200, 200),
    ("big-flat-list", b"[" + b"1," * 200000 + b"1]", 422, 200, 400),
    ("brackets-in-a-string", _payload(b'"' + b"[" * 50000 + b'"'), 204, 200, 400),
    ("depth-exactly-100", _payload(b'{"a":' * 98 + b"1" + b"}" * 98), 204, 200, 400),
    ("int-100-digits", _payload(b"9" * 100), 204, 200, 400),
    ("surrogate-pair", _payload(b'"\\ud83d\\ude00"'), 204, 200, 400),
    ("unknown-keys", b'{"zzz": 1}', 422, 200, 400),
]

OVERSIZE = b'{"event_type":"x","client_payload":{"a":"' + b"x" * (1024 * 1024) + b'"}}'

# Dispatch bodies GitHub validates: 422 Invalid request.
DISPATCH_422: list[tuple[str, Any]] = [
    ("event-type-number", {"event_type": 5}), ("event-type-list", {"event_type": []}),
    ("event-type-object", {"event_type": {}}), ("event-type-null", {"event_type": None}),
    ("event-type-bool", {"event_type": True}), ("event-type-empty", {"event_type": ""}),
    ("event-type-101", {"event_type": "x" * 101}),
    ("event-type-huge", {"event_type": "x" * 500_000}),
    ("payload-list", {"event_type": "x", "client_payload": []}),
    ("payload-string", {"event_type": "x", "client_payload": "s"}),
    ("payload-number", {"event_type": "x", "client_payload": 1}),
    ("payload-bool", {"event_type": "x", "client_payload": True}),
    ("payload-11-keys", {"event_type": "x", "client_payload": {str(i): i for i in range(11)}}),
    ("payload-64k", {"event_type": "x", "client_payload": {"k": "x" * 70_000}}),
    ("payload-many-small", {"event_type": "x", "client_payload": {
        "k": [[0] * 100] * 400}}),
    ("no-event-type", {"client_payload": {}}),
]

GRAPHQL_BODIES: list[tuple[str, Any, int]] = [
    ("query-number", {"query": 5}, 200), ("query-null", {"query": None}, 200),
    ("query-list", {"query": []}, 200), ("query-object", {"query": {}}, 200),
    ("variables-list", {"query": "{ viewer { login } }", "variables": []}, 200),
    ("variables-string", {"query": "{ viewer { login } }", "variables": "x"}, 200),
    ("variables-number", {"query": "{ viewer { login } }", "variables": 5}, 200),
    ("operation-name-list", {"query": "{ viewer { login } }", "operationName": ["x"]}, 200),
    ("operation-name-object", {"query": "{ viewer { login } }", "operationName": {"a": 1}},
     200),
    ("query-300k", {"query": "{" + " " * 300_000 + "}"}, 200),
    ("variable-wrong-type", {"query": "query($n: Int) { viewer { login } }",
                             "variables": {"n": "x" * 10_000}}, 200),
]

FAULTS_400: list[tuple[str, Any]] = [
    ("latency-string", {"latency": "x"}), ("errors-string", {"errors": "x"}),
    ("seed-string", {"seed": "x"}), ("status-string", {"errors": [{"kind": "dispatch",
                                                                 "status": "abc"}]}),
    ("latency-huge", {"latency": {"*": "1e999s"}}), ("budgets-huge", {"budgets": {"core": 1e300}}),
    ("budgets-negative", {"budgets": {"core": -1}}), ("unknown", {"unknown": 1}),
    ("rate-huge", {"errors": [{"kind": "*", "status": 500, "rate": 1e308}]}),
    ("status-bool", {"errors": [{"kind": "*", "status": True}]}),
    ("status-99", {"errors": [{"kind": "*", "status": 99}]}),
    ("kind-unknown", {"errors": [{"kind": "nope", "status": 500}]}),
    ("next-negative", {"errors": [{"kind": "*", "status": 500, "next": -1}]}),
    ("rule-not-mapping", {"errors": [[1]]}), ("drop-string", {"dispatch": {"drop": "x"}}),
    ("latency-negative", {"latency": {"*": "-5s"}}),
    ("latency-90-digits", {"latency": {"*": "9" * 90}}),
    ("run-delay-backwards", {"run_delay": "5s..1s"}),
    ("secondary-rate-2", {"secondary": {"kind": "*", "rate": 2}}),
    ("clock-skew-huge", {"clock_skew": "9" * 90 + "s"}),
    ("run-delay-list", {"run_delay": [1, 2]}),
]


def _body_cases() -> list[BodyCase]:
    cases: list[BodyCase] = []
    for name, raw in BAD_JSON:
        for target in TARGETS:
            cases.append(BodyCase(f"{target}-{name}", target, raw, 400))
    for name, raw, *statuses in WRONG_SHAPE:
        for target, status in zip(TARGETS, statuses, strict=True):
            cases.append(BodyCase(f"{target}-{name}", target, raw, status))
    for target in TARGETS:
        cases.append(BodyCase(f"{target}-oversize", target, OVERSIZE, 413))
    for name, body in DISPATCH_422:
        cases.append(BodyCase(f"dispatch-{name}", "dispatch", json.dumps(body).encode(), 422))
    for name, body, status in GRAPHQL_BODIES:
        cases.append(BodyCase(f"graphql-{name}", "graphql", json.dumps(body).encode(), status))
    for name, body in FAULTS_400:
        cases.append(BodyCase(f"faults-{name}", "faults", json.dumps(body).encode(), 400))
    return cases


BODY_CASES = _body_cases()

# Whole requests on a raw socket: (id, bytes, expected status line prefix).
_POST = b"POST /graphql HTTP/1.1\r\nHost: x\r\nAuthorization: token %s\r\nConnection: close\r\n"
RAW_REQUESTS: list[tuple[str, bytes, int]] = [
    ("content-length-word", b"Content-Length: nope\r\n\r\n", 400),
    ("content-length-negative", b"Content-Length: -1\r\n\r\n", 400),
    ("content-length-huge", b"Content-Length: 99999999999\r\n\r\n", 413),
    ("content-length-over-cap", b"Content-Length: 1048577\r\n\r\n", 413),
    ("content-length-float", b"Content-Length: 1e3\r\n\r\n", 400),
    ("content-length-hex", b"Content-Length: 0x10\r\n\r\n", 400),
    ("content-length-5000-digits", b"Content-Length: " + b"9" * 5000 + b"\r\n\r\n", 400),
    ("chunk-negative", b"Transfer-Encoding: chunked\r\n\r\n-1\r\n{}\r\n0\r\n\r\n", 400),
    ("chunk-not-hex", b"Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n", 400),
    ("chunk-0x-prefix", b"Transfer-Encoding: chunked\r\n\r\n0x2\r\n{}\r\n0\r\n\r\n", 400),
    ("chunk-size-17-digits", b"Transfer-Encoding: chunked\r\n\r\n" + b"f" * 17 + b"\r\n", 400),
    ("chunk-size-5000-digits", b"Transfer-Encoding: chunked\r\n\r\n" + b"f" * 5000 + b"\r\n",
     400),
    ("chunk-size-huge", b"Transfer-Encoding: chunked\r\n\r\nfffffffffffffff\r\n", 413),
    ("chunk-over-cap", b"Transfer-Encoding: chunked\r\n\r\n100001\r\n", 413),
    ("chunks-add-over-cap", b"Transfer-Encoding: chunked\r\n\r\n80000\r\n" + b" " * 0x80000
     + b"\r\n80001\r\n", 413),
    ("chunk-empty-size", b"Transfer-Encoding: chunked\r\n\r\n\r\n{}\r\n0\r\n\r\n", 400),
    # a body shorter than announced is 400, never executed (it used to be)
    ("body-shorter-than-content-length", b"Content-Length: 100\r\n\r\n{}", 400),
    ("body-missing", b"Content-Length: 2\r\n\r\n", 400),
    ("chunk-shorter-than-its-size", b"Transfer-Encoding: chunked\r\n\r\n10\r\n{}", 400),
    ("content-length-plus-sign", b"Content-Length: +2\r\n\r\n{}", 400),
    ("content-length-underscore", b"Content-Length: 0_2\r\n\r\n{}", 400),
    # which length holds is ambiguous: refused rather than one of them picked
    ("content-length-twice-differing", b"Content-Length: 2\r\nContent-Length: 1\r\n\r\n{}",
     400),
    ("chunked-beside-content-length",
     b"Content-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n", 400),
    ("transfer-encoding-not-chunked", b"Transfer-Encoding: gzip\r\nContent-Length: 2\r\n\r\n{}",
     400),
    ("transfer-encoding-gzip-chunked",
     b"Transfer-Encoding: gzip, chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n", 400),
]
CONTROL_RAW = ("chunked-ok", b"Transfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n", 200)


# -- GraphQL ------------------------------------------------------------------------------


@dataclass(frozen=True)
class GraphQLCase:
    id: str
    query: str
    fragment: str | None  # in an error message; None: no errors expected
    variables: dict[str, Any] = field(default_factory=dict)
    status: int = 200


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _node(field: str, ident: str) -> str:
    """``{ <field with the id as a string literal> { id } }``."""
    return "{ " + field.replace("{}", json.dumps(ident)) + " { id } }"


def _aliases(count: int, body: str) -> str:
    return "{ " + " ".join(f"a{i}: {body}" for i in range(count)) + " }"


def _fragment_chain(length: int, spreads: int, leaf: str = "login") -> str:
    """``F0`` spreads ``F1`` ``spreads`` times, and so on: ``spreads ** length`` fields
    once expanded, in a document of a few hundred characters."""
    parts = ["query { viewer { ...F0 } }"]
    for i in range(length):
        parts.append(f"fragment F{i} on User {{ " + " ".join([f"...F{i + 1}"] * spreads) + " }")
    parts.append(f"fragment F{length} on User {{ {leaf} }}")
    return "\n".join(parts)


def _cycle(length: int) -> str:
    parts = ["query { viewer { ...C0 } }"]
    for i in range(length):
        parts.append(f"fragment C{i} on User {{ login ...C{(i + 1) % length} }}")
    return "\n".join(parts)


def _nested(depth: int, name: str = "a") -> str:
    return "{ " + f"{name} {{ " * depth + "x" + " }" * depth + " }"


REPOS_100 = "organization(login: \"acme\") { repositories(first: 100) { nodes { name } } }"
TOPICS_100 = ("organization(login: \"acme\") { repositories(first: 100) { nodes { "
              "repositoryTopics(first: 100) { nodes { topic { name } } } } } }")

GRAPHQL_CASES: list[GraphQLCase] = [
    # fragment cycles
    GraphQLCase("self-cycle", "query { viewer { ...A } } fragment A on User { ...A }",
                "infinite loop"),
    GraphQLCase("two-cycle", "query { ...A } fragment A on Query { ...B } "
                "fragment B on Query { ...A }", "infinite loop"),
    GraphQLCase("cycle-3", _cycle(3), "infinite loop"),
    GraphQLCase("cycle-50", _cycle(50), "infinite loop"),
    GraphQLCase("cycle-1000", _cycle(1000), "infinite loop"),
    GraphQLCase("cycle-unreachable", "{ viewer { login } } fragment A on User { ...B } "
                "fragment B on User { ...A }", "infinite loop"),
    GraphQLCase("cycle-through-inline", "{ viewer { ...A } } fragment A on User "
                "{ ... on User { ... { ...A } } }", "infinite loop"),
    GraphQLCase("cycle-under-field", "{ repository(owner: \"acme\", name: \"app\") { ...R } } "
                "fragment R on Repository { owner { login } ...S } "
                "fragment S on Repository { name ...R }", "infinite loop"),
    GraphQLCase("cycle-in-skipped-branch", "{ viewer { ...A @skip(if: true) } } "
                "fragment A on User { ...A }", "infinite loop"),
    # exponential fragments (no cycle)
    GraphQLCase("fragment-bomb-2x30", _fragment_chain(30, 2), "complexity"),
    GraphQLCase("fragment-bomb-10x10", _fragment_chain(10, 10), "complexity"),
    GraphQLCase("fragment-bomb-3x20", _fragment_chain(20, 3), "complexity"),
    GraphQLCase("fragment-chain-150", _fragment_chain(150, 1), "nests"),
    GraphQLCase("fragment-chain-90", _fragment_chain(90, 1), None),
    GraphQLCase("fragment-bomb-2x16", _fragment_chain(16, 2), None),  # 65,536: allowed
    GraphQLCase("fragment-bomb-2x17", _fragment_chain(17, 2), "complexity"),  # 131,072
    # depth
    GraphQLCase("depth-26", _nested(26), "depth of 27"),
    GraphQLCase("depth-30-unknown-fields", _nested(30, "zz"), "exceeds max depth"),
    GraphQLCase("depth-63", _nested(62), "exceeds max depth"),
    GraphQLCase("nesting-65", _nested(65), "nested more than 64"),
    GraphQLCase("nesting-1000", _nested(1000), "nested more than 64"),
    GraphQLCase("nesting-20000-unclosed", "{ a " * 20000, "nested more than 64"),
    GraphQLCase("inline-fragments-70", "{ viewer { " + "... on User { " * 70 + "login"
                + " }" * 70 + " } }", "nested more than 64"),
    GraphQLCase("list-value-100", "{ organization(login: " + "[" * 100 + "\"a\"" + "]" * 100
                + ") { login } }", "nested more than 64"),
    GraphQLCase("object-value-100", "{ organization(login: " + "{a: " * 100 + "1" + "}" * 100
                + ") { login } }", "nested more than 64"),
    GraphQLCase("list-type-100", "query($a: " + "[" * 100 + "Int" + "]" * 100
                + ") { viewer { login } }", "nested more than 64"),
    GraphQLCase("directive-arg-deep", "{ viewer @include(if: " + "[" * 80 + "true" + "]" * 80
                + ") { login } }", "nested more than 64"),
    GraphQLCase("deep-real-schema", "{ repository(owner: \"acme\", name: \"app\") { "
                + "owner { " * 30 + "login" + " }" * 30 + " } }", "exceeds max depth"),
    # aliases x page sizes
    GraphQLCase("aliases-50x-repos-topics", _aliases(50, TOPICS_100), "maximum limit of 500,000"),
    GraphQLCase("aliases-10x-repos-topics", _aliases(10, TOPICS_100), "complexity"),
    GraphQLCase("aliases-2x-repos-topics", _aliases(2, TOPICS_100), None),
    GraphQLCase("aliases-1000x-repos", _aliases(1000, REPOS_100), "complexity"),
    GraphQLCase("aliases-5000-viewer", _aliases(5000, "viewer { login }"), None),
    GraphQLCase("aliases-20000-viewer", _aliases(20000, "viewer { login }"), "too large"),
    GraphQLCase("aliases-var-pages", "query($n: Int) { " + " ".join(
        f"a{i}: organization(login: \"acme\") {{ repositories(first: $n) {{ nodes {{ "
        f"repositoryTopics(first: $n) {{ nodes {{ topic {{ name }} }} }} }} }} }}"
        for i in range(60)) + " }", "maximum limit of 500,000", {"n": 100}),
    GraphQLCase("aliases-var-pages-small", "query($n: Int) { " + " ".join(
        f"a{i}: organization(login: \"acme\") {{ repositories(first: $n) {{ nodes {{ name }} "
        f"}} }}" for i in range(60)) + " }", None, {"n": 1}),
    GraphQLCase("aliases-object-blobs", _aliases(
        1500, "repository(owner: \"acme\", name: \"app\") { object(expression: "
        "\"HEAD:tako.yml\") { ... on Blob { text } } }"), None),
    GraphQLCase("aliases-last-pages", _aliases(60, TOPICS_100.replace("first", "last")),
                "maximum limit of 500,000"),
    # huge documents
    GraphQLCase("document-300k-comment", "#" + "x" * 300_000 + "\n{ viewer { login } }",
                "too large"),
    GraphQLCase("document-300k-whitespace", " " * 300_000 + "{ viewer { login } }", "too large"),
    GraphQLCase("tokens-60000", "{ viewer { " + "x " * 60_000 + "} }", "tokens"),
    GraphQLCase("string-200k", "{ organization(login: \"" + "a" * 200_000 + "\") { login } }",
                "Could not resolve"),
    # numbers
    GraphQLCase("first-5000-digits", "{ organization(login: \"acme\") { repositories(first: "
                + "9" * 5000 + ") { totalCount } } }", "more than 100 characters"),
    GraphQLCase("first-1e999", "{ organization(login: \"acme\") { repositories(first: 1e999) "
                "{ totalCount } } }", "out of range"),
    GraphQLCase("first-negative", "{ organization(login: \"acme\") { repositories(first: -1) "
                "{ totalCount } } }", "exceeds the `first` limit"),
    GraphQLCase("first-float", "{ organization(login: \"acme\") { repositories(first: 1.5) "
                "{ totalCount } } }", "exceeds the `first` limit"),
    GraphQLCase("first-101", "{ organization(login: \"acme\") { repositories(first: 101) "
                "{ totalCount } } }", "exceeds the `first` limit"),
    GraphQLCase("first-huge-var", "query($n: Int) { organization(login: \"acme\") { "
                "repositories(first: $n) { totalCount } } }", "exceeds the `first` limit",
                {"n": 10**90}),
    GraphQLCase("first-string", "{ organization(login: \"acme\") { repositories(first: \"5\") "
                "{ totalCount } } }", "exceeds the `first` limit"),
    # cursors
    GraphQLCase("after-number", "{ organization(login: \"acme\") { repositories(first: 1, "
                "after: 5) { totalCount } } }", "valid cursor"),
    GraphQLCase("after-object", "{ organization(login: \"acme\") { repositories(first: 1, "
                "after: {a: 1}) { totalCount } } }", "valid cursor"),
    GraphQLCase("after-list", "{ organization(login: \"acme\") { repositories(first: 1, "
                "after: [1]) { totalCount } } }", "valid cursor"),
    GraphQLCase("after-garbage", "{ organization(login: \"acme\") { repositories(first: 1, "
                "after: \"!!!\") { totalCount } } }", "valid cursor"),
    GraphQLCase("before-bool", "{ organization(login: \"acme\") { repositories(first: 1, "
                "before: true) { totalCount } } }", "valid cursor"),
    # global ids
    GraphQLCase("node-id-superscript", _node("node(id: {})", _b64("WFR:²")),
                "Could not resolve to a node"),
    GraphQLCase("node-id-5000-digits", _node("nodes(ids: [{}])", _b64("WFR:" + "9" * 5000)),
                "Could not resolve to a node"),
    GraphQLCase("node-id-garbage", _node("nodes(ids: [\"!!\", \"\", {}])", _b64("R:x")),
                "Could not resolve to a node"),
    GraphQLCase("node-id-number", "{ nodes(ids: [5, {a: 1}, [1]]) { id } }",
                "Could not resolve to a node"),
    GraphQLCase("nodes-101-ids", "{ nodes(ids: [" + ", ".join(['"x"'] * 101) + "]) { id } }",
                "more than 100 node ids"),
    # unknown ids under as many aliases as the complexity limit lets through: each id
    # one index lookup (a scan per id took 38 s of server CPU on 10,000 repositories)
    GraphQLCase("nodes-300-aliases-x-100-unknown-ids", "query($ids: [ID!]!) { " + " ".join(
        f"a{i}: nodes(ids: $ids) {{ id }}" for i in range(300)) + " }",
        "Could not resolve to a node", {"ids": [_b64(f"R:{10**12 + i}") for i in range(100)]}),
    GraphQLCase("nodes-aliases-x-ids", "query($ids: [ID!]!) { " + " ".join(
        f"a{i}: nodes(ids: $ids) {{ id }}" for i in range(2000)) + " }", "complexity",
        {"ids": ["x"] * 100}),
    # names and paths that lead out of the world
    GraphQLCase("repo-dotdot", "{ repository(owner: \"acme\", name: \"..\") { name } }",
                "Could not resolve"),
    GraphQLCase("owner-dotdot", "{ repository(owner: \"..\", name: \"world\") { name } }",
                "Could not resolve"),
    GraphQLCase("both-dot", "{ repository(owner: \".\", name: \"..\") { name } }",
                "Could not resolve"),
    GraphQLCase("repo-slash", "{ repository(owner: \"acme\", name: \"../..\") { name } }",
                "Could not resolve"),
    GraphQLCase("repo-nul", "{ repository(owner: \"acme\", name: \"app\\u0000\") { name } }",
                "Could not resolve"),
    GraphQLCase("repo-escape-link", "{ repository(owner: \"acme\", name: \"escape\") "
                "{ name } }", "Could not resolve"),
    GraphQLCase("owner-outside-link", "{ repository(owner: \"outside\", name: \"plain\") "
                "{ name } }", "Could not resolve"),
    GraphQLCase("org-dotdot", "{ organization(login: \"..\") { login } }", "Could not resolve"),
    GraphQLCase("org-outside", "{ organization(login: \"outside\") { login } }",
                "Could not resolve"),
    GraphQLCase("org-dotdot-repos", "{ organization(login: \"..\") { repositories(first: 10) "
                "{ nodes { name } } } }", "Could not resolve"),
    GraphQLCase("org-dot", "{ organization(login: \".\") { login } }", "Could not resolve"),
    GraphQLCase("owner-dotdot-repos", "{ repositoryOwner(login: \"..\") { login } }", None),
    # A lone surrogate escape is not a Unicode scalar value: a syntax error by the
    # GraphQL spec (graphql-core reads documents; the hand-written lexer used to decode it
    # into a name no repository has, "Could not resolve").
    GraphQLCase("string-bad-unicode-escape", "{ organization(login: \"\\uZZZZ\") { login } }",
                "Invalid Unicode escape sequence"),  # was a 500
    GraphQLCase("repo-surrogate", "{ repository(owner: \"acme\", name: \"\\ud800\") { name } }",
                "Invalid Unicode escape sequence"),
    GraphQLCase("repo-long", "{ repository(owner: \"acme\", name: \"" + "a" * 5000
                + "\") { name } }", "Could not resolve"),
    GraphQLCase("object-dotdot-path", "{ repository(owner: \"acme\", name: \"app\") { "
                "object(expression: \"HEAD:../../marker.txt\") { oid } } }", None),
    GraphQLCase("object-dotdot-rev", "{ repository(owner: \"acme\", name: \"app\") { "
                "object(expression: \"../../HEAD:tako.yml\") { oid } } }", None),
    GraphQLCase("object-rev-config", "{ repository(owner: \"acme\", name: \"app\") { "
                "object(expression: \"../../config:x\") { oid } } }", None),
    GraphQLCase("object-absolute", "{ repository(owner: \"acme\", name: \"app\") { "
                "object(expression: \"HEAD:/etc/passwd\") { oid } } }", None),
    GraphQLCase("object-nul", "{ repository(owner: \"acme\", name: \"app\") { "
                "object(expression: \"HEAD:tako.yml\\u0000\") { oid } } }", None),
    GraphQLCase("object-dot", "{ repository(owner: \"acme\", name: \"app\") { "
                "object(expression: \"HEAD:./tako.yml\") { oid } } }", None),
    GraphQLCase("object-rev-lock", "{ repository(owner: \"acme\", name: \"app\") { "
                "object(expression: \"main.lock:tako.yml\") { oid } } }", None),
    GraphQLCase("object-rev-sha-garbage", "{ repository(owner: \"acme\", name: \"app\") { "
                "object(expression: \"" + "z" * 40 + ":tako.yml\") { oid } } }", None),
    GraphQLCase("object-expression-number", "{ repository(owner: \"acme\", name: \"app\") { "
                "object(expression: 5) { oid } } }", None),
    GraphQLCase("object-expression-huge", "{ repository(owner: \"acme\", name: \"app\") { "
                "object(expression: \"HEAD:" + "a/" * 3000 + "\") { oid } } }", None),
    GraphQLCase("object-rev-refs-dotdot", "{ repository(owner: \"acme\", name: \"app\") { "
                "object(expression: \"refs/heads/../../HEAD:tako.yml\") { oid } } }", None),
    # parse errors
    GraphQLCase("open-brace", "{", "Parse error"), GraphQLCase("close-brace", "}", "Parse error"),
    GraphQLCase("keyword-only", "query", "Parse error"),
    GraphQLCase("fragment-only", "fragment", "Parse error"),
    GraphQLCase("spread-on-nothing", "{ ...on }", "Parse error"),
    GraphQLCase("empty-argument", "{ viewer(a: ) { login } }", "Parse error"),
    GraphQLCase("dangling-directive", "{ viewer @ { login } }", "Parse error"),
    GraphQLCase("unterminated-block-string", "{ viewer(a: \"\"\"abc) { login } }",
                "Parse error"),
    GraphQLCase("trailing-garbage", "{ viewer { login } } }", "Parse error"),
    GraphQLCase("unicode-punct", "{ viewer { login \u2603 } }", "Parse error"),
    GraphQLCase("nul-char", "{ viewer { login\x00 } }", "Parse error"),
    GraphQLCase("empty-document", "", "no operation"),
    GraphQLCase("only-comment", "# nothing", "no operation"),
    GraphQLCase("unterminated-string", "{ organization(login: \"acme) { login } }",
                "Parse error"),
    GraphQLCase("unclosed-list", "{ organization(login: [1, 2) { login } }", "Parse error"),
    GraphQLCase("unclosed-selection", "{ viewer { login }", "Parse error"),
    GraphQLCase("empty-selection", "{ viewer { } }", "Parse error"),
    GraphQLCase("variable-in-const", "query($a: Int = $b) { viewer { login } }", "Parse error"),
    GraphQLCase("dollar-alone", "query($) { viewer { login } }", "Parse error"),
    GraphQLCase("fragment-missing-on", "{ viewer { ...A } } fragment A User { login }",
                "Parse error"),
    # operations, variables, directives, fragments
    GraphQLCase("two-anonymous", "{ viewer { login } } { viewer { login } }",
                "operation name is required"),
    GraphQLCase("subscription", "subscription { viewer { login } }", "does not support"),
    GraphQLCase("mutation", "mutation { viewer { login } }", "does not support"),
    GraphQLCase("undefined-fragment", "{ viewer { ...Nope } }", "was used, but not defined"),
    GraphQLCase("fragment-unknown-type", "{ viewer { ...A } } fragment A on Nope { login }",
                "No such type Nope"),
    GraphQLCase("inline-unknown-type", "{ viewer { ... on Nope { login } } }", "No such type"),
    GraphQLCase("unknown-field", "{ nope }", "doesn't exist"),
    GraphQLCase("unknown-argument", "{ viewer(x: 1) { login } }", "doesn't accept argument"),
    GraphQLCase("scalar-with-selection", "{ viewer { login { x } } }", "Selections can't be made"),
    GraphQLCase("object-without-selection", "{ viewer }", "must have selections"),
    GraphQLCase("required-variable-missing", "query($n: Int!) { viewer { login } }",
                "invalid value"),
    GraphQLCase("variable-bool-as-int", "query($n: Int) { viewer { login } }", "invalid value",
                {"n": True}),
    GraphQLCase("variable-float-as-int", "query($n: Int) { viewer { login } }", "invalid value",
                {"n": 1.5}),
    GraphQLCase("variable-list-as-string", "query($s: String) { viewer { login } }",
                "invalid value", {"s": [1]}),
    GraphQLCase("include-undefined-var", "{ viewer @include(if: $nope) { login } }", None),
    GraphQLCase("skip-string", "{ viewer @skip(if: \"yes\") { login } }", None),
    GraphQLCase("typename-everywhere", "{ __typename viewer { __typename login } }", None),
]

CONTROL_GRAPHQL = GraphQLCase(
    "discovery", "{ organization(login: \"acme\") { repositories(first: 100) { nodes { name "
    "config: object(expression: \"HEAD:tako.yml\") { ... on Blob { text } } } } } }", None)
