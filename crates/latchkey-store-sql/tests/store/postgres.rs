//! The PostgreSQL backend under test: a fresh database per test on the
//! server named by `LATCHKEY_TEST_POSTGRES` (default the local one),
//! dropped afterwards.

use std::sync::Arc;

use latchkey_core::{secret::random_bytes, store::Store};
use latchkey_store_sql::PgStore;
use sqlx::{Connection, Executor, PgConnection};

use crate::conformance::Backend;

/// The server, without a database name.
pub(crate) fn server_url() -> String {
    std::env::var("LATCHKEY_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_owned())
}

async fn admin() -> Result<PgConnection, sqlx::Error> {
    PgConnection::connect(&format!("{}/postgres", server_url())).await
}

/// One database of its own; dropped (with any connections left) on drop.
pub(crate) struct PgBackend {
    name: String,
}

impl Backend for PgBackend {
    async fn fresh() -> Self {
        let suffix: [u8; 8] = random_bytes().expect("random");
        let name = format!(
            "latchkey_test_{}",
            suffix
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        );
        let mut conn = admin().await.expect("connect to PostgreSQL");
        conn.execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .await
            .expect("create test database");
        Self { name }
    }

    async fn connect(&self) -> Arc<dyn Store> {
        let url = format!("{}/{}", server_url(), self.name);
        Arc::new(
            PgStore::connect(&url, 5)
                .await
                .expect("connect to PostgreSQL"),
        )
    }

    async fn available() -> bool {
        match admin().await {
            Ok(_) => true,
            Err(e) if std::env::var_os("CI").is_some() => {
                panic!("PostgreSQL at {} is required in CI: {e}", server_url())
            }
            Err(e) => {
                eprintln!(
                    "skipped: PostgreSQL at {} is not reachable ({e})",
                    server_url()
                );
                false
            }
        }
    }
}

impl Drop for PgBackend {
    fn drop(&mut self) {
        let name = self.name.clone();
        // Drop runs inside the test's runtime; the cleanup gets its own.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async {
                if let Ok(mut conn) = admin().await {
                    let _ = conn
                        .execute(sqlx::AssertSqlSafe(format!(
                            "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                        )))
                        .await;
                }
            });
        })
        .join();
    }
}

crate::conformance::store_conformance_suite!(PgBackend);
