"""The package: the CLI answers --help; the wheel and sdist built from this checkout
stand alone (contents, metadata, links that work on the package index)."""

from __future__ import annotations

import ast
import email
import re
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from tako_gha import __version__
from tako_gha.core.links import DOCS, REPOSITORY
from tako_gha.surfaces.cli import cli

if sys.version_info >= (3, 11):
    import tomllib
else:  # pytest brings tomli on Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
# A docs/ path that is not part of a URL: what breaks once installed from a wheel.
RELATIVE_DOC = re.compile(r"(?<![\w/.-])docs/[\w./-]+")


def test_help_lists_usage() -> None:
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    assert "tako-gha demo" in result.output


def test_unknown_command_is_usage_error() -> None:
    result = CliRunner().invoke(cli, ["fan-outt"])
    assert result.exit_code == 2


def _commands(group: click.Group, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    yield path
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            yield from _commands(command, (*path, name))
        else:
            yield (*path, name)


def test_every_help_text_points_at_docs_by_url() -> None:
    linked = 0
    for path in _commands(cli):
        result = CliRunner().invoke(cli, [*path, "--help"], terminal_width=200)
        assert result.exit_code == 0, path
        text = result.output.replace("\n", " ")
        assert not RELATIVE_DOC.findall(text.replace(DOCS, "")), (path, text)
        linked += text.count(DOCS)
    assert linked >= 3  # the top help, hook and emulator point at their pages


def _messages() -> Iterator[tuple[Path, int, str]]:
    """Every string in the package's code that is not a docstring or comment."""
    for path in sorted((ROOT / "tako_gha").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                      if isinstance(node, (ast.Module, ast.FunctionDef, ast.ClassDef,
                                           ast.AsyncFunctionDef))
                      and node.body and isinstance(node.body[0], ast.Expr)
                      and isinstance(node.body[0].value, ast.Constant)}
        for node in ast.walk(tree):
            if (isinstance(node, ast.Constant) and isinstance(node.value, str)
                    and id(node) not in docstrings):
                yield path, node.lineno, node.value


def test_messages_point_at_docs_by_url() -> None:
    relative = [(str(p.relative_to(ROOT)), line, RELATIVE_DOC.findall(text))
                for p, line, text in _messages() if RELATIVE_DOC.findall(text)]
    assert relative == []
    schema = (ROOT / "tako_gha" / "core" / "tako.schema.json").read_text(encoding="utf-8")
    assert not RELATIVE_DOC.findall(schema.replace(DOCS, ""))


def test_the_docs_url_is_the_projects() -> None:
    urls = PYPROJECT["project"]["urls"]
    assert urls["Source"] == REPOSITORY
    assert DOCS.replace("/blob/", "/tree/").rstrip("/") == urls["Documentation"]
    for page in re.findall(r"docs/([\w.-]+\.md)", (ROOT / "README.md").read_text()):
        assert (ROOT / "docs" / page).is_file(), page


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The sdist and wheel of this checkout (python -m build, no network)."""
    out = tmp_path_factory.mktemp("dist")
    proc = subprocess.run([sys.executable, "-m", "build", "--no-isolation", "--outdir",
                           str(out), str(ROOT)], capture_output=True, text=True,
                          timeout=240, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    (sdist,) = out.glob("*.tar.gz")
    (wheel,) = out.glob("*.whl")
    return sdist, wheel


def _tracked(*paths: str) -> set[str]:
    listed = subprocess.run(["git", "ls-files", "--", *paths], cwd=ROOT, capture_output=True,
                            text=True, check=True).stdout.split()
    return {p for p in listed if "__pycache__" not in p}


def test_the_wheel_holds_the_package_and_its_data(built: tuple[Path, Path]) -> None:
    _, wheel = built
    names = set(zipfile.ZipFile(wheel).namelist())
    package = {p for p in _tracked("tako_gha") if not p.endswith(".pyc")}
    assert package <= names, sorted(package - names)[:10]
    assert "tako_gha/surfaces/pre-push" in names  # what `hook install` writes
    assert "tako_gha/core/tako.schema.json" in names
    assert any(n.startswith("tako_gha/demo_world/acme/auth/dot-github/") for n in names)
    info = f"tako_gha-{__version__}.dist-info/"
    stray = {n for n in names - package if not n.startswith(info)}
    assert stray == set()  # nothing but the package and its metadata
    assert zipfile.ZipFile(wheel).read("tako_gha/surfaces/pre-push") == \
        (ROOT / "hooks" / "pre-push").read_bytes()


def test_the_wheel_metadata_stands_alone(built: tuple[Path, Path]) -> None:
    _, wheel = built
    with zipfile.ZipFile(wheel) as archive:
        meta = email.message_from_bytes(
            archive.read(f"tako_gha-{__version__}.dist-info/METADATA"))
    urls = dict(u.split(", ", 1) for u in meta.get_all("Project-URL") or [])
    assert {"Homepage", "Documentation", "Source", "Issues", "Changelog"} <= set(urls)
    assert all(u.startswith("https://") for u in urls.values())
    classifiers = meta.get_all("Classifier") or []
    assert "Programming Language :: Python :: 3" in classifiers
    assert any(c.startswith("Development Status :: ") for c in classifiers)
    assert "Environment :: Console" in classifiers
    assert meta["License-Expression"] == "MIT"
    # the long description (the README) links only absolutely: it is shown on the index
    description = meta.get_payload()
    assert description.strip().startswith("# tako-gha")
    links = re.findall(r"\]\(([^)\s]+)\)", description)
    assert links and all(link.startswith(("https://", "#")) for link in links), \
        [link for link in links if not link.startswith(("https://", "#"))]
    assert "cp hooks/pre-push" not in description
    assert "tako-gha hook install" in description


def test_the_sdist_holds_what_builds_the_wheel_and_nothing_stray(
        built: tuple[Path, Path]) -> None:
    sdist, _ = built
    top = f"tako_gha-{__version__}/"
    with tarfile.open(sdist) as archive:
        files = {m.name[len(top):] for m in archive.getmembers() if m.isfile()}
    package = _tracked("tako_gha")
    assert package <= files, sorted(package - files)[:10]
    wanted = {"pyproject.toml", "README.md", "LICENSE", "CHANGELOG.md", "MANIFEST.in",
              "hooks/pre-push"}
    assert wanted <= files
    generated = {"PKG-INFO", "setup.cfg"}  # written by the build backend
    stray = {f for f in files - package - wanted - generated
             if not f.startswith("tako_gha.egg-info/")}
    assert stray == set()  # no tests, benchmarks, docs or CI files
