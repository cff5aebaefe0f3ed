//! The SQL of every store, written once: the statements use only what
//! SQLite and PostgreSQL share (numbered `$n` parameters, `RETURNING`,
//! integer milliseconds for instants), and [`sql_store!`] implements the
//! store traits with them for a backend's pool type. Each backend module
//! invokes it and adds its own connection setup and migrations.

/// The columns of `SessionRow`, as a literal so queries can be `concat!`ed
/// into `&'static str` (sqlx refuses unchecked dynamic SQL).
macro_rules! session_columns {
    () => {
        "s.id, s.user_id, s.token_hash, s.client, s.created_at, s.last_seen_at, s.expires_at, \
         s.ip, s.user_agent, s.csrf_token, s.revoked_at, s.revoked_reason, s.generation, s.renewed_at, \
         s.last_ip, s.last_user_agent"
    };
}

/// Implements `UserStore`, `SessionStore`, `RefreshStore`, `KeyStore`,
/// `EventStore` and `Store` for `$store` (which has a `pool` of database `$db`), migrating
/// from the `$migrations` folder. `$begin` is the statement that opens a
/// read-then-write transaction: SQLite needs `BEGIN IMMEDIATE`, or a
/// deferred transaction that upgrades to a write lock fails with
/// `SQLITE_BUSY` instead of waiting its turn.
macro_rules! sql_store {
    ($store:ty, $db:ty, $begin:expr, $migrations:literal) => {
        #[async_trait]
        impl Store for $store {
            /// On PostgreSQL, sqlx holds an advisory lock while migrating,
            /// so nodes that start together migrate one at a time.
            async fn migrate(&self) -> Result<(), StoreError> {
                sqlx::migrate!($migrations)
                    .run(&self.pool)
                    .await
                    .map_err(from_migrate)
            }

            async fn ping(&self) -> Result<(), StoreError> {
                sqlx::query("SELECT 1")
                    .execute(&self.pool)
                    .await
                    .map_err(from_sqlx)?;
                Ok(())
            }
        }

        #[async_trait]
        impl UserStore for $store {
            async fn create_user(&self, user: &User) -> Result<(), StoreError> {
                sqlx::query(
                    "INSERT INTO users (id, username, username_key, password_hash, created_at) \
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(user.id.to_string())
                .bind(user.username.as_str())
                .bind(user.username.key())
                .bind(&user.password_hash)
                .bind(to_millis(user.created_at))
                .execute(&self.pool)
                .await
                .map_err(from_sqlx)?;
                Ok(())
            }

            async fn user_by_username(&self, username: &Username) -> Result<Option<User>, StoreError> {
                sqlx::query_as::<_, UserRow>(
                    "SELECT id, username, password_hash, created_at FROM users WHERE username_key = $1",
                )
                .bind(username.key())
                .fetch_optional(&self.pool)
                .await
                .map_err(from_sqlx)?
                .map(User::try_from)
                .transpose()
            }

            async fn set_password_hash(&self, user: UserId, phc: &str) -> Result<(), StoreError> {
                sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2")
                    .bind(phc)
                    .bind(user.to_string())
                    .execute(&self.pool)
                    .await
                    .map_err(from_sqlx)?;
                Ok(())
            }
        }

        #[async_trait]
        impl SessionStore for $store {
            async fn create_session(&self, s: &Session) -> Result<(), StoreError> {
                sqlx::query(
                    "INSERT INTO sessions (id, user_id, token_hash, client, created_at, last_seen_at, \
                     expires_at, ip, user_agent, csrf_token, revoked_at, revoked_reason, generation, \
                     renewed_at, last_ip, last_user_agent) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)",
                )
                .bind(s.id.to_string())
                .bind(s.user_id.to_string())
                .bind(s.token_hash.as_bytes().as_slice())
                .bind(s.client.as_str())
                .bind(to_millis(s.created_at))
                .bind(to_millis(s.last_seen_at))
                .bind(to_millis(s.expires_at))
                .bind(s.ip.map(|ip| ip.to_string()))
                .bind(s.user_agent.as_deref())
                .bind(s.csrf_token.expose())
                .bind(s.revoked_at.map(to_millis))
                .bind(s.revoked_reason.map(RevocationReason::as_str))
                .bind(s.generation)
                .bind(s.renewed_at.map(to_millis))
                .bind(s.last_ip.map(|ip| ip.to_string()))
                .bind(s.last_user_agent.as_deref())
                .execute(&self.pool)
                .await
                .map_err(from_sqlx)?;
                Ok(())
            }

            async fn session_by_token(
                &self,
                hash: &TokenHash,
            ) -> Result<Option<(Session, Username)>, StoreError> {
                const SQL: &str = concat!(
                    "SELECT ",
                    session_columns!(),
                    ", u.username FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.token_hash = $1"
                );
                sqlx::query_as::<_, SessionRow>(SQL)
                    .bind(hash.as_bytes().as_slice())
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(from_sqlx)?
                    .map(SessionRow::into_session_with_user)
                    .transpose()
            }

            async fn session_by_id(
                &self,
                id: SessionId,
            ) -> Result<Option<(Session, Username)>, StoreError> {
                const SQL: &str = concat!(
                    "SELECT ",
                    session_columns!(),
                    ", u.username FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.id = $1"
                );
                sqlx::query_as::<_, SessionRow>(SQL)
                    .bind(id.to_string())
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(from_sqlx)?
                    .map(SessionRow::into_session_with_user)
                    .transpose()
            }

            async fn active_sessions(
                &self,
                user: UserId,
                now: OffsetDateTime,
            ) -> Result<Vec<Session>, StoreError> {
                const SQL: &str = concat!(
                    "SELECT ",
                    session_columns!(),
                    " FROM sessions s WHERE s.user_id = $1 AND s.revoked_at IS NULL AND s.expires_at > $2 \
                     ORDER BY s.created_at DESC, s.id"
                );
                sqlx::query_as::<_, SessionRow>(SQL)
                    .bind(user.to_string())
                    .bind(to_millis(now))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(from_sqlx)?
                    .into_iter()
                    .map(Session::try_from)
                    .collect()
            }

            async fn touch_session(
                &self,
                id: SessionId,
                at: OffsetDateTime,
                context: Option<&ClientContext>,
            ) -> Result<(), StoreError> {
                let mut query = sqlx::query(match context {
                    None => "UPDATE sessions SET last_seen_at = CASE WHEN last_seen_at < $1 THEN $2 ELSE last_seen_at END \
                             WHERE id = $3",
                    Some(_) => "UPDATE sessions SET last_seen_at = CASE WHEN last_seen_at < $1 THEN $2 ELSE last_seen_at END, \
                                last_ip = COALESCE($4, last_ip), last_user_agent = $5 WHERE id = $3",
                })
                .bind(to_millis(at))
                .bind(to_millis(at))
                .bind(id.to_string());
                if let Some(context) = context {
                    query = query
                        .bind(context.ip.map(|ip| ip.to_string()))
                        .bind(context.user_agent.clone());
                }
                query.execute(&self.pool).await.map_err(from_sqlx)?;
                Ok(())
            }

            async fn revoke_session(
                &self,
                user: UserId,
                id: SessionId,
                at: OffsetDateTime,
                reason: RevocationReason,
            ) -> Result<bool, StoreError> {
                let done = sqlx::query(
                    "UPDATE sessions SET revoked_at = $1, revoked_reason = $2 \
                     WHERE id = $3 AND user_id = $4 AND revoked_at IS NULL AND expires_at > $5",
                )
                .bind(to_millis(at))
                .bind(reason.as_str())
                .bind(id.to_string())
                .bind(user.to_string())
                .bind(to_millis(at))
                .execute(&self.pool)
                .await
                .map_err(from_sqlx)?;
                Ok(done.rows_affected() == 1)
            }

            async fn revoke_user_sessions(
                &self,
                user: UserId,
                keep: Option<SessionId>,
                at: OffsetDateTime,
                reason: RevocationReason,
            ) -> Result<Vec<SessionId>, StoreError> {
                let keep = keep.map(|k| k.to_string());
                let ids: Vec<(String,)> = sqlx::query_as(
                    "UPDATE sessions SET revoked_at = $1, revoked_reason = $2 \
                     WHERE user_id = $3 AND revoked_at IS NULL AND expires_at > $4 \
                     AND (CAST($5 AS TEXT) IS NULL OR id <> $6) RETURNING id",
                )
                .bind(to_millis(at))
                .bind(reason.as_str())
                .bind(user.to_string())
                .bind(to_millis(at))
                .bind(keep.as_deref())
                .bind(keep.as_deref())
                .fetch_all(&self.pool)
                .await
                .map_err(from_sqlx)?;
                ids.into_iter()
                    .map(|(id,)| {
                        id.parse()
                            .map_err(|_| StoreError::Corrupt("session id".into()))
                    })
                    .collect()
            }

            async fn revocations_since(
                &self,
                since: OffsetDateTime,
            ) -> Result<Vec<(SessionId, OffsetDateTime)>, StoreError> {
                let rows: Vec<(String, i64)> = sqlx::query_as(
                    "SELECT id, revoked_at FROM sessions WHERE revoked_at >= $1 ORDER BY revoked_at",
                )
                .bind(to_millis(since))
                .fetch_all(&self.pool)
                .await
                .map_err(from_sqlx)?;
                rows.into_iter()
                    .map(|(id, at)| {
                        let id = id
                            .parse()
                            .map_err(|_| StoreError::Corrupt("session id".into()))?;
                        Ok((id, from_millis(at)))
                    })
                    .collect()
            }

            async fn delete_expired_sessions(&self, before: OffsetDateTime) -> Result<u64, StoreError> {
                let done = sqlx::query("DELETE FROM sessions WHERE expires_at <= $1")
                    .bind(to_millis(before))
                    .execute(&self.pool)
                    .await
                    .map_err(from_sqlx)?;
                Ok(done.rows_affected())
            }
        }

        #[async_trait]
        impl RefreshStore for $store {
            async fn create_refresh_token(&self, record: &RefreshRecord) -> Result<(), StoreError> {
                insert_refresh(&self.pool, record).await
            }

            async fn refresh_token(&self, hash: &TokenHash) -> Result<Option<RefreshRecord>, StoreError> {
                sqlx::query_as::<_, RefreshRow>(
                    "SELECT token_hash, session_id, generation, created_at, spent_at \
                     FROM refresh_tokens WHERE token_hash = $1",
                )
                .bind(hash.as_bytes().as_slice())
                .fetch_optional(&self.pool)
                .await
                .map_err(from_sqlx)?
                .map(RefreshRecord::try_from)
                .transpose()
            }

            async fn rotate_refresh_token(
                &self,
                spent: &TokenHash,
                successor: &RefreshRecord,
                at: OffsetDateTime,
            ) -> Result<Rotation, StoreError> {
                let mut tx = self
                    .pool
                    .begin_with($begin)
                    .await
                    .map_err(from_sqlx)?;
                let spent_now = sqlx::query(
                    "UPDATE refresh_tokens SET spent_at = $1 WHERE token_hash = $2 AND spent_at IS NULL",
                )
                .bind(to_millis(at))
                .bind(spent.as_bytes().as_slice())
                .execute(&mut *tx)
                .await
                .map_err(from_sqlx)?
                .rows_affected()
                    == 1;
                if spent_now {
                    insert_refresh(&mut *tx, successor).await?;
                    tx.commit().await.map_err(from_sqlx)?;
                    return Ok(Rotation::Rotated);
                }
                let earlier: Option<(Option<i64>,)> =
                    sqlx::query_as("SELECT spent_at FROM refresh_tokens WHERE token_hash = $1")
                        .bind(spent.as_bytes().as_slice())
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(from_sqlx)?;
                tx.commit().await.map_err(from_sqlx)?;
                Ok(match earlier {
                    Some((Some(at),)) => Rotation::AlreadySpent(from_millis(at)),
                    _ => Rotation::Unknown,
                })
            }

            async fn advance_generation(
                &self,
                session: SessionId,
                from: i64,
                at: OffsetDateTime,
            ) -> Result<bool, StoreError> {
                let done = sqlx::query(
                    "UPDATE sessions SET generation = generation + 1, renewed_at = $1, last_seen_at = $2 \
                     WHERE id = $3 AND generation = $4 AND revoked_at IS NULL AND expires_at > $5",
                )
                .bind(to_millis(at))
                .bind(to_millis(at))
                .bind(session.to_string())
                .bind(from)
                .bind(to_millis(at))
                .execute(&self.pool)
                .await
                .map_err(from_sqlx)?;
                Ok(done.rows_affected() == 1)
            }
        }

        async fn insert_refresh<'c>(
            db: impl sqlx::Executor<'c, Database = $db>,
            record: &RefreshRecord,
        ) -> Result<(), StoreError> {
            sqlx::query(
                "INSERT INTO refresh_tokens (token_hash, session_id, generation, created_at, spent_at) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(record.token_hash.as_bytes().as_slice())
            .bind(record.session_id.to_string())
            .bind(record.generation)
            .bind(to_millis(record.created_at))
            .bind(record.spent_at.map(to_millis))
            .execute(db)
            .await
            .map_err(from_sqlx)?;
            Ok(())
        }

        #[async_trait]
        impl KeyStore for $store {
            async fn insert_key(&self, key: &SigningKey) -> Result<(), StoreError> {
                insert_key(&self.pool, key).await
            }

            async fn rotate_key(&self, key: &SigningKey, at: OffsetDateTime) -> Result<(), StoreError> {
                let mut tx = self
                    .pool
                    .begin_with($begin)
                    .await
                    .map_err(from_sqlx)?;
                sqlx::query("UPDATE signing_keys SET retired_at = $1 WHERE retired_at IS NULL")
                    .bind(to_millis(at))
                    .execute(&mut *tx)
                    .await
                    .map_err(from_sqlx)?;
                insert_key(&mut *tx, key).await?;
                tx.commit().await.map_err(from_sqlx)
            }

            async fn keys(&self) -> Result<Vec<SigningKey>, StoreError> {
                sqlx::query_as::<_, KeyRow>(
                    "SELECT kid, algorithm, private_der, public_key, created_at, retired_at \
                     FROM signing_keys ORDER BY created_at, kid",
                )
                .fetch_all(&self.pool)
                .await
                .map_err(from_sqlx)?
                .into_iter()
                .map(SigningKey::try_from)
                .collect()
            }
        }

        #[async_trait]
        impl EventStore for $store {
            async fn record_event(&self, e: &SecurityEvent) -> Result<(), StoreError> {
                sqlx::query(
                    "INSERT INTO security_events (id, user_id, kind, at, session_id, ip, user_agent, reason, detail) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                )
                .bind(e.id.to_string())
                .bind(e.user_id.to_string())
                .bind(e.kind.as_str())
                .bind(to_millis(e.at))
                .bind(e.session_id.map(|id| id.to_string()))
                .bind(e.ip.map(|ip| ip.to_string()))
                .bind(e.user_agent.as_deref())
                .bind(e.reason.as_deref())
                .bind(e.detail.as_deref())
                .execute(&self.pool)
                .await
                .map_err(from_sqlx)?;
                Ok(())
            }

            async fn events(
                &self,
                user: UserId,
                after: Option<EventCursor>,
                limit: u32,
            ) -> Result<Vec<SecurityEvent>, StoreError> {
                // Without a cursor, start past any event there can be: no
                // event is at `i64::MAX`, so the id is never compared.
                // Ids are lowercase hyphenated UUIDs, which sort the same
                // byte-wise and under any locale's collation.
                let (at, id) = match after {
                    Some(c) => (to_millis(c.at), c.id.to_string()),
                    None => (i64::MAX, String::new()),
                };
                sqlx::query_as::<_, EventRow>(
                    "SELECT id, user_id, kind, at, session_id, ip, user_agent, reason, detail \
                     FROM security_events WHERE user_id = $1 AND (at < $2 OR (at = $3 AND id < $4)) \
                     ORDER BY at DESC, id DESC LIMIT $5",
                )
                .bind(user.to_string())
                .bind(at)
                .bind(at)
                .bind(id)
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await
                .map_err(from_sqlx)?
                .into_iter()
                .map(SecurityEvent::try_from)
                .collect()
            }

            async fn delete_events_before(&self, before: OffsetDateTime) -> Result<u64, StoreError> {
                let done = sqlx::query("DELETE FROM security_events WHERE at < $1")
                    .bind(to_millis(before))
                    .execute(&self.pool)
                    .await
                    .map_err(from_sqlx)?;
                Ok(done.rows_affected())
            }
        }

        async fn insert_key<'c>(
            db: impl sqlx::Executor<'c, Database = $db>,
            key: &SigningKey,
        ) -> Result<(), StoreError> {
            sqlx::query(
                "INSERT INTO signing_keys (kid, algorithm, private_der, public_key, created_at, retired_at) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(&key.kid)
            .bind(key.algorithm.as_str())
            .bind(key.private_der.as_slice())
            .bind(key.public_key.as_slice())
            .bind(to_millis(key.created_at))
            .bind(key.retired_at.map(to_millis))
            .execute(db)
            .await
            .map_err(from_sqlx)?;
            Ok(())
        }
    };
}

pub(crate) use {session_columns, sql_store};
