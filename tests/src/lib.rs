//! Helpers for the end-to-end tests in `tests/tests/`.
//!
//! - [`auth`]: the feature "auth" in raw frames: a client key, a TLS session and its
//!   binding, a relay in the middle.
//! - [`binaries`]: paths of the workspace's real binaries, built on first use.
//! - [`client`]: an in-process server on port 0 and a client speaking the shared codec.
//! - [`files`]: seeded random files, and upload and download drivers for file transfer.
//! - [`history`]: the server binary on a data directory that outlives it, a client granted
//!   the feature "history", and the history requests.
//! - [`lan`]: a LAN of the test's own (network namespaces on a bridge) for finding servers
//!   by multicast DNS.
//! - [`library`]: waiting on the events of the client library (`chat_client`).
//! - [`probe`]: `chat-probe`, a client in a process of its own, and the signals, `/proc`
//!   figures, network namespaces and tmpfs mounts of the fault tests.
//! - [`proxy`]: a TCP relay that a test can cut, to break connections mid-transfer.
//! - [`tmux`]: the real binaries in a private tmux server, driven by keys and read from
//!   the screen.

pub mod auth;
pub mod binaries;
pub mod client;
pub mod files;
pub mod history;
pub mod lan;
pub mod library;
pub mod probe;
pub mod proxy;
pub mod tmux;
