#[macro_use]
mod conformance;

use std::sync::Arc;

use async_trait::async_trait;
use capstan_store::memory::MemoryStore;
use conformance::Harness;

struct MemoryHarness;

#[async_trait]
impl Harness for MemoryHarness {
    type S = MemoryStore;

    async fn open(&self) -> Arc<MemoryStore> {
        Arc::new(MemoryStore::new())
    }

    async fn reopen(&self, old: Arc<MemoryStore>) -> Arc<MemoryStore> {
        old
    }
}

conformance_suite!(MemoryHarness);
