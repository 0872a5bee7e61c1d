//! Turns: at most [`QUERIES_AT_ONCE`](super::QUERIES_AT_ONCE) history queries run at once
//! on the whole server. Without it, every client could have a search running (each up to
//! 50 ms of a core, ten a second), each on a thread of its own, up to the blocking pool's
//! hundreds, with a database connection opened for each. Waiting for a turn is fair (first
//! come, first served) and bounded in time: a query that does not get one answers
//! [`HistoryError::Crowded`]. A connection asks one query at a time, so the waiting are at
//! most the connections.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::HistoryError;

/// The turns to run a query.
#[derive(Debug)]
pub(super) struct Turns {
    slots: Arc<Semaphore>,
    /// The longest wait for a turn.
    wait: Duration,
}

/// A query's turn, given back when dropped.
#[derive(Debug)]
pub(super) struct Turn {
    _slot: OwnedSemaphorePermit,
}

impl Turns {
    /// `at_once` turns, waited for at most `wait`.
    pub(super) fn new(at_once: usize, wait: Duration) -> Self {
        Self {
            slots: Arc::new(Semaphore::new(at_once)),
            wait,
        }
    }

    /// Waits for a turn; [`HistoryError::Crowded`] if none comes within the wait.
    pub(super) async fn take(&self) -> Result<Turn, HistoryError> {
        match tokio::time::timeout(self.wait, Arc::clone(&self.slots).acquire_owned()).await {
            Ok(Ok(slot)) => Ok(Turn { _slot: slot }),
            // The semaphore is never closed; a timeout is the crowd.
            Ok(Err(_)) | Err(_) => Err(HistoryError::Crowded),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{History, HistorySettings, QUERIES_AT_ONCE};
    use super::*;
    use shared::{Anchor, ServerMsg};

    /// While every turn is taken, a query waits without touching the database; once a
    /// turn is given back, it runs.
    #[tokio::test]
    async fn a_query_runs_only_in_its_turn() {
        let data = tempfile::tempdir().unwrap();
        let settings = HistorySettings::new(data.path().join("h.sqlite3"));
        let (history, _) = History::open(settings).unwrap();
        let inner = history.inner.as_ref().unwrap();
        let mut held = Vec::new();
        for _ in 0..QUERIES_AT_ONCE {
            held.push(inner.turns.take().await.unwrap());
        }
        let asking = tokio::spawn({
            let history = history.clone();
            async move {
                history
                    .page("lobby", "lobby", Anchor::Latest, 10, false)
                    .await
            }
        });
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(!asking.is_finished(), "answered without a turn");
        held.pop();
        let page = tokio::time::timeout(Duration::from_secs(5), asking)
            .await
            .expect("answered once a turn is free")
            .unwrap();
        assert!(
            matches!(page, Ok(ServerMsg::HistoryPage { .. })),
            "{page:?}"
        );
        drop(held);
        history.close().await;
    }

    /// A query that gets no turn within the wait is told the server is crowded; one
    /// given back within the wait goes to the first in line.
    #[tokio::test]
    async fn a_turn_is_waited_for_a_bounded_time() {
        let wait = Duration::from_millis(200);
        let turns = Turns::new(1, wait);
        let first = turns.take().await.unwrap();
        let started = tokio::time::Instant::now();
        assert_eq!(turns.take().await.err(), Some(HistoryError::Crowded));
        assert!(started.elapsed() >= wait);

        let waiting = turns.take();
        tokio::pin!(waiting);
        assert!(futures::poll!(waiting.as_mut()).is_pending());
        drop(first);
        assert!(waiting.await.is_ok(), "the turn given back is taken");
    }
}
