//! Room topics (feature `rooms`): kept in the `topics` table, one row per room, and in
//! memory for the registry, which reads a room's topic when the room opens and must not
//! wait for the disk under its lock.
//!
//! Memory is bounded: at most [`MAX_KEPT_TOPICS`] topics are kept; setting one more
//! forgets the topic set longest ago (in memory and in the file). A room that is open
//! keeps its topic in the registry whatever happens here.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use rusqlite::Connection;

use super::rows::int;

/// Most topics the history keeps (about 600 bytes each at most: a topic of
/// [`MAX_TOPIC_BYTES`](shared::limits::MAX_TOPIC_BYTES), a nick and a room key), so a few
/// megabytes at most whatever clients do.
pub const MAX_KEPT_TOPICS: usize = 10_000;

/// A room's topic: what it says, who set it, and when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topic {
    pub text: String,
    pub by: String,
    /// Milliseconds since the Unix epoch.
    pub time_ms: u64,
}

/// The topics kept, by room key.
#[derive(Debug, Default)]
pub(super) struct Kept {
    topics: Mutex<HashMap<String, Topic>>,
}

impl Kept {
    pub(super) fn new(topics: HashMap<String, Topic>) -> Self {
        Self {
            topics: Mutex::new(topics),
        }
    }

    pub(super) fn get(&self, room_key: &str) -> Option<Topic> {
        self.lock().get(room_key).cloned()
    }

    /// Keeps `topic` for the room (`None`: forgets it). Returns the room whose topic was
    /// forgotten to stay within [`MAX_KEPT_TOPICS`], for the file to forget it too.
    pub(super) fn set(&self, room_key: &str, topic: Option<Topic>) -> Option<String> {
        let mut topics = self.lock();
        let Some(topic) = topic else {
            topics.remove(room_key);
            return None;
        };
        topics.insert(room_key.to_owned(), topic);
        if topics.len() <= MAX_KEPT_TOPICS {
            return None;
        }
        // A scan of the kept topics, only when they are at the bound.
        let oldest = topics
            .iter()
            .filter(|(key, _)| *key != room_key)
            .min_by_key(|(_, t)| t.time_ms)
            .map(|(key, _)| key.clone())?;
        topics.remove(&oldest);
        Some(oldest)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Topic>> {
        // A map insert or remove leaves the map whole even if a thread panicked.
        self.topics.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The topics stored in the file, by room key: the newest [`MAX_KEPT_TOPICS`].
pub(super) fn load(conn: &Connection) -> rusqlite::Result<HashMap<String, Topic>> {
    let mut stmt = conn.prepare(
        "SELECT rooms.key, topics.text, topics.nick, topics.time_ms
         FROM topics JOIN rooms ON rooms.id = topics.room
         ORDER BY topics.time_ms DESC LIMIT ?1",
    )?;
    let limit = int(MAX_KEPT_TOPICS as u64);
    stmt.query_map([limit], |r| {
        Ok((
            r.get::<_, String>(0)?,
            Topic {
                text: r.get(1)?,
                by: r.get(2)?,
                time_ms: u64::try_from(r.get::<_, i64>(3)?).unwrap_or(0),
            },
        ))
    })?
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topic(time_ms: u64) -> Topic {
        Topic {
            text: format!("set at {time_ms}"),
            by: "ann".into(),
            time_ms,
        }
    }

    #[test]
    fn the_oldest_topic_is_forgotten_beyond_the_bound() {
        let kept = Kept::default();
        for n in 0..MAX_KEPT_TOPICS as u64 {
            assert_eq!(kept.set(&format!("room{n}"), Some(topic(n + 10))), None);
        }
        // A room set again keeps its place and forgets nothing.
        assert_eq!(kept.set("room5", Some(topic(5_000_000))), None);
        assert_eq!(kept.set("new", Some(topic(1))), Some("room0".into()));
        assert_eq!(kept.get("room0"), None);
        assert_eq!(kept.get("new"), Some(topic(1)));
        assert_eq!(kept.set("new", None), None);
        assert_eq!(kept.get("new"), None);
    }
}
