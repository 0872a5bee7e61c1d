//! Helpers for the end-to-end tests in `tests/tests/`.
//!
//! - [`binaries`]: paths of the workspace's real binaries, built on first use.

pub mod binaries;
