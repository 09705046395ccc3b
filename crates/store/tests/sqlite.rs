#[macro_use]
mod conformance;

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use capstan_store::sqlite::{SqliteOptions, SqliteStore};
use conformance::Harness;
use tempfile::TempDir;

struct SqliteHarness {
    dir: TempDir,
}

impl SqliteHarness {
    fn new() -> SqliteHarness {
        SqliteHarness {
            dir: tempfile::tempdir().expect("create a temporary directory"),
        }
    }

    fn path(&self) -> PathBuf {
        self.dir.path().join("state.db")
    }
}

#[async_trait]
impl Harness for SqliteHarness {
    type S = SqliteStore;

    async fn open(&self) -> Arc<SqliteStore> {
        let store = SqliteStore::open(self.path(), SqliteOptions::default())
            .await
            .expect("open the sqlite store");
        Arc::new(store)
    }

    async fn reopen(&self, old: Arc<SqliteStore>) -> Arc<SqliteStore> {
        old.close().await;
        drop(old);
        self.open().await
    }
}

conformance_suite!(SqliteHarness::new());
