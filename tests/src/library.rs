//! Waiting on what the client library (`chat_client`) reports, for the tests that drive it.

use anyhow::{Context, bail};
use chat_client::Event;
use chat_client::transfer::TransferEvent;
use tokio::sync::mpsc;
use tokio::time::{Instant, timeout_at};

use crate::client::WAIT;

/// Reads events until one satisfies `pred`, within [`WAIT`]; returns it. The error names
/// `what` and every event seen meanwhile.
pub async fn until(
    events: &mut mpsc::Receiver<Event>,
    what: &str,
    mut pred: impl FnMut(&Event) -> bool,
) -> anyhow::Result<Event> {
    let deadline = Instant::now() + WAIT;
    let mut seen = Vec::new();
    loop {
        let event = timeout_at(deadline, events.recv())
            .await
            .with_context(|| format!("no {what} in time; saw {seen:?}"))?
            .with_context(|| format!("the session ended before {what}"))?;
        if pred(&event) {
            return Ok(event);
        }
        seen.push(event);
    }
}

/// Waits for transfer `id` to end; returns its last event.
pub async fn transfer_end(
    events: &mut mpsc::Receiver<Event>,
    id: u64,
) -> anyhow::Result<TransferEvent> {
    let end = until(events, "the end of the transfer", |e| {
        matches!(e, Event::Transfer(t) if t.id() == id && !matches!(
            t,
            TransferEvent::Started { .. } | TransferEvent::Progress { .. }
        ))
    })
    .await?;
    let Event::Transfer(end) = end else {
        bail!("not a transfer event: {end:?}");
    };
    Ok(end)
}
