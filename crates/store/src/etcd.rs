//! The distributed backend: a real etcd v3 cluster through `etcd-client`.
//!
//! Guarded writes are etcd transactions (compare a revision, then put or
//! delete, else read the current value). Keys live under an optional prefix,
//! so several clusters can share one etcd. Watches follow the cluster
//! across member restarts and dropped connections: each resumes from the
//! revision after the last one it delivered, so nothing is missed or
//! repeated.

use std::path::PathBuf;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use etcd_client::{
    Certificate, Client, Compare, CompareOp, ConnectOptions, GetOptions, Identity, KvClient,
    TlsOptions, Txn, TxnOp, TxnOpResponse, WatchOptions,
};
use tokio::sync::mpsc;

use crate::keys::KeyRange;
use crate::{
    check_size, Bytes, Deleted, Event, EventKind, KeyValue, RangeRequest, RangeResponse, Result,
    Revision, Store, StoreError, WatchStream, MAX_VALUE_SIZE,
};

/// Largest response accepted from etcd (a big range).
const MAX_RESPONSE_BYTES: usize = 1 << 30;
/// Pause before a dropped watch is opened again.
const WATCH_RETRY: Duration = Duration::from_millis(250);
const WATCH_BUFFER: usize = 256;

#[derive(Clone, Debug, Default)]
pub struct EtcdOptions {
    /// Client URLs of the cluster's members, e.g. `https://10.0.0.1:2379`.
    pub endpoints: Vec<String>,
    /// Prepended to every key, so one etcd can serve several clusters.
    pub prefix: String,
    pub tls: Option<EtcdTls>,
}

/// TLS to etcd: the CA that signed its serving certificates and, when etcd
/// asks for client certificates, this client's certificate and key (PEM).
#[derive(Clone, Debug, Default)]
pub struct EtcdTls {
    pub ca_file: PathBuf,
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
}

#[derive(Clone)]
pub struct EtcdStore {
    client: Client,
    kv: KvClient,
    prefix: String,
    /// The highest compacted revision seen, for `Compacted` errors (etcd's
    /// own error does not say).
    compacted: Arc<AtomicI64>,
}

impl EtcdStore {
    pub async fn connect(options: EtcdOptions) -> Result<EtcdStore> {
        let mut connect = ConnectOptions::new()
            .with_connect_timeout(Duration::from_secs(5))
            .with_keep_alive(Duration::from_secs(10), Duration::from_secs(5))
            .with_keep_alive_while_idle(true);
        if let Some(tls) = &options.tls {
            connect = connect.with_tls(tls_options(tls)?);
        }
        let client = Client::connect(&options.endpoints, Some(connect))
            .await
            .map_err(|error| StoreError::unavailable(format!("etcd: {error}")))?;
        let kv = client
            .kv_client()
            .max_decoding_message_size(MAX_RESPONSE_BYTES);
        Ok(EtcdStore {
            client,
            kv,
            prefix: options.prefix,
            compacted: Arc::new(AtomicI64::new(0)),
        })
    }

    fn full_key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    fn to_kv(&self, kv: &etcd_client::KeyValue) -> Result<KeyValue> {
        to_kv(&self.prefix, kv)
    }

    /// Maps an etcd error, knowing which revision the request asked for.
    fn error(&self, error: etcd_client::Error, requested: Revision) -> StoreError {
        let message = error.to_string();
        if message.contains("required revision has been compacted") {
            StoreError::Compacted {
                requested,
                compacted: self.compacted.load(Ordering::SeqCst),
            }
        } else if message.contains("required revision is a future revision") {
            StoreError::FutureRevision {
                requested,
                current: 0,
            }
        } else if message.contains("request is too large") {
            StoreError::TooLarge {
                size: MAX_VALUE_SIZE + 1,
                limit: MAX_VALUE_SIZE,
            }
        } else {
            StoreError::unavailable(format!("etcd: {message}"))
        }
    }

