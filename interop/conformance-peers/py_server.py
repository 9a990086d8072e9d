"""An MCP server on the official Python SDK (`mcp`), set up the way the SDK documents a resource
server: `MCPServer` with a `TokenVerifier` and `AuthSettings` (issuer, resource_server_url,
required_scopes), served over streamable HTTP (`streamable_http_app()`, which also publishes the
RFC 9728 metadata and puts its URL in the challenge), one demo tool. The verifier is the
deployer's part: here the usual one for JWT access tokens, PyJWT's `PyJWKClient` on the issuer's
`jwks_uri` and `jwt.decode` with the algorithm, issuer and audience (the server's URL) checked.

usage: python3 py_server.py <port> <issuer>       (protected: trusts <issuer>)
       python3 py_server.py <port> --no-auth      (behind mcp-auth gateway)
Prints `listening <url>` when ready. The resource is http://127.0.0.1:<port>/mcp.
"""

import asyncio
import json
import sys
import urllib.request

import jwt
import uvicorn
from mcp.server.auth.provider import AccessToken, TokenVerifier
from mcp.server.auth.settings import AuthSettings
from mcp.server.mcpserver import MCPServer

SCOPES = ["mcp:read"]


class JwtTokenVerifier(TokenVerifier):
    """RFC 9068-style JWT access tokens checked with the issuer's JWKS (PyJWT)."""

    def __init__(self, issuer: str, jwks_uri: str, audience: str):
        self.issuer = issuer
        self.audience = audience
        self.jwks = jwt.PyJWKClient(jwks_uri)

    async def verify_token(self, token: str) -> AccessToken | None:
        try:
            key = await asyncio.to_thread(self.jwks.get_signing_key_from_jwt, token)
            claims = jwt.decode(token, key.key, algorithms=["RS256"], issuer=self.issuer, audience=self.audience)
        except jwt.PyJWTError:
            return None
        return AccessToken(
            token=token,
            client_id=str(claims.get("client_id") or claims.get("sub") or ""),
            scopes=str(claims.get("scope") or "").split(),
            expires_at=claims.get("exp"),
            resource=self.audience,
            subject=claims.get("sub"),
            claims=claims,
        )



def main() -> None:
    if len(sys.argv) != 3:
        sys.exit("usage: py_server.py <port> <issuer>|--no-auth")
    port, issuer = int(sys.argv[1]), sys.argv[2]
    resource = f"http://127.0.0.1:{port}/mcp"
    if issuer == "--no-auth":
        server = MCPServer("conformance-peer-py")
    else:
        with urllib.request.urlopen(f"{issuer}/.well-known/oauth-authorization-server", timeout=5) as answer:
            metadata = json.load(answer)
        server = MCPServer(
            "conformance-peer-py",
            token_verifier=JwtTokenVerifier(metadata["issuer"], metadata["jwks_uri"], resource),
            auth=AuthSettings(
                issuer_url=metadata["issuer"],
                resource_server_url=resource,
                required_scopes=SCOPES,
                validate_token_resource=False,  # the verifier checks `aud` itself
            ),
        )

    @server.tool()
    def echo(text: str) -> str:
        """Echoes its text."""
        return text

    app = server.streamable_http_app(host="127.0.0.1")
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    print(f"listening {resource}" + (" (no auth)" if issuer == "--no-auth" else f" (trusting {issuer})"), flush=True)
    uvicorn.Server(config).run()


if __name__ == "__main__":
    main()
