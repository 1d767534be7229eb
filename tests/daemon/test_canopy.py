"""CanopyCheck-style randomized test of the planner against an in-memory disk and server.

Each case builds a small synced tree, lets a "user" mutate the disk and "another device" mutate the server at
random (creates, edits, deletes, moves of files and folders, file <-> folder swaps, chmod, touch, symlinks,
case twins), then runs plan -> execute rounds where actions run in random order and some fail (a failed action
changes nothing). It checks what a user relies on: planning terminates, both sides end equal, and no content is
lost — every content that existed anywhere at the start is still on disk, on the server, or among the server's
old revisions, and every content that only one side had seen is still live at the end.
"""

from __future__ import annotations

import contextlib
import os
import random
from datetime import datetime

import pytest
from canopy_world import Disk, Node, Refused, Server, World, parents, under
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ferrysync.daemon.local.names import Profile, find_clashes
from ferrysync.daemon.model import Kind
from ferrysync.daemon.planner import NO_THRESHOLD, Defer, KeepOut, PlanContext, merge_base, needs_work, plan_batch

MAX_ROUNDS = 40
DISK_OPS = ["create", "edit", "delete", "move", "move", "mkdir", "swap", "chmod", "touch", "link"]
NAMES = ["a", "b", "c", "d.txt", "e.tar.gz", ".f"]
NAMES_CI = [*NAMES, "A", "B", "D.TXT"]  # case twins, for the case-insensitive disk
WHEN = datetime(2026, 11, 26, 14, 25, 1)


# ---- scenario generation ----


def random_path(rng: random.Random, names: list[str], depth: int = 3) -> str:
    return "/".join(rng.choice(names) for _ in range(rng.randint(1, depth)))


def build_tree(rng: random.Random, n: int, tag: str, names: list[str]) -> dict[str, tuple[Kind, str]]:
    """A consistent small tree: path -> (kind, content); parents are folders."""
    tree: dict[str, tuple[Kind, str]] = {}
    for i in range(n):
        path = random_path(rng, names)
        if any(tree.get(p, (Kind.DIR, ""))[0] is not Kind.DIR for p in parents(path)) or path in tree:
            continue
        if any(p.startswith(path + "/") for p in tree):
            continue
        for p in parents(path):
            tree[p] = (Kind.DIR, "")
        if rng.random() < 0.15:
            tree[path] = (Kind.DIR, "")
        else:
            tree[path] = (Kind.FILE, rng.choice([f"{tag}{i}", f"{tag}{i}", "shared"]))
    return tree


def seed_world(rng: random.Random, report_inodes: bool = True, profile: Profile = Profile.LINUX) -> World:
    w = World(Disk(report_inodes=report_inodes, profile=profile))
    names = NAMES_CI if profile.case_insensitive else NAMES
    if rng.random() < 0.75:  # steady state: both sides synced
        base = build_tree(rng, rng.randint(2, 9), "base", names)
        for twin in find_clashes(sorted(base), profile):  # a synced tree held both names on this disk
            del base[twin]
        local, remote = base, base
    else:  # first sync of two folders that grew apart
        base = {}
        local = build_tree(rng, rng.randint(0, 6), "L", names)
        remote = build_tree(rng, rng.randint(0, 6), "R", names) if rng.random() < 0.7 else dict(local)
    for path, (kind, content) in sorted(local.items()):
        with contextlib.suppress(Refused):  # the user could not create a case twin on this disk either
            if kind is Kind.DIR:
                w.disk.mkdir(path)
            else:
                w.disk.write(path, content)
    for path, (kind, content) in sorted(remote.items()):
        if kind is Kind.DIR:
            w.server.mkdir(path, None)
        else:
            w.server.put(path, content, False, 0, None)
    for path in base:
        loc, rem = w.disk.row(path), w.server.row(path)
        assert loc is not None
        assert rem is not None
        w.synced[path] = merge_base(loc, rem)
    return w


def mutate_disk(rng: random.Random, d: Disk, n: int, names: list[str]) -> None:
    for i in range(n):
        paths = sorted(d.nodes)
        files = [p for p in paths if d.nodes[p].kind is Kind.FILE]
        op = rng.choice(DISK_OPS)
        target = random_path(rng, names)
        try:
            if op == "create" and target not in d.nodes:
                d.write(target, rng.choice([f"new-local-{i}", "shared", f"new-local-{i}"]))
            elif op == "edit" and files:
                p = rng.choice(files)
                d.write(p, f"edit-local-{i}-{p}", d.nodes[p].executable)
            elif op == "delete" and paths:
                d.remove_tree(rng.choice(paths))
            elif op == "move" and paths:
                d.move(rng.choice(paths), target)
            elif op == "mkdir":
                d.mkdir(target)
            elif op == "swap" and paths:  # a file becomes a folder (with content) or a folder a file
                p = rng.choice(paths)
                was_file = d.nodes[p].kind is Kind.FILE
                d.remove_tree(p)
                d.write(f"{p}/inner" if was_file else p, f"swap-local-{i}")
            elif op == "chmod" and files:
                p = rng.choice(files)
                d.nodes[p].executable = not d.nodes[p].executable
            elif op == "touch" and files:
                d.nodes[rng.choice(files)].mtime = d.tick()
            elif op == "link" and target not in d.nodes:
                d.make_parents(target)
                d.nodes[target] = Node(Kind.SYMLINK, inode=d.tick())
        except Refused:
            pass


