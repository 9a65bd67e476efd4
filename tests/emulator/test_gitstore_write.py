"""gitstore.write_tree: a tree written only where git would write it (the checkouts'
one writer), tried with in-memory trees."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tako_gha.emulator import gitstore
from tako_gha.emulator.gitstore import MODE_LINK, MODE_TREE, TreeEntry, UnsafeTree

Trees = dict[str, list[TreeEntry]]


def _write(trees: Trees, blobs: dict[str, bytes], dest: Path) -> None:
    gitstore.write_tree("root", dest, trees.__getitem__, blobs.__getitem__)


def test_files_dirs_exec_bits_and_inside_links_are_written(tmp_path: Path) -> None:
    trees = {"root": [TreeEntry("100644", "a.txt", "b1"), TreeEntry("100755", "run", "b2"),
                      TreeEntry(MODE_TREE, "d", "t1"), TreeEntry(MODE_LINK, "l", "b3"),
                      TreeEntry("160000", "sub", "c1")],
             "t1": [TreeEntry(MODE_LINK, "up", "b4")]}
    blobs = {"b1": b"A", "b2": b"#!/bin/sh\n", "b3": b"a.txt", "b4": b"../a.txt"}
    _write(trees, blobs, tmp_path)
    assert (tmp_path / "a.txt").read_bytes() == b"A"
    assert os.access(tmp_path / "run", os.X_OK) and not os.access(tmp_path / "a.txt", os.X_OK)
    assert (tmp_path / "l").read_bytes() == b"A" and (tmp_path / "d" / "up").read_bytes() == b"A"
    assert not (tmp_path / "sub").exists()  # a submodule is not checked out


@pytest.mark.parametrize("name", ["", ".", "..", ".git", ".Git", "a/b", "/abs", "a\\b",
                                  "x\x00y"])
def test_names_git_would_not_check_out_are_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(UnsafeTree, match="tree entry"):
        _write({"root": [TreeEntry("100644", name, "b")]}, {"b": b"x"}, tmp_path / "w")
    assert gitstore.bad_entry_name(name) is not None


def test_a_link_out_is_removed_and_refused_after_the_whole_tree(tmp_path: Path) -> None:
    dest = tmp_path / "w"
    dest.mkdir()
    trees = {"root": [TreeEntry(MODE_LINK, "out", "b1"), TreeEntry(MODE_LINK, "abs", "b2"),
                      TreeEntry("100644", "keep", "b3")]}
    with pytest.raises(UnsafeTree, match=r"'out' leads outside the checkout \(and 1 more\)"):
        _write(trees, {"b1": b"../..", "b2": b"/etc", "b3": b"k"}, dest)
    assert sorted(p.name for p in dest.iterdir()) == ["keep"]


def test_a_repeated_name_never_writes_through_a_link(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    dest = tmp_path / "w"
    dest.mkdir()
    trees = {"root": [TreeEntry(MODE_LINK, "d", "b1"), TreeEntry(MODE_TREE, "d", "t1")],
             "t1": [TreeEntry("100644", "planted", "b2")]}
    with pytest.raises(UnsafeTree, match="'d': the name is repeated"):
        _write(trees, {"b1": str(outside).encode(), "b2": b"x"}, dest)
    assert list(outside.iterdir()) == []


def test_a_tree_reusing_one_subtree_is_bounded(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gitstore, "MAX_CHECKOUT_ENTRIES", 50)
    fan = [TreeEntry(MODE_TREE, f"d{i}", "t") for i in range(10)]
    with pytest.raises(UnsafeTree, match="more than 50 entries"):
        _write({"root": fan, "t": fan}, {}, tmp_path)
