-- The authorization server's state. Times are UNIX seconds.
CREATE TABLE signing_keys (
    kid TEXT PRIMARY KEY NOT NULL,
    alg TEXT NOT NULL,
    private_pem TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    retired_at BIGINT
);

CREATE TABLE clients (
    client_id TEXT PRIMARY KEY NOT NULL,
    secret_sha256 BYTEA,
    metadata TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE revoked_tokens (
    jti TEXT PRIMARY KEY NOT NULL,
    expires_at BIGINT NOT NULL
);
