-- RFC 7523 §3: jti values of private_key_jwt client assertions, kept until the
-- assertion expires, so an assertion cannot be used twice.
CREATE TABLE client_assertion_jtis (
    client_id TEXT NOT NULL,
    jti TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (client_id, jti)
);
