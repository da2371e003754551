#!/usr/bin/env python3
"""Results of docker-py's own suite (scripts/peer.sh): reads pytest's JUnit file, compares it with
the expected-failure list (scripts/peer-expected.txt), rewrites that list, prints failures.

    peer_results.py compare JUNIT [--expected FILE] [--seconds S]
    peer_results.py update-expected JUNIT [--expected FILE]
    peer_results.py failures JUNIT [--only-unlisted] [--expected FILE]

The list has one line per test expected to fail: its pytest node id, spaces, the reason. A reason
is `offline`, `swarm`, `host` or `berth: <cause> (issue N)`; `#` starts a comment line.
"""
import argparse
import os
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_EXPECTED = os.path.join(HERE, "peer-expected.txt")
TODO = "berth: TODO"
# dockerd 20.10 on this kind of machine, same images, same command (../shared/peer/README.md).
DOCKERD_PASSED, DOCKERD_PASSED_NO_SWARM = 359, 243
CATEGORY_ORDER = ["berth", "offline", "host", "swarm"]

HEADER = """\
# docker-py 7.1.0's integration tests (../shared/peer/) that fail on Berth today, as run by
# scripts/peer.sh. One test a line: its pytest node id, then why it fails:
#   offline        needs the internet (pulls from Docker Hub, plugin installs)
#   swarm          swarm mode, services, secrets, configs, nodes: out of Berth's scope (but its
#                  routes must answer as a dockerd outside a swarm does, 503 "This node is not a
#                  swarm manager": docker-py's network tests rely on it in their teardown)
#   host           what this machine or this way of running cannot do, on dockerd too (there:
#                  `/` not a shared mount, contexts; here: websocket attach over unix://)
#   berth: ...     a Berth gap, with the issue that owns it ("flaky": fails in some runs only,
#                  listed so that it never fails the test command; a pass is printed, never asks for removal)
# A failing test that is not listed fails the test command; a listed test that passes is reported
# ("now passes: remove it from the list"). Rewrite this file from a run, keeping the reasons and
# marking new failures "berth: TODO":   bash scripts/peer.sh --update-expected
#   (or from a JUnit file: python3 scripts/peer_results.py update-expected target/peer/junit.xml)
"""


@dataclass
class Case:
    node_id: str
    outcome: str  # passed | failed | skipped
    message: str = ""
    details: list = field(default_factory=list)


def node_id(classname: str, name: str) -> str:
    """pytest's node id from a JUnit classname (`tests.integration.mod_test.Class`) and name."""
    parts = classname.split(".")
    # The module is the first part named like a test file; what follows is the class.
    for i, p in enumerate(parts):
        if p.endswith("_test") or p.startswith("test_"):
            path = "/".join(parts[: i + 1]) + ".py"
            return "::".join([path, *parts[i + 1:], name])
    return "::".join(["/".join(parts) + ".py", name])


def read_junit(path: str) -> dict:
    """node id -> Case; a test with a failure or error in any phase is failed."""
    cases = {}
    for tc in ET.parse(path).getroot().iter("testcase"):
        nid = node_id(tc.get("classname", ""), tc.get("name", ""))
        case = cases.setdefault(nid, Case(nid, "passed"))
        bad = tc.findall("failure") + tc.findall("error")
        for el in bad:
            case.outcome = "failed"
            case.details.append(f"{el.tag}: {(el.get('message') or '').strip()}\n{el.text or ''}")
            case.message = case.message or (el.get("message") or "").strip()
        if not bad and tc.find("skipped") is not None and case.outcome == "passed":
            case.outcome = "skipped"
    return cases


def read_expected(path: str) -> dict:
    """node id -> reason."""
    out = {}
    if not os.path.exists(path):
        return out
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            nid, _, reason = line.partition(" ")
            reason = reason.strip()
            if not reason:
                sys.exit(f"{path}:{n}: no reason given for {nid}")
            out[nid] = reason
    return out


def category(reason: str) -> str:
    return reason.split(":", 1)[0].strip()


def write_expected(path: str, expected: dict) -> None:
    """Grouped by reason: categories in CATEGORY_ORDER, TODOs first, then the biggest groups."""
    size = {}
    for reason in expected.values():
        size[reason] = size.get(reason, 0) + 1

    def sort_key(item):
        nid, reason = item
        cat = category(reason)
        rank = CATEGORY_ORDER.index(cat) if cat in CATEGORY_ORDER else len(CATEGORY_ORDER)
        return (rank, reason != TODO, -size[reason], reason, nid)

    lines = [HEADER]
    last = None
    for nid, reason in sorted(expected.items(), key=sort_key):
        if reason != last:
            lines.append(f"\n# {reason}: {size[reason]}\n")
            last = reason
        lines.append(f"{nid}  {reason}\n")
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.writelines(lines)
    os.replace(tmp, path)