    /// Runs a transaction that, when its guard fails, reads `key`.
    async fn guarded_txn(
        &self,
        key: &str,
        guards: Vec<Compare>,
        then: TxnOp,
    ) -> Result<std::result::Result<(Revision, Vec<TxnOpResponse>), Option<KeyValue>>> {
        let full = self.full_key(key);
        let txn = Txn::new()
            .when(guards)
            .and_then([then])
            .or_else([TxnOp::get(full, None)]);
        let response = self
            .kv
            .clone()
            .txn(txn)
            .await
            .map_err(|error| self.error(error, 0))?;
        let revision = response.header().map_or(0, |header| header.revision());
        let answers = response.op_responses();
        if response.succeeded() {
            return Ok(Ok((revision, answers)));
        }
        let current = match answers.first() {
            Some(TxnOpResponse::Get(get)) => {
                get.kvs().first().map(|kv| self.to_kv(kv)).transpose()?
            }
            _ => None,
        };
        Ok(Err(current))
    }

    /// Opens an etcd watch and waits for etcd to confirm it.
    async fn open_watch(
        &self,
        range: &KeyRange,
        start: Revision,
    ) -> Result<(etcd_client::WatchStream, Revision)> {
        let mut options = WatchOptions::new()
            .with_range(range.end.clone().unwrap_or_else(|| vec![0]))
            .with_prev_key();
        if start > 0 {
            options = options.with_start_revision(start);
        }
        let mut stream = self
            .client
            .watch_client()
            .max_decoding_message_size(MAX_RESPONSE_BYTES)
            .watch(range.start.clone(), Some(options))
            .await
            .map_err(|error| self.error(error, start))?;
        let created = stream
            .message()
            .await
            .map_err(|error| self.error(error, start))?
            .ok_or_else(|| StoreError::unavailable("etcd closed the watch"))?;
        if created.compact_revision() > 0 {
            self.compacted
                .fetch_max(created.compact_revision(), Ordering::SeqCst);
            return Err(StoreError::Compacted {
                requested: start,
                compacted: created.compact_revision(),
            });
        }
        if created.canceled() {
            return Err(StoreError::unavailable(format!(
                "etcd canceled the watch: {}",
                created.cancel_reason()
            )));
        }
        let revision = created.header().map_or(0, |header| header.revision());
        Ok((stream, revision))
    }
}

fn tls_options(tls: &EtcdTls) -> Result<TlsOptions> {
    let read = |path: &PathBuf| {
        std::fs::read(path)
            .map_err(|error| StoreError::unavailable(format!("{}: {error}", path.display())))
    };
    let mut options = TlsOptions::new().ca_certificate(Certificate::from_pem(read(&tls.ca_file)?));
    if let (Some(cert), Some(key)) = (&tls.cert_file, &tls.key_file) {
        options = options.identity(Identity::from_pem(read(cert)?, read(key)?));
    }
    Ok(options)
}

fn to_kv(prefix: &str, kv: &etcd_client::KeyValue) -> Result<KeyValue> {
    let key = kv
        .key_str()
        .map_err(|error| StoreError::unavailable(format!("etcd: key is not UTF-8: {error}")))?;
    Ok(KeyValue {
        key: key.strip_prefix(prefix).unwrap_or(key).to_string(),
        value: Bytes::copy_from_slice(kv.value()),
        create_revision: kv.create_revision(),
        mod_revision: kv.mod_revision(),
        version: kv.version(),
    })
}

fn exists(key: &str) -> Compare {
    Compare::version(key, CompareOp::Greater, 0)
}

#[async_trait]
impl Store for EtcdStore {
    async fn get(&self, key: &str, revision: Revision) -> Result<Option<KeyValue>> {
        let options = GetOptions::new().with_revision(revision);
        let response = self
            .kv
            .clone()
            .get(self.full_key(key), Some(options))
            .await
            .map_err(|error| self.error(error, revision))?;
        response.kvs().first().map(|kv| self.to_kv(kv)).transpose()
    }

    async fn range(&self, request: RangeRequest) -> Result<RangeResponse> {
        let after = request.after.as_deref().map(|after| self.full_key(after));
        let range = KeyRange::new(&self.full_key(&request.prefix), after.as_deref());
        let options = GetOptions::new()
            .with_range(range.end.clone().unwrap_or_else(|| vec![0]))
            .with_limit(request.limit as i64)
            .with_revision(request.revision);
        let response = self
            .kv
            .clone()
            .get(range.start, Some(options))
            .await
            .map_err(|error| self.error(error, request.revision))?;
        let kvs = response
            .kvs()
            .iter()
            .map(|kv| self.to_kv(kv))
            .collect::<Result<Vec<_>>>()?;
        let revision = match request.revision {
            0 => response.header().map_or(0, |header| header.revision()),
            revision => revision,
        };
        Ok(RangeResponse {
            kvs,
            more: response.more(),
            revision,
        })
    }

