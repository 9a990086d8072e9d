-- Local users (argon2id PHC strings), browser sessions, authorization requests waiting
-- for login and consent, authorization codes, remembered consents, refresh tokens.
-- Secrets (session ids, codes, refresh tokens) are stored as SHA-256 digests only.
CREATE TABLE users (
    username TEXT PRIMARY KEY NOT NULL,
    password_hash TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE sessions (
    id_sha256 BYTEA PRIMARY KEY NOT NULL,
    username TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);

CREATE TABLE pending_authorizations (
    id TEXT PRIMARY KEY NOT NULL,
    request TEXT NOT NULL,
    csrf TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);

CREATE TABLE authorization_codes (
    code_sha256 BYTEA PRIMARY KEY NOT NULL,
    grant_data TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT
);

CREATE TABLE consents (
    username TEXT NOT NULL,
    client_id TEXT NOT NULL,
    resource TEXT NOT NULL,
    scopes TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (username, client_id, resource)
);

CREATE TABLE refresh_tokens (
    token_sha256 BYTEA PRIMARY KEY NOT NULL,
    family_id TEXT NOT NULL,
    grant_data TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT,
    revoked_at BIGINT
);

CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);
