//! TEMPORARY: a copy of the browsing API's shape until `chat_client::discover` exists.
//! Deleted when it lands.

use std::net::SocketAddr;
use std::time::Duration;

pub const MDNS_PORT: u16 = 5353;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundServer {
    pub name: String,
    pub addr: SocketAddr,
    pub people: u32,
    pub version: u16,
    pub fingerprint: Option<String>,
}

#[derive(Debug, Clone)]
pub struct BrowseOptions {
    pub wait: Duration,
    pub mdns_port: u16,
}

impl Default for BrowseOptions {
    fn default() -> Self {
        Self {
            wait: Duration::from_secs(2),
            mdns_port: MDNS_PORT,
        }
    }
}

#[derive(Debug)]
pub enum DiscoverError {
    Unavailable,
}

impl std::fmt::Display for DiscoverError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("browsing is not built yet")
    }
}

impl std::error::Error for DiscoverError {}

pub async fn browse(_options: BrowseOptions) -> Result<Vec<FoundServer>, DiscoverError> {
    Err(DiscoverError::Unavailable)
}