    async fn create(&self, key: &str, value: Bytes) -> Result<KeyValue> {
        check_size(&value)?;
        let full = self.full_key(key);
        let guard = Compare::create_revision(full.clone(), CompareOp::Equal, 0);
        let put = TxnOp::put(full, value.to_vec(), None);
        match self.guarded_txn(key, vec![guard], put).await? {
            Ok((revision, _)) => Ok(KeyValue {
                key: key.to_string(),
                value,
                create_revision: revision,
                mod_revision: revision,
                version: 1,
            }),
            Err(_) => Err(StoreError::AlreadyExists {
                key: key.to_string(),
            }),
        }
    }

    async fn update(&self, key: &str, value: Bytes, expected: Revision) -> Result<KeyValue> {
        check_size(&value)?;
        let full = self.full_key(key);
        let guards = vec![
            exists(&full),
            Compare::mod_revision(full.clone(), CompareOp::Equal, expected),
        ];
        let put = TxnOp::put(
            full,
            value.to_vec(),
            Some(etcd_client::PutOptions::new().with_prev_key()),
        );
        match self.guarded_txn(key, guards, put).await? {
            Ok((revision, answers)) => {
                let prev = match answers.first() {
                    Some(TxnOpResponse::Put(put)) => put.prev_key().map(|kv| self.to_kv(kv)),
                    _ => None,
                };
                let prev = prev.transpose()?.ok_or_else(|| {
                    StoreError::unavailable("etcd: a guarded put returned no previous value")
                })?;
                Ok(KeyValue {
                    key: key.to_string(),
                    value,
                    create_revision: prev.create_revision,
                    mod_revision: revision,
                    version: prev.version + 1,
                })
            }
            Err(None) => Err(StoreError::NotFound {
                key: key.to_string(),
            }),
            Err(Some(current)) => Err(StoreError::Conflict {
                expected,
                current: Box::new(current),
            }),
        }
    }

    async fn delete(&self, key: &str, expected: Option<Revision>) -> Result<Deleted> {
        let full = self.full_key(key);
        let mut guards = vec![exists(&full)];
        if let Some(expected) = expected {
            guards.push(Compare::mod_revision(
                full.clone(),
                CompareOp::Equal,
                expected,
            ));
        }
        let delete = TxnOp::delete(
            full,
            Some(etcd_client::DeleteOptions::new().with_prev_key()),
        );
        match self.guarded_txn(key, guards, delete).await? {
            Ok((revision, answers)) => {
                let prev = match answers.first() {
                    Some(TxnOpResponse::Delete(delete)) => {
                        delete.prev_kvs().first().map(|kv| self.to_kv(kv))
                    }
                    _ => None,
                };
                let prev = prev.transpose()?.ok_or_else(|| {
                    StoreError::unavailable("etcd: a guarded delete returned no previous value")
                })?;
                Ok(Deleted { prev, revision })
            }
            Err(None) => Err(StoreError::NotFound {
                key: key.to_string(),
            }),
            Err(Some(current)) => Err(StoreError::Conflict {
                expected: expected.unwrap_or_default(),
                current: Box::new(current),
            }),
        }
    }

    async fn watch(&self, prefix: &str, start_revision: Revision) -> Result<WatchStream> {
        let range = KeyRange::new(&self.full_key(prefix), None);
        let (stream, revision) = self.open_watch(&range, start_revision).await?;
        let next = if start_revision == 0 {
            revision + 1
        } else {
            start_revision
        };
        let (sender, receiver) = mpsc::channel(WATCH_BUFFER);
        let follower = Follower {
            store: self.clone(),
            range,
            next,
            sender,
        };
        tokio::spawn(follower.run(stream));
        Ok(Box::pin(futures_util::stream::unfold(
            receiver,
            |mut receiver| async move { receiver.recv().await.map(|item| (item, receiver)) },
        )))
    }

