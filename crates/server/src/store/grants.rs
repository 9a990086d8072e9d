//! Users, sessions, pending authorization requests, authorization codes, consents and
//! refresh tokens. Codes and refresh tokens are consumed with one conditional `UPDATE`,
//! so two concurrent redemptions cannot both succeed.

use sqlx::Row as _;

use super::{Store, StoreError, unique_violation};

/// The result of redeeming an authorization code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CodeOutcome {
    /// First use: the grant data.
    Fresh {
        /// The stored grant (JSON).
        grant: serde_json::Value,
        /// When the code expires.
        expires_at: i64,
    },
    /// The code was used before: the grant data (to revoke what it produced).
    AlreadyUsed(serde_json::Value),
    /// No such code.
    Unknown,
}

/// The result of using a refresh token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefreshOutcome {
    /// Valid: the grant data and family.
    Valid {
        /// The stored grant (JSON).
        grant: serde_json::Value,
        /// The token family.
        family_id: String,
        /// When the token expires.
        expires_at: i64,
    },
    /// A rotated-away token was presented again: its family.
    Reused(String),
    /// Unknown or revoked.
    Invalid,
}

/// A refresh token's rotation that [`Store::begin_refresh`] made and did not commit:
/// the token is consumed and its successor stored when [`PendingRotation::commit`]
/// succeeds; dropped, nothing happened. Until then it holds the token's row locked
/// (concurrent uses of the same token wait).
#[must_use = "a rotation happens only when committed"]
pub struct PendingRotation(sqlx::Transaction<'static, sqlx::Any>);

impl PendingRotation {
    /// Commits the rotation.
    pub async fn commit(self) -> Result<(), StoreError> {
        self.0.commit().await?;
        Ok(())
    }
}

impl std::fmt::Debug for PendingRotation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PendingRotation")
    }
}

/// The member a code's stored grant gets when the code is presented again after its
/// first redemption (the time, seconds).
pub const REPLAYED: &str = "replayed_at";

fn json(text: &str) -> Result<serde_json::Value, StoreError> {
    Ok(serde_json::from_str(text)?)
}

/// A local user as the identity provider role sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    /// The sign-in name.
    pub username: String,
    /// The subject identifier: opaque, assigned when the user was created, never
    /// given to another user (OIDC Core §2; profiles/enterprise-managed-authorization.md
    /// §7.1). The `sub` of ID tokens and ID-JAGs.
    pub subject: String,
    /// The groups the operator put the user in.
    pub groups: Vec<String>,
}

fn user_record(row: &sqlx::any::AnyRow) -> Result<UserRecord, StoreError> {
    let groups: String = row.try_get("groups")?;
    Ok(UserRecord {
        username: row.try_get("username")?,
        subject: row.try_get("subject")?,
        groups: serde_json::from_str(&groups)?,
    })
}

