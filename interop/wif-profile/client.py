#!/usr/bin/env python3
"""Independent black-box client and test suite for profiles/workload-identity-federation.md.

Written from the profile document alone (plus README.md, docs/*.md and `mcp-auth ... --help`);
the project's Rust sources were not read. Section numbers (§) refer to the profile document.

usage: client.py <mcp-auth binary> <workdir>

It plays everything outside the authorization server:
  * platform issuers on loopback (Python http.server): a Kubernetes-shaped issuer with OpenID
    Connect discovery, a GitHub-shaped issuer configured by `jwks_uri`, a SPIFFE bundle endpoint,
    and a "misc" server hosting JWK Sets and discovery documents for the edge cases; every request
    they receive is counted per path;
  * the AS's TOML configuration (Appendix A / §6), then `mcp-auth as` on a free port;
  * assertions minted with PyJWT (never with the project's code);
  * a client of §7.7 (WIF-C-*), run against a mock AS and, end to end, against the real AS with
    `mcp-auth gateway` + `mcp-auth demo-server` as the protected MCP endpoint.

Prints `PASS <name>` / `FAIL <name>: <why>` per check and `interop: N passed, M failed`;
exits 1 when a check failed. INTEROP_VERBOSE=1 prints every token-endpoint answer to stderr.

This file is the entry point and the order of the steps; the code is in the package wif_suite/
beside it (its __init__.py lists the modules).
"""

import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # wif_suite/, whatever PYTHONPATH says

from wif_suite import report  # noqa: E402
from wif_suite.as_setup import setup, stop_procs  # noqa: E402
from wif_suite.checks_claims import (check_aud, check_descriptions, check_entry_numbers, check_order,  # noqa: E402
                                     check_reuse_and_lifetime, check_rules, check_sub, check_times)
from wif_suite.checks_client import check_client  # noqa: E402
from wif_suite.checks_keys import (cache_probe_clamp, check_algorithms, check_cache_expiry,  # noqa: E402
                                   check_discovery_entries, check_keys, check_never_contacted,
                                   check_no_kid_never_refetches, check_outage, check_selection,
                                   rotation_begin, rotation_finish)
from wif_suite.checks_request import (check_binding, check_form, check_metadata, check_no_client,  # noqa: E402
                                      check_structure, check_typ, warmup)
from wif_suite.checks_startup import check_non_bool_when_at_runtime, check_start_refusals  # noqa: E402
from wif_suite.checks_vectors import check_vectors  # noqa: E402
from wif_suite.common import W, log  # noqa: E402
from wif_suite.report import check  # noqa: E402


# =========================================================================== main


def main():
    if len(sys.argv) != 3:
        print("usage: client.py <mcp-auth binary> <workdir>", file=sys.stderr)
        return 2
    binary, workdir = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    os.makedirs(workdir, exist_ok=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(130))
    t0 = time.time()
    try:
        try:
            check_vectors()
        except Exception as e:
            import traceback
            traceback.print_exc(file=sys.stderr)
            check("crash.check_vectors", False, repr(e))
        try:
            setup(binary, workdir)
        except SystemExit as e:
            log(f"client.py: {e}")
            for name in ("as", "gateway", "demo-server"):
                p = os.path.join(workdir, f"{name}.stderr")
                if os.path.exists(p):
                    log(f"--- {p}")
                    log("".join(open(p, errors="replace").readlines()[-20:]))
            return 2
        # The rotation begins early and ends after its 60 s window; the checks between fill it.
        steps = [check_metadata, warmup, rotation_begin, check_form, check_structure, check_typ,
                 check_no_client, check_binding, check_algorithms, check_keys, check_selection,
                 check_aud, check_times, check_entry_numbers, check_sub, check_reuse_and_lifetime,
                 check_rules, check_order, check_discovery_entries, check_outage, check_client,
                 check_start_refusals, check_non_bool_when_at_runtime, rotation_finish,
                 check_no_kid_never_refetches,
                 check_cache_expiry, lambda: cache_probe_clamp(final=True), check_descriptions,
                 check_never_contacted]
        for step in steps:
            try:
                step()
                cache_probe_clamp()
            except Exception as e:
                import traceback
                traceback.print_exc(file=sys.stderr)
                check(f"crash.{getattr(step, '__name__', 'step')}", False, repr(e))
        if W.as_proc.poll() is not None:
            check("setup.as-still-running", False, f"mcp-auth as exited with {W.as_proc.returncode}")
    finally:
        stop_procs()
    log(f"client.py: {time.time() - t0:.0f} s")
    print(f"interop: {report.PASSED} passed, {report.FAILED} failed", flush=True)
    return 1 if report.FAILED else 0


if __name__ == "__main__":
    sys.exit(main())