    async fn compact(&self, revision: Revision) -> Result<()> {
        let current = self.current_revision().await?;
        if revision > current {
            return Err(StoreError::FutureRevision {
                requested: revision,
                current,
            });
        }
        self.kv
            .clone()
            .compact(revision, None)
            .await
            .map_err(|error| self.error(error, revision))?;
        self.compacted.fetch_max(revision, Ordering::SeqCst);
        Ok(())
    }

    async fn current_revision(&self) -> Result<Revision> {
        let options = GetOptions::new().with_count_only();
        let response = self
            .kv
            .clone()
            .get(self.full_key(""), Some(options))
            .await
            .map_err(|error| self.error(error, 0))?;
        Ok(response.header().map_or(0, |header| header.revision()))
    }

    async fn count(&self, prefix: &str) -> Result<i64> {
        let range = KeyRange::new(&self.full_key(prefix), None);
        let options = GetOptions::new()
            .with_range(range.end.unwrap_or_else(|| vec![0]))
            .with_count_only();
        let response = self
            .kv
            .clone()
            .get(range.start, Some(options))
            .await
            .map_err(|error| self.error(error, 0))?;
        Ok(response.count())
    }
}

/// Carries one watch's events from etcd to its consumer, opening the etcd
/// watch again from `next` whenever it drops.
struct Follower {
    store: EtcdStore,
    range: KeyRange,
    /// The lowest revision not yet delivered.
    next: Revision,
    sender: mpsc::Sender<Result<Event>>,
}

impl Follower {
    async fn run(mut self, stream: etcd_client::WatchStream) {
        let mut stream = Some(stream);
        loop {
            let current = match stream.take() {
                Some(stream) => stream,
                None => {
                    tokio::select! {
                        _ = self.sender.closed() => return,
                        _ = tokio::time::sleep(WATCH_RETRY) => {}
                    }
                    match self.store.open_watch(&self.range, self.next).await {
                        Ok((stream, _)) => stream,
                        Err(StoreError::Unavailable(reason)) => {
                            tracing::debug!(%reason, "etcd watch: reconnecting");
                            continue;
                        }
                        Err(error) => {
                            let _ = self.sender.send(Err(error)).await;
                            return;
                        }
                    }
                }
            };
            if !self.follow(current).await {
                return;
            }
        }
    }

    /// Delivers events until the etcd watch drops (true: open it again) or
    /// the watch is over (false).
    async fn follow(&mut self, mut stream: etcd_client::WatchStream) -> bool {
        loop {
            let message = tokio::select! {
                _ = self.sender.closed() => return false,
                message = stream.message() => message,
            };
            let response = match message {
                Ok(Some(response)) => response,
                Ok(None) | Err(_) => return true,
            };
            if response.compact_revision() > 0 {
                let compacted = StoreError::Compacted {
                    requested: self.next,
                    compacted: response.compact_revision(),
                };
                let _ = self.sender.send(Err(compacted)).await;
                return false;
            }
            if response.canceled() {
                return true;
            }
            for event in response.events() {
                let event = match to_event(&self.store.prefix, event) {
                    Ok(event) => event,
                    Err(error) => {
                        let _ = self.sender.send(Err(error)).await;
                        return false;
                    }
                };
                // A resumed watch may repeat what was already delivered.
                if event.revision() < self.next {
                    continue;
                }
                self.next = event.revision() + 1;
                if self.sender.send(Ok(event)).await.is_err() {
                    return false;
                }
            }
        }
    }
}

fn to_event(prefix: &str, event: &etcd_client::Event) -> Result<Event> {
    let kv = event
        .kv()
        .ok_or_else(|| StoreError::unavailable("etcd: watch event without a key"))?;
    let prev = event.prev_kv().map(|kv| to_kv(prefix, kv)).transpose()?;
    let kind = match event.event_type() {
        etcd_client::EventType::Put => EventKind::Put,
        etcd_client::EventType::Delete => EventKind::Delete,
    };
    let mut kv = to_kv(prefix, kv)?;
    // etcd attaches no previous value to a create.
    let prev = if kind == EventKind::Put && kv.version == 1 {
        None
    } else {
        prev
    };
    if kind == EventKind::Delete {
        kv.value = Bytes::new();
    }
    Ok(Event { kind, kv, prev })
}