/// 128 random bits, as 32 lower-case hex digits (the form the migration gave the
/// users that existed before subjects did).
fn new_subject() -> Result<String, StoreError> {
    let mut bytes = [0u8; 16];
    mcp_auth_core::random::fill(&mut bytes)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

impl Store {
    /// Adds a local user with an argon2 PHC hash and a new subject identifier.
    pub async fn insert_user(
        &self,
        username: &str,
        password_hash: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO users (username, password_hash, created_at, subject) VALUES ($1, $2, $3, $4)",
        )
        .bind(username)
        .bind(password_hash)
        .bind(now)
        .bind(new_subject()?)
        .execute(&self.pool)
        .await
        .map_err(|e| unique_violation(e, username))?;
        Ok(())
    }

    /// Sets a local user's password hash, adding the user when absent (for a demo
    /// user whose password is new at every start). An existing user keeps its subject.
    pub async fn set_user_password(
        &self,
        username: &str,
        password_hash: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO users (username, password_hash, created_at, subject) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (username) DO UPDATE SET password_hash = excluded.password_hash",
        )
        .bind(username)
        .bind(password_hash)
        .bind(now)
        .bind(new_subject()?)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Replaces a user's groups (read by the IdP's policy). `false` when there is no
    /// such user.
    pub async fn set_user_groups(
        &self,
        username: &str,
        groups: &[String],
    ) -> Result<bool, StoreError> {
        let r = sqlx::query("UPDATE users SET groups = $1 WHERE username = $2")
            .bind(serde_json::to_string(groups)?)
            .bind(username)
            .execute(&self.pool)
            .await?;
        Ok(r.rows_affected() == 1)
    }

    /// Removes a user and its sessions and remembered consents. `false` when there
    /// was no such user. The subject identifier is gone with it and is never given
    /// to another user (a new user gets a new one).
    pub async fn delete_user(&self, username: &str) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        for statement in [
            "DELETE FROM sessions WHERE username = $1",
            "DELETE FROM consents WHERE username = $1",
        ] {
            sqlx::query(statement)
                .bind(username)
                .execute(&mut *tx)
                .await?;
        }
        let r = sqlx::query("DELETE FROM users WHERE username = $1")
            .bind(username)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(r.rows_affected() == 1)
    }

    /// A user by username, with its subject identifier and groups.
    pub async fn user(&self, username: &str) -> Result<Option<UserRecord>, StoreError> {
        let row = sqlx::query("SELECT username, subject, groups FROM users WHERE username = $1")
            .bind(username)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| user_record(&r)).transpose()
    }

    /// A user by subject identifier (the `sub` of the ID tokens this AS issued).
    pub async fn user_by_subject(&self, subject: &str) -> Result<Option<UserRecord>, StoreError> {
        let row = sqlx::query("SELECT username, subject, groups FROM users WHERE subject = $1")
            .bind(subject)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| user_record(&r)).transpose()
    }

    /// The usernames, in order (for the start-up check of names reserved by a
    /// trust entry, EMA-AS-19).
    pub async fn usernames(&self) -> Result<Vec<String>, StoreError> {
        let rows = sqlx::query("SELECT username FROM users ORDER BY username")
            .fetch_all(&self.pool)
            .await?;
        rows.into_iter()
            .map(|r| r.try_get::<String, _>("username").map_err(Into::into))
            .collect()
    }

    /// The password hash of a user.
    pub async fn user_password_hash(&self, username: &str) -> Result<Option<String>, StoreError> {
        let row = sqlx::query("SELECT password_hash FROM users WHERE username = $1")
            .bind(username)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| r.try_get("password_hash")).transpose()?)
    }

    /// Creates a browser session.
    pub async fn create_session(
        &self,
        id_sha256: &[u8],
        username: &str,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO sessions (id_sha256, username, expires_at) VALUES ($1, $2, $3)")
            .bind(id_sha256.to_vec())
            .bind(username)
            .bind(expires_at)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The user of a live session, and when the session ends.
    pub async fn session_user(
        &self,
        id_sha256: &[u8],
        now: i64,
    ) -> Result<Option<(String, i64)>, StoreError> {
        let row = sqlx::query(
            "SELECT username, expires_at FROM sessions WHERE id_sha256 = $1 AND expires_at > $2",
        )
        .bind(id_sha256.to_vec())
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| Ok((r.try_get("username")?, r.try_get("expires_at")?)))
            .transpose()
    }

    /// Stores an authorization request waiting for login or consent.
    pub async fn insert_pending(
        &self,
        id: &str,
        request: &serde_json::Value,
        csrf: &str,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO pending_authorizations (id, request, csrf, expires_at) VALUES ($1, $2, $3, $4)")
            .bind(id)
            .bind(request.to_string())
            .bind(csrf)
            .bind(expires_at)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// A pending request that has not expired: the request and its CSRF token.
    pub async fn pending(
        &self,
        id: &str,
        now: i64,
    ) -> Result<Option<(serde_json::Value, String)>, StoreError> {
        let row = sqlx::query(
            "SELECT request, csrf FROM pending_authorizations WHERE id = $1 AND expires_at > $2",
        )
        .bind(id)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            let request: String = r.try_get("request")?;
            Ok((json(&request)?, r.try_get("csrf")?))
        })
        .transpose()
    }

    /// Replaces the request of a pending authorization (its failed-login count).
    pub async fn update_pending(
        &self,
        id: &str,
        request: &serde_json::Value,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE pending_authorizations SET request = $2 WHERE id = $1")
            .bind(id)
            .bind(request.to_string())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Removes a pending request (answered).
    pub async fn delete_pending(&self, id: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM pending_authorizations WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Stores an authorization code (by digest).
    pub async fn insert_code(
        &self,
        code_sha256: &[u8],
        grant: &serde_json::Value,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO authorization_codes (code_sha256, grant_data, expires_at) VALUES ($1, $2, $3)")
            .bind(code_sha256.to_vec())
            .bind(grant.to_string())
            .bind(expires_at)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Marks a code used and returns its grant; a second redemption is reported as such.
    ///
    /// The first redemption is one conditional `UPDATE` (`used_at IS NULL`), so of
    /// redemptions racing on several instances exactly one is [`CodeOutcome::Fresh`].
    /// A later one also marks the stored grant replayed ([`REPLAYED`]): the
    /// redemption still in flight then learns of it in [`Store::set_code_grant`] and
    /// revokes what it issued, and a replay after it finds what to revoke in the
    /// grant (RFC 6749 §4.1.2).
    pub async fn redeem_code(
        &self,
        code_sha256: &[u8],
        now: i64,
    ) -> Result<CodeOutcome, StoreError> {
        let updated = sqlx::query("UPDATE authorization_codes SET used_at = $1 WHERE code_sha256 = $2 AND used_at IS NULL")
            .bind(now)
            .bind(code_sha256.to_vec())
            .execute(&self.pool)
            .await?
            .rows_affected();
        let row = sqlx::query(
            "SELECT grant_data, expires_at FROM authorization_codes WHERE code_sha256 = $1",
        )
        .bind(code_sha256.to_vec())
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else {
            return Ok(CodeOutcome::Unknown);
        };
        let text: String = row.try_get("grant_data")?;
        if updated == 1 {
            return Ok(CodeOutcome::Fresh {
                grant: json(&text)?,
                expires_at: row.try_get("expires_at")?,
            });
        }
        self.mark_replayed(code_sha256, text, now)
            .await
            .map(CodeOutcome::AlreadyUsed)
    }

    /// Adds [`REPLAYED`] to a used code's grant with a compare-and-set on its text (the
    /// redemption in flight may be writing it at the same time); returns the grant.
    async fn mark_replayed(
        &self,
        code_sha256: &[u8],
        mut text: String,
        now: i64,
    ) -> Result<serde_json::Value, StoreError> {
        loop {
            let mut grant = json(&text)?;
            if grant.get(REPLAYED).is_some() {
                return Ok(grant);
            }
            grant[REPLAYED] = serde_json::json!(now);
            let swapped = sqlx::query(
                "UPDATE authorization_codes SET grant_data = $1 WHERE code_sha256 = $2 AND grant_data = $3",
            )
            .bind(grant.to_string())
            .bind(code_sha256.to_vec())
            .bind(&text)
            .execute(&self.pool)
            .await?
            .rows_affected();
            if swapped == 1 {
                return Ok(grant);
            }
            // Changed meanwhile (the first redemption recorded what it issued): again
            // with what is stored now.
            let row =
                sqlx::query("SELECT grant_data FROM authorization_codes WHERE code_sha256 = $1")
                    .bind(code_sha256.to_vec())
                    .fetch_optional(&self.pool)
                    .await?;
            match row {
                Some(row) => text = row.try_get("grant_data")?,
                None => return Ok(grant),
            }
        }
    }

    /// Records what a code produced (access token id, refresh family), so a replay of
    /// the code can revoke it (RFC 6749 §4.1.2). `false` when the code was replayed
    /// while it was being redeemed (its grant is marked [`REPLAYED`]): nothing is
    /// recorded, and the caller must revoke what it issued and answer as to a replay.
    pub async fn set_code_grant(
        &self,
        code_sha256: &[u8],
        grant: &serde_json::Value,
    ) -> Result<bool, StoreError> {
        let r = sqlx::query("UPDATE authorization_codes SET grant_data = $1 WHERE code_sha256 = $2 AND grant_data NOT LIKE $3")
            .bind(grant.to_string())
            .bind(code_sha256.to_vec())
            .bind(format!("%\"{REPLAYED}\":%"))
            .execute(&self.pool)
            .await?;
        Ok(r.rows_affected() == 1)
    }

    /// The scopes a user consented to for a client and resource.
    pub async fn consent(
        &self,
        username: &str,
        client_id: &str,
        resource: &str,
    ) -> Result<Option<Vec<String>>, StoreError> {
        let row = sqlx::query(
            "SELECT scopes FROM consents WHERE username = $1 AND client_id = $2 AND resource = $3",
        )
        .bind(username)
        .bind(client_id)
        .bind(resource)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row
            .map(|r| r.try_get::<String, _>("scopes"))
            .transpose()?
            .map(|s| mcp_auth_core::scope::parse(&s)))
    }

    /// Remembers a consent (replacing an earlier one for the same client and resource).
    pub async fn record_consent(
        &self,
        username: &str,
        client_id: &str,
        resource: &str,
        scopes: &[String],
        now: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "DELETE FROM consents WHERE username = $1 AND client_id = $2 AND resource = $3",
        )
        .bind(username)
        .bind(client_id)
        .bind(resource)
        .execute(&mut *tx)
        .await?;
        sqlx::query("INSERT INTO consents (username, client_id, resource, scopes, created_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(username)
            .bind(client_id)
            .bind(resource)
            .bind(scopes.join(" "))
            .bind(now)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Stores a refresh token (by digest) in a family.
    pub async fn insert_refresh(
        &self,
        token_sha256: &[u8],
        family_id: &str,
        grant: &serde_json::Value,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO refresh_tokens (token_sha256, family_id, grant_data, expires_at) VALUES ($1, $2, $3, $4)")
            .bind(token_sha256.to_vec())
            .bind(family_id)
            .bind(grant.to_string())
            .bind(expires_at)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Uses a refresh token, committing at once: [`Store::begin_refresh`] then
    /// [`PendingRotation::commit`].
    pub async fn use_refresh(
        &self,
        token_sha256: &[u8],
        now: i64,
        successor: Option<&[u8]>,
    ) -> Result<RefreshOutcome, StoreError> {
        let (outcome, pending) = self.begin_refresh(token_sha256, now, successor).await?;
        if let Some(pending) = pending {
            pending.commit().await?;
        }
        Ok(outcome)
    }

    /// Uses a refresh token. With a `successor` (rotation), the token is consumed (a
    /// later use is a reuse) and the successor (its digest) is stored in the same
    /// family, with the same grant and expiry, in one transaction that the caller
    /// commits ([`PendingRotation::commit`]) once its answer is ready: when anything
    /// fails before (the database among others), nothing happened and the client may
    /// retry with the same token. Without a successor, the token stays valid and there
    /// is nothing to commit.
    ///
    /// Consuming and storing the successor together is what makes reuse detection
    /// hold across instances: a concurrent use of the same token waits on the row the
    /// winner updated until the winner commits, sees it used, and its
    /// [`Store::revoke_family`] then also finds the successor (storing it after the
    /// commit, the successor could escape that revocation).
    pub async fn begin_refresh(
        &self,
        token_sha256: &[u8],
        now: i64,
        successor: Option<&[u8]>,
    ) -> Result<(RefreshOutcome, Option<PendingRotation>), StoreError> {
        let mut tx = self.pool.begin().await?;
        let consumed = if successor.is_some() {
            sqlx::query("UPDATE refresh_tokens SET used_at = $1 WHERE token_sha256 = $2 AND used_at IS NULL AND revoked_at IS NULL")
                .bind(now)
                .bind(token_sha256.to_vec())
                .execute(&mut *tx)
                .await?
                .rows_affected()
                == 1
        } else {
            true
        };
        let row = sqlx::query("SELECT family_id, grant_data, expires_at, used_at, revoked_at FROM refresh_tokens WHERE token_sha256 = $1")
            .bind(token_sha256.to_vec())
            .fetch_optional(&mut *tx)
            .await?;
        let Some(row) = row else {
            return Ok((RefreshOutcome::Invalid, None));
        };
        let family_id: String = row.try_get("family_id")?;
        let revoked: Option<i64> = row.try_get("revoked_at")?;
        let used: Option<i64> = row.try_get("used_at")?;
        if revoked.is_some() {
            return Ok((RefreshOutcome::Invalid, None));
        }
        if !consumed || (successor.is_none() && used.is_some()) {
            return Ok((RefreshOutcome::Reused(family_id), None));
        }
        let text: String = row.try_get("grant_data")?;
        let expires_at: i64 = row.try_get("expires_at")?;
        let pending = match successor {
            Some(next) => {
                sqlx::query("INSERT INTO refresh_tokens (token_sha256, family_id, grant_data, expires_at) VALUES ($1, $2, $3, $4)")
                    .bind(next.to_vec())
                    .bind(&family_id)
                    .bind(&text)
                    .bind(expires_at)
                    .execute(&mut *tx)
                    .await?;
                Some(PendingRotation(tx))
            }
            None => None,
        };
        Ok((
            RefreshOutcome::Valid {
                grant: json(&text)?,
                family_id,
                expires_at,
            },
            pending,
        ))
    }

    /// Revokes every refresh token of a family.
    pub async fn revoke_family(&self, family_id: &str, now: i64) -> Result<u64, StoreError> {
        let r = sqlx::query(
            "UPDATE refresh_tokens SET revoked_at = $1 WHERE family_id = $2 AND revoked_at IS NULL",
        )
        .bind(now)
        .bind(family_id)
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected())
    }

    /// Deletes expired sessions, pending requests, refresh tokens, and codes that
    /// expired more than a day ago (kept that long so a late replay is still
    /// recognised and revokes what the code produced). Returns the rows deleted.
    pub async fn purge_expired(&self, now: i64) -> Result<u64, StoreError> {
        let mut total = 0;
        for (sql, before) in [
            ("DELETE FROM sessions WHERE expires_at < $1", now),
            (
                "DELETE FROM pending_authorizations WHERE expires_at < $1",
                now,
            ),
            ("DELETE FROM refresh_tokens WHERE expires_at < $1", now),
            (
                "DELETE FROM authorization_codes WHERE expires_at < $1",
                now - 86_400,
            ),
        ] {
            total += sqlx::query(sql)
                .bind(before)
                .execute(&self.pool)
                .await?
                .rows_affected();
        }
        Ok(total)
    }
}