def mutate_server(rng: random.Random, s: Server, n: int, names: list[str]) -> None:
    for i in range(n):
        paths = sorted(s.live)
        files = [p for p in paths if s.live[p].kind is Kind.FILE]
        op = rng.choice(["create", "edit", "delete", "move", "move", "mkdir", "swap", "chmod", "touch"])
        target = random_path(rng, names)
        try:
            if op == "create":
                s.put(target, rng.choice([f"new-remote-{i}", "shared"]), False, 0, None)
            elif op == "edit" and files:
                p = rng.choice(files)
                s.put(p, f"edit-remote-{i}-{p}", s.live[p].executable, 0, s.live[p].rev)
            elif op in ("delete", "swap") and paths:
                p = rng.choice(paths)
                was_file = s.live[p].kind is Kind.FILE
                for q in sorted((q for q in s.live if under(q, p)), key=lambda q: -q.count("/")):
                    s.delete(q, s.live[q].rev)
                if op == "swap":
                    s.put(f"{p}/inner" if was_file else p, f"swap-remote-{i}", False, 0, None)
            elif op == "move" and paths:
                p = rng.choice(paths)
                s.move(p, target, s.live[p].rev)
            elif op == "mkdir":
                s.mkdir(target, None)
            elif op in ("chmod", "touch") and files:
                p = rng.choice(files)
                e = s.live[p]
                s.put(p, e.content, e.executable != (op == "chmod"), e.mtime + 1, e.rev)
        except Refused:
            pass


# ---- the property ----


def converge(w: World, rng: random.Random, fail_rate: float) -> set[str]:
    """Plan and execute until nothing is left; return the paths kept out of the disk at the end."""
    profile = w.disk.profile
    for _ in range(MAX_ROUNDS):
        ctx = PlanContext(host="laptop", when=WHEN, profile=profile,
                          exists=lambda p: w.disk.exists(p) or p in w.server.live)
        files = sum(1 for n in w.disk.nodes.values() if n.kind is Kind.FILE)
        plan = plan_batch(w.rows(), ctx, files, NO_THRESHOLD)
        assert plan.held_deletions == []
        work = [a for a in plan.actions if needs_work(a)]
        if not work:
            assert not [a for a in plan.actions if isinstance(a, Defer)], plan.actions
            return {a.path for a in plan.actions if isinstance(a, KeepOut)}
        if rng.random() < 0.5:
            rng.shuffle(work)
        for a in work:
            if rng.random() < fail_rate:
                continue
            with contextlib.suppress(Refused):
                w.apply(a)
    raise AssertionError(f"no convergence after {MAX_ROUNDS} rounds; last plan: {work}")


def check_case(seed: int, report_inodes: bool = True, profile: Profile = Profile.LINUX) -> None:
    rng = random.Random(seed)
    w = seed_world(rng, report_inodes, profile)
    names = NAMES_CI if profile.case_insensitive else NAMES
    synced_contents = {r.content_hash[2:] for r in w.synced.values() if r.content_hash}
    mutate_disk(rng, w.disk, rng.randint(0, 6), names)
    mutate_server(rng, w.server, rng.randint(0, 6), names)
    start_local, start_remote = w.contents()
    kept_out = converge(w, rng, fail_rate=rng.choice([0.0, 0.2, 0.4]))

    # A local symlink is skipped: it stays, and a server entry under its name stays on the server only.
    # So does a server name this disk holds in another spelling (kept out, never renamed or deleted).
    links = [p for p, n in w.disk.nodes.items() if n.kind is Kind.SYMLINK]
    shadowed = {p for p in w.server.live if any(under(p, link) for link in links)} | kept_out
    assert kept_out <= set(w.server.live)
    local_view = {p: (n.kind, n.content, n.executable) for p, n in w.disk.nodes.items() if p not in links}
    remote_view = {p: (e.kind, e.content, e.executable) for p, e in w.server.live.items()
                   if p not in shadowed}
    assert local_view == remote_view
    end_local, _ = w.contents()
    assert (start_local | start_remote | synced_contents) <= end_local | w.server.revisions
    # Content only one side had seen when the rounds began can't have been deleted on purpose: still live.
    unseen = (start_local | start_remote) - synced_contents
    live = end_local | {w.server.live[p].content for p in shadowed}
    assert unseen <= live, unseen - live
    # Symlinks were left alone.
    assert all(row.kind is not Kind.SYMLINK for row in w.synced.values())


EXAMPLES = int(os.environ.get("FERRY_CANOPY_EXAMPLES", "1500"))
FAST = settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow])
SOAK = settings(max_examples=EXAMPLES * 20, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(st.integers(min_value=0, max_value=2**32))
def test_random_trees_converge_without_losing_content(seed: int) -> None:
    check_case(seed)


@FAST
@given(st.integers(min_value=0, max_value=2**32))
def test_random_trees_converge_when_inodes_are_unknown(seed: int) -> None:
    check_case(seed, report_inodes=False)


@FAST
@given(st.integers(min_value=0, max_value=2**32))
def test_random_trees_converge_on_a_case_insensitive_disk(seed: int) -> None:
    check_case(seed, profile=Profile.MACOS)


@pytest.mark.soak
@pytest.mark.timeout(3600)
@pytest.mark.skipif(os.environ.get("FERRY_SOAK") != "1", reason="soak test: set FERRY_SOAK=1")
@SOAK
@given(st.integers(min_value=0, max_value=2**32), st.booleans(), st.sampled_from([Profile.LINUX, Profile.MACOS]))
def test_soak_random_trees(seed: int, report_inodes: bool, profile: Profile) -> None:
    check_case(seed, report_inodes, profile)
