//! What can go wrong, in words for the operator (opening) and the client (queries).

use std::path::PathBuf;

use shared::ErrorKind;

/// Why the database could not be opened. Its text is one line that names the file.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The file is not an SQLite database, or is damaged.
    #[error("history database {path} is not a database this server can use ({detail})", path = .path.display())]
    Unusable { path: PathBuf, detail: String },
    /// An SQLite database of another program.
    #[error("history database {path} is another program's database; move it away or choose another data directory", path = .path.display())]
    NotOurs { path: PathBuf },
    /// Written by a newer version of this server.
    #[error("history database {path} was written by a newer version of this server (schema {found}; this one knows up to {known})", path = .path.display())]
    NewerSchema {
        path: PathBuf,
        found: i64,
        known: i64,
    },
    /// The file or its directory cannot be written.
    #[error("history database {path} cannot be written ({detail})", path = .path.display())]
    Unwritable { path: PathBuf, detail: String },
}

/// Why a query got no answer. Told to the client as [`ErrorKind::NoHistory`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HistoryError {
    /// The server keeps no history.
    #[error("this server keeps no history")]
    Off,
    /// The database could not be read.
    #[error("the server could not read its history: {0}")]
    Unreadable(String),
    /// The writer has not stored what the answer must hold in time.
    #[error("the server's history is busy storing; ask again in a moment")]
    Busy,
    /// Other queries had the server's turns for longer than a query waits for one.
    #[error("the server's history is busy answering others; ask again in a moment")]
    Crowded,
}

impl HistoryError {
    /// The error kind a client is told.
    pub fn kind(&self) -> ErrorKind {
        ErrorKind::NoHistory
    }

    /// The [`shared::ServerMsg::Error`] frame that tells it.
    pub fn to_msg(&self) -> shared::ServerMsg {
        shared::ServerMsg::Error {
            kind: self.kind(),
            text: self.to_string(),
        }
    }
}
