"""The workload-identity-federation interop suite, run by ../client.py (its entry point and
step order). Written from profiles/workload-identity-federation.md alone; § numbers refer to it.

Modules, each importing only the ones above it:
  common          constants, log(), b64u(), now(), the shared state `W` and the HTTP session
  report          check() (PASS/FAIL lines and the counts) and the recorded error answers
  minting         keys, JWS by hand and with PyJWT, the assertion claim builders, DPoP proofs,
                  token-request HTTPSig headers
  issuers         the loopback HTTP servers (Site) and the test issuers they play
  token_endpoint  requests to the AS's token endpoint and the expectations on its answers
  as_setup        the AS configuration writer, process management, setup()
  checks_request  metadata, the presets, request form, assertion structure and typ, no client
                  authentication, DPoP/HTTPSig binding
  checks_keys     key rotation, algorithms, key selection, discovery and fetch guard, key-set cache
  checks_claims   aud, times, sub, lifetimes, rules, resources and scopes, §7.3 order,
                  error descriptions
  checks_startup  configurations given to short-lived `mcp-auth as` processes (WIF-AS-22, §6.3)
  wif_client      the §7.7 client (WifClient)
  checks_client   WIF-C-* against a mock AS and RS, and end to end
  checks_vectors  Appendix B, offline
"""
