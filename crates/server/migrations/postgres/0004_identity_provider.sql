-- The identity provider role (profiles/enterprise-managed-authorization.md §7.1, §6.1).
-- subject: the user's subject identifier in ID tokens and ID-JAGs, opaque, assigned once
-- when the user is created and never given to another user (OIDC Core §2), so renaming
-- or re-creating a username never hands an old identity to a new person.
-- groups: a JSON array of the groups the operator put the user in, read by the policy.
ALTER TABLE users ADD COLUMN subject TEXT;
ALTER TABLE users ADD COLUMN groups TEXT NOT NULL DEFAULT '[]';
UPDATE users SET subject = md5(gen_random_uuid()::text) WHERE subject IS NULL;
CREATE UNIQUE INDEX users_subject ON users (subject);