def shown(path: str) -> str:
    rel = os.path.relpath(path)
    return path if rel.startswith("..") else rel


def short(text: str, width: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 3] + "..."


def print_case(case: Case, reason: str = "") -> None:
    print(f"--- {case.node_id}" + (f"  [{reason}]" if reason else ""))
    print("    " + short(case.message or "(no message)", 400))
    # The last lines of the traceback say where (pytest's --tb=short frames).
    tail = [l for l in "\n".join(case.details).splitlines() if l.strip()][-6:]
    for l in tail:
        print("      " + l[:300])


def counts_by_category(expected: dict, ids) -> str:
    tally = {}
    for nid in ids:
        cat = category(expected[nid])
        tally[cat] = tally.get(cat, 0) + 1
    order = sorted(tally, key=lambda c: CATEGORY_ORDER.index(c) if c in CATEGORY_ORDER else 99)
    return ", ".join(f"{tally[c]} {c}" for c in order)


def compare(args) -> int:
    cases = read_junit(args.junit)
    expected = read_expected(args.expected)
    failed = [c for c in cases.values() if c.outcome == "failed"]
    passed = [c for c in cases.values() if c.outcome == "passed"]
    skipped = [c for c in cases.values() if c.outcome == "skipped"]
    unexpected = [c for c in failed if c.node_id not in expected]
    xfail = [c.node_id for c in failed if c.node_id in expected]
    now_pass = [c for c in passed if c.node_id in expected]
    flaky_pass = sum(1 for c in now_pass if "flaky" in expected[c.node_id])
    for c in sorted(now_pass, key=lambda c: c.node_id):
        if "flaky" in expected[c.node_id]:
            print(f"passed this time (listed as flaky): {c.node_id}")
        else:
            print(f"now passes: remove it from the list: {c.node_id}  ({expected[c.node_id]})")
    if unexpected:
        print(f"==> {len(unexpected)} docker-py test(s) failed that are not in {shown(args.expected)}:")
        for c in sorted(unexpected, key=lambda c: c.node_id):
            print_case(c)
    secs = f" in {args.seconds}s" if args.seconds else ""
    gaps = sum(1 for nid in xfail if category(expected[nid]) == "berth")
    print(
        f"peer suite summary (docker-py 7.1.0): {len(passed)} passed, {len(failed)} failed"
        f" ({len(xfail)} expected: {counts_by_category(expected, xfail) or 'none'};"
        f" {len(unexpected)} unexpected), {len(now_pass)} unexpected passes ({flaky_pass} of them flaky),"
        f" {len(skipped)} skipped{secs} -- dockerd 20.10 here: {DOCKERD_PASSED} passed,"
        f" {DOCKERD_PASSED_NO_SWARM} of them without swarm; Berth fails {gaps + len(unexpected)} that dockerd"
        f" passes without swarm ('berth:' lines and unlisted failures)"
    )
    if not cases:
        print("peer suite: the JUnit file holds no test")
        return 1
    return 1 if unexpected else 0


def update_expected(args) -> int:
    cases = read_junit(args.junit)
    expected = read_expected(args.expected)
    new = {}
    for nid, reason in expected.items():
        c = cases.get(nid)
        # Kept unless the run shows it passing; tests that did not run (a subset) and flaky ones
        # stay listed.
        if c is None or c.outcome == "failed" or "flaky" in reason:
            new[nid] = reason
    added = [c for c in cases.values() if c.outcome == "failed" and c.node_id not in expected]
    for c in added:
        new[c.node_id] = TODO
    write_expected(args.expected, new)
    removed = len(expected) - (len(new) - len(added))
    print(f"{shown(args.expected)}: {len(new)} tests ({len(added)} added as '{TODO}', {removed} removed)")
    for c in sorted(added, key=lambda c: c.node_id):
        print_case(c, TODO)
    return 0


def failures(args) -> int:
    cases = read_junit(args.junit)
    expected = read_expected(args.expected)
    for c in sorted(cases.values(), key=lambda c: c.node_id):
        if c.outcome == "failed" and not (args.only_unlisted and c.node_id in expected):
            print_case(c, expected.get(c.node_id, ""))
    return 0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    for name in ("compare", "update-expected", "failures"):
        s = sub.add_parser(name)
        s.add_argument("junit")
        s.add_argument("--expected", default=DEFAULT_EXPECTED)
        if name == "compare":
            s.add_argument("--seconds", type=int)
        if name == "failures":
            s.add_argument("--only-unlisted", action="store_true")
    args = p.parse_args()
    try:
        return {"compare": compare, "update-expected": update_expected, "failures": failures}[args.cmd](args)
    except (OSError, ET.ParseError) as e:
        print(f"peer suite: cannot read the results: {e}")
        return 1


if __name__ == "__main__":
    sys.exit(main())
