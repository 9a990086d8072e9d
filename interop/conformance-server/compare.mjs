// Compares two result directories of `conformance server -o DIR` (one run straight against
// the upstream, one through hop -> gateway -> upstream), scenario by scenario and check by
// check, and prints one line per scenario:
//
//   PASS name (direct: 5/5, gateway: 5/5)          same outcome for every check, no failure
//   FAIL name: direct 5/5 vs gateway 4/5: <checks that differ>
//   XFAIL name: <why the upstream fails it directly> (same outcome through the gateway | ...)
//
// then `compare: N passed, M failed, X xfail` as the last line. A check's outcome is its
// status (SUCCESS, FAILURE, WARNING, SKIPPED); INFO entries are trace records, not checks,
// and are not compared. Checks are matched by id (an id may occur more than once: its
// statuses are compared as a sorted list). "5/5" counts SUCCESS out of all compared checks.
//
// usage: node compare.mjs <direct-dir> <gateway-dir> [label-suffix]
import { readdirSync, readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';

const [directDir, gatewayDir, suffix = ''] = process.argv.slice(2);
if (!directDir || !gatewayDir) {
    console.error('usage: node compare.mjs <direct-dir> <gateway-dir> [label-suffix]');
    process.exit(2);
}

// `server-<scenario>-<ISO timestamp with - for :>` -> scenario
function load(dir) {
    const out = new Map();
    if (!existsSync(dir)) return out;
    for (const entry of readdirSync(dir)) {
        const m = /^server-(.+)-\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d-\d+Z$/.exec(entry);
        const file = join(dir, entry, 'checks.json');
        if (!m || !existsSync(file)) continue;
        let checks;
        try {
            checks = JSON.parse(readFileSync(file, 'utf8'));
        } catch (e) {
            checks = [{ id: 'checks.json-unreadable', status: 'FAILURE', errorMessage: e.message }];
        }
        out.set(m[1], checks.filter(c => c.status !== 'INFO'));
    }
    return out;
}

const byId = checks => {
    const m = new Map();
    for (const c of checks) m.set(c.id, [...(m.get(c.id) ?? []), c.status].sort());
    return m;
};
const score = checks => `${checks.filter(c => c.status === 'SUCCESS').length}/${checks.length}`;
const extras = checks => {
    const w = checks.filter(c => c.status === 'WARNING').length;
    const s = checks.filter(c => c.status === 'SKIPPED').length;
    return [w && `${w} warning${w > 1 ? 's' : ''}`, s && `${s} skipped`].filter(Boolean).join(', ');
};
const short = (s, n = 140) => {
    const t = String(s ?? '').replace(/\s+/g, ' ').trim();
    return t.length > n ? `${t.slice(0, n - 1)}…` : t;
};

function differences(direct, gateway) {
    const d = byId(direct);
    const g = byId(gateway);
    const diffs = [];
    for (const id of new Set([...d.keys(), ...g.keys()])) {
        const a = (d.get(id) ?? ['absent']).join('+');
        const b = (g.get(id) ?? ['absent']).join('+');
        if (a === b) continue;
        const why = gateway.find(c => c.id === id && c.status !== 'SUCCESS')?.errorMessage;
        diffs.push(`${id} ${a} -> ${b}${why ? ` (${short(why, 200)})` : ''}`);
    }
    return diffs;
}

const direct = load(directDir);
const gateway = load(gatewayDir);
let passed = 0;
let failed = 0;
let xfail = 0;
for (const name of [...new Set([...direct.keys(), ...gateway.keys()])].sort()) {
    const label = `${name}${suffix}`;
    const a = direct.get(name);
    const b = gateway.get(name);
    if (!a || !b) {
        console.log(`FAIL ${label}: no results ${!a ? 'from the direct run' : 'through the gateway'}`);
        failed++;
        continue;
    }
    const diffs = differences(a, b);
    const directFailures = a.filter(c => c.status === 'FAILURE');
    const counts = `direct: ${score(a)}${extras(a) ? `, ${extras(a)}` : ''}, gateway: ${score(b)}${extras(b) ? `, ${extras(b)}` : ''}`;
    if (directFailures.length) {
        xfail++;
        const first = directFailures[0];
        const reason = `the upstream fails ${directFailures.length} of ${a.length} checks directly (first: ${first.id}: ${short(first.errorMessage, 120)})`;
        const same = diffs.length ? `through the gateway ${diffs.length} check(s) differ: ${diffs.join('; ')}` : 'same outcome for every check through the gateway';
        console.log(`XFAIL ${label}: ${reason}; ${same} (${counts})`);
    } else if (diffs.length) {
        failed++;
        console.log(`FAIL ${label}: direct ${score(a)} vs gateway ${score(b)}: ${diffs.join('; ')}`);
    } else {
        passed++;
        console.log(`PASS ${label} (${counts})`);
    }
}
console.log(`compare: ${passed} passed, ${failed} failed, ${xfail} xfail`);
