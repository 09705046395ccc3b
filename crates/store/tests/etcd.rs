#[macro_use]
mod conformance;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use capstan_store::etcd::{EtcdOptions, EtcdStore};
use capstan_store::testing::EtcdServer;
use capstan_store::{Bytes, KeyValue, Store, StoreError};
use conformance::{bytes, expect_events, expect_sentinel, put_event, Harness, WAIT};

static NEXT_PREFIX: AtomicUsize = AtomicUsize::new(0);

async fn connect(endpoint: String, prefix: String) -> EtcdStore {
    EtcdStore::connect(EtcdOptions {
        endpoints: vec![endpoint],
        prefix,
        ..Default::default()
    })
    .await
    .expect("connect to etcd")
}

struct EtcdHarness {
    server: EtcdServer,
    prefix: String,
}

impl EtcdHarness {
    fn new() -> EtcdHarness {
        EtcdHarness {
            server: EtcdServer::start(),
            prefix: format!("/t{}", NEXT_PREFIX.fetch_add(1, Ordering::SeqCst)),
        }
    }
}

#[async_trait]
impl Harness for EtcdHarness {
    type S = EtcdStore;

    async fn open(&self) -> Arc<EtcdStore> {
        Arc::new(connect(self.server.endpoint(), self.prefix.clone()).await)
    }

    async fn reopen(&self, old: Arc<EtcdStore>) -> Arc<EtcdStore> {
        drop(old);
        self.open().await
    }
}

conformance_suite!(EtcdHarness::new());

/// Creates `key`, retrying while etcd is unreachable. An attempt that went
/// through without an answer shows up as `AlreadyExists`.
async fn create_retrying(store: &EtcdStore, key: &str, value: Bytes) -> KeyValue {
    let deadline = Instant::now() + WAIT;
    loop {
        match store.create(key, value.clone()).await {
            Ok(kv) => return kv,
            Err(StoreError::AlreadyExists { .. }) => {
                return store.get(key, 0).await.unwrap().expect("the key exists")
            }
            Err(StoreError::Unavailable(error)) if Instant::now() < deadline => {
                eprintln!("create {key}: {error}; retrying");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(error) => panic!("create {key}: {error}"),
        }
    }
}

fn restart_etcd(server: &mut EtcdServer) {
    tokio::task::block_in_place(|| {
        server.stop();
        server.start_again();
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn watch_survives_etcd_restart() {
    let mut server = EtcdServer::start();
    let store = connect(server.endpoint(), "/restart".into()).await;
    let start = store.current_revision().await.unwrap();
    let mut watch = store.watch("/k/", start + 1).await.unwrap();

    let mut expected = Vec::new();
    for i in 0..50 {
        let key = format!("/k/a{i:02}");
        let kv = store.create(&key, bytes(&key)).await.unwrap();
        expected.push(put_event(&kv, None));
    }
    expect_events(&mut watch, &expected[..10]).await;

    // Restart with events still undelivered.
    restart_etcd(&mut server);
    for i in 0..50 {
        let key = format!("/k/b{i:02}");
        let kv = create_retrying(&store, &key, bytes(&key)).await;
        expected.push(put_event(&kv, None));
    }
    expect_events(&mut watch, &expected[10..]).await;

    // Restart with the watch idle and up to date.
    restart_etcd(&mut server);
    let mut more = Vec::new();
    for i in 0..20 {
        let key = format!("/k/c{i:02}");
        let kv = create_retrying(&store, &key, bytes(&key)).await;
        more.push(put_event(&kv, None));
    }
    expect_events(&mut watch, &more).await;
    expect_sentinel(&store, "/k/sentinel", &mut [&mut watch]).await;
}
