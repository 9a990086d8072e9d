"""Expected results of `mcp-auth conformance server` against the peers (run.sh, README.md).

expected.json: {"targets": {TARGET: {REVISION: {CHECK_ID: "pass"|"fail"|"skip"} or a string saying
why that revision is not run (the SDK does not support it)}}}. Results: RESULTS/TARGET@REVISION.json,
the checker's --json output (missing when it could not run; RESULTS/TARGET@REVISION.stderr then).
A requirement checked by several probes (DPOP-AS-3, ...) has one CHECK_ID per probe, in the checker's
order: ID for the first, ID#2, ID#3, ... for the others.

usage: compare.py plan EXPECTED             lines `TARGET REVISION` to run
       compare.py check EXPECTED RESULTS    PASS/FAIL per target and revision, `interop: N passed, M failed`
       compare.py update EXPECTED RESULTS   rewrite EXPECTED's result maps from RESULTS (review the diff)
       compare.py render EXPECTED RESULTS   the Markdown tables of docs/conformance-results.md
"""

import json
import re
import sys
from pathlib import Path


def load(path):
    return json.loads(Path(path).read_text())


def results(dirname, target, revision):
    """The checker's results as (ID -> outcome, ID -> evidence), or None when it did not run."""
    path = Path(dirname) / f"{target}@{revision}.json"
    if not path.is_file():
        return None
    data = load(path)
    outcomes, evidence, requirements, seen = {}, {}, {}, {}
    for r in data["results"]:
        # A requirement with several checks (one per probe): the n-th is `ID#n` from the second on.
        seen[r["id"]] = seen.get(r["id"], 0) + 1
        key = r["id"] if seen[r["id"]] == 1 else f"{r['id']}#{seen[r['id']]}"
        outcomes[key] = r["result"]
        evidence[key] = r.get("evidence", "")
        requirements[key] = r.get("requirement", "")
        if r["result"] == "fail":  # a failure's evidence is what came back; say what was asked too
            evidence[key] = f"{r.get('requirement', '')}; got: {r.get('evidence', '')}"
    return outcomes, evidence, requirements


def counts(outcomes):
    return ", ".join(f"{sum(1 for v in outcomes.values() if v == k)} {k}" for k in ("pass", "fail", "skip"))


def plan(expected):
    for target, revisions in expected["targets"].items():
        for revision, want in revisions.items():
            if isinstance(want, dict):
                print(target, revision)


def check(expected, dirname):
    passed = failed = 0
    for target, revisions in expected["targets"].items():
        for revision, want in revisions.items():
            label = f"{target} @ {revision}"
            if not isinstance(want, dict):
                print(f"SKIP {label}: {want}")
                continue
            got = results(dirname, target, revision)
            if got is None:
                stderr = Path(dirname) / f"{target}@{revision}.stderr"
                tail = stderr.read_text().strip().splitlines()[-3:] if stderr.is_file() else []
                print(f"FAIL {label}: the checker did not run: {' | '.join(tail) or 'no output'}")
                failed += 1
                continue
            outcomes, evidence, _ = got
            diffs = []
            for check_id in sorted(set(want) | set(outcomes), key=sort_key):
                w, g = want.get(check_id, "absent"), outcomes.get(check_id, "absent")
                if w != g:
                    diffs.append(f"{check_id}: expected {w}, got {g} ({evidence.get(check_id, '')[:160]})")
            if diffs:
                print(f"FAIL {label}: {len(diffs)} check(s) changed; if intended, run with CONFORMANCE_PEERS_UPDATE=1 and update docs/conformance-results.md")
                for line in diffs:
                    print(f"#   {line}")
                failed += 1
            else:
                fails = [k for k, v in outcomes.items() if v == "fail"]
                print(f"PASS {label}: as expected ({counts(outcomes)}{'; findings: ' + ' '.join(fails) if fails else ''})")
                passed += 1
    print(f"interop: {passed} passed, {failed} failed")
    return 1 if failed or passed == 0 else 0


def update(expected, path, dirname):
    for target, revisions in expected["targets"].items():
        for revision, want in revisions.items():
            got = results(dirname, target, revision) if isinstance(want, dict) else None
            if got is not None:
                revisions[revision] = dict(sorted(got[0].items(), key=lambda kv: sort_key(kv[0])))
    Path(path).write_text(json.dumps(expected, indent=2) + "\n")
    print(f"updated {path}", file=sys.stderr)


def sort_key(check_id):
    base, _, n = check_id.partition("#")
    m = re.match(r"(.*?)(\d+)$", base)
    return (m.group(1), int(m.group(2)), int(n or 1)) if m else (base, 0, int(n or 1))


def render(expected, dirname):
    """One table per target: every check ID, its outcome at each revision, evidence for FAIL/SKIP."""
    for target, revisions in expected["targets"].items():
        print(f"#### `{target}`\n")
        ran = {rev: results(dirname, target, rev) for rev, want in revisions.items() if isinstance(want, dict)}
        for rev, want in revisions.items():
            if not isinstance(want, dict):
                print(f"At {rev}: not run, {want}.\n")
        ids = sorted({i for got in ran.values() if got for i in got[0]}, key=sort_key)
        revs = [rev for rev in ran if ran[rev]]
        print("| check | " + " | ".join(revs) + " | evidence (FAIL and SKIP) |")
        print("|---|" + "---|" * len(revs) + "---|")
        for check_id in ids:
            said = ""
            if "#" in check_id or f"{check_id}#2" in ids:  # one of several probes: say which
                said = next((got[2][check_id] for got in ran.values() if got and check_id in got[2]), "")
            cells, notes = [], []
            for rev in revs:
                outcome = ran[rev][0].get(check_id, "-")
                cells.append(outcome.upper())
                if outcome in ("fail", "skip"):
                    text = ran[rev][1].get(check_id, "")
                    if said and text.startswith(f"{said}; got: "):  # the row already says what was asked
                        text = "got: " + text[len(said) + len("; got: "):]
                    text = re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:PORT", text)
                    notes.append((rev, text.replace("|", "\\|")[:240]))
            if len(notes) == len(revs) and len({text for _, text in notes}) == 1:
                notes = [notes[0][1]]
            else:
                notes = [f"{rev}: {text}" for rev, text in notes]
            name = f"{check_id}: {said}".replace("|", "\\|") if said else check_id
            print(f"| {name} | " + " | ".join(cells) + f" | {'<br>'.join(notes)} |")
        print()


def main(argv):
    if len(argv) < 3 or argv[1] not in ("plan", "check", "update", "render"):
        sys.exit(__doc__)
    expected = load(argv[2])
    if argv[1] == "plan":
        plan(expected)
        return 0
    if len(argv) != 4:
        sys.exit(__doc__)
    if argv[1] == "check":
        return check(expected, argv[3])
    if argv[1] == "update":
        update(expected, argv[2], argv[3])
        return 0
    render(expected, argv[3])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
