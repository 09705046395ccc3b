//! Test support for the crates that program nftables (cargo feature `testing`): network
//! namespaces that tests create and delete, a TCP "hello" server and client in them, the
//! kernel's view of a table, a recording stand-in for nft, a sync loop running on a task, and
//! the benches' helpers.
//!
//! Kernel tests need root and nft; [`Netns::unavailable`] and [`traffic_unavailable`] say why
//! not, so that a test can print the reason and skip.

pub mod bench;
mod fake_nft;
mod listing;
mod netns;
mod running_loop;
mod traffic;

pub use fake_nft::{FakeNft, Recorded};
pub use listing::kernel_table;
pub use netns::{netns_or_skip, run, Netns};
pub use running_loop::RunningLoop;
pub use traffic::{connect, connect_until_hello, connects, traffic_unavailable, Hello};
