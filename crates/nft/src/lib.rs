//! capstan-nft: the nftables plumbing shared by the node's packet-filtering parts (the
//! service proxy, NetworkPolicy enforcement). Each of them owns one table of family `ip` and
//! describes what it wants in it; this crate gets it there.
//!
//! - [`ruleset`]: the desired content of a table as plain data: chains with their rules, sets
//!   and maps with their elements;
//! - [`transaction`]: desired vs. last applied ruleset → nft commands (a full replace, or an
//!   incremental change touching only what differs);
//! - [`command`]: running the `nft` command (atomic transactions on stdin, small queries);
//! - [`sync`]: the loop keeping a table in step with a component's caches: batched syncs,
//!   back-off and full replace after a failure, a deleted table noticed and rewritten;
//! - [`protocol`]: the transport protocols, from their Kubernetes API spelling to nft's.
//!
//! With the `testing` feature, `testing` holds what the users' tests and benches share:
//! network namespaces, traffic through them, the kernel's view of a table, a stand-in for nft.

pub mod command;
pub mod protocol;
pub mod ruleset;
pub mod sync;
pub mod transaction;

#[cfg(any(test, feature = "testing"))]
pub mod testing;

pub use protocol::Protocol;
pub use ruleset::{BaseChain, Chain, Element, Ruleset, Set, SetSpec};
pub use sync::{spawn_change_notifier, sync_loop, RuleSource, SyncReport, Syncer};
pub use transaction::{plan, Transaction};

#[cfg(test)]
#[path = "kernel_tests.rs"]
mod kernel_tests;
