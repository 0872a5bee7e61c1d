//! The rate limit: a client that sends faster than its rate is held back (nothing more is
//! read from it meanwhile, which TCP turns into backpressure), warned once, and cut off as
//! a flooder once it has been held back without a break for the flood timeout.
//!
//! The history holds senders back the same way: a chat or an action waits for the
//! history's leave ([`History::admit`](crate::history::History::admit)) before it is
//! handled, and while the history's writer is behind, nothing more is read from the
//! sender. No warning: the pause is the disk's, not the client's doing.

use std::time::Duration;

use shared::ClientMsg;
use shared::ErrorKind;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::Instant;
use tracing::{debug, info};

use super::ending::Ending;
use super::{Connection, seconds, talks};
use crate::common::ClientId;
use crate::history::Permit;

impl<S: AsyncRead + AsyncWrite + Unpin + Send> Connection<S> {
    /// Waits `wait` for the rate, then acts on `msg`.
    pub(super) async fn throttle_then_handle(
        &mut self,
        id: ClientId,
        reply: Option<u32>,
        msg: ClientMsg,
        wait: Duration,
        throttled_since: &mut Option<Instant>,
    ) -> Result<(), Ending> {
        self.throttle(wait, throttled_since).await?;
        let permit = match talks(&msg) {
            true => Some(self.admit().await?),
            false => None,
        };
        match self.client.handle(id, reply, msg, permit)? {
            None => Ok(()),
            Some(later) => self.later(id, reply, later).await,
        }
    }

    /// Waits for the history's leave, then acts on `msg` (a chat or an action).
    pub(super) async fn admit_then_handle(
        &mut self,
        id: ClientId,
        reply: Option<u32>,
        msg: ClientMsg,
    ) -> Result<(), Ending> {
        let permit = self.admit().await?;
        match self.client.handle(id, reply, msg, Some(permit))? {
            None => Ok(()),
            Some(later) => self.later(id, reply, later).await,
        }
    }

    /// Waits for the history's leave to say something, reading nothing meanwhile while the
    /// writer goes on.
    async fn admit(&mut self) -> Result<Permit, Ending> {
        let client = &self.client;
        let (writer, stream) = (&mut self.writer, self.frames.get_mut());
        tokio::select! {
            permit = client.ctx.history.admit() => Ok(permit),
            stopped = writer.run(stream) => Err(Ending::stopped(stopped, &client.policy)),
        }
    }

    /// Holds a client that sends faster than its rate back for `wait` (reading nothing
    /// meanwhile), warning it when this starts, and cuts it off once it has been held
    /// back without a break for the flood timeout.
    async fn throttle(
        &mut self,
        wait: Duration,
        throttled_since: &mut Option<Instant>,
    ) -> Result<(), Ending> {
        let policy = &self.client.policy;
        let now = Instant::now();
        let rate = policy.msg_rate;
        let since = match *throttled_since {
            Some(since) => since,
            None => {
                *throttled_since = Some(now);
                let text = format!(
                    "you send faster than {rate} messages a second; the server slows you \
                     down, and disconnects you if this goes on for {}",
                    seconds(policy.flood_timeout)
                );
                debug!(peer = %self.client.peer, "rate limited");
                // A warning, not the answer to a request: the request is served later.
                self.client.refuse(None, ErrorKind::RateLimited, text)?;
                now
            }
        };
        if now + wait - since >= policy.flood_timeout {
            let text = format!(
                "disconnected for sending faster than {rate} messages a second for {}",
                seconds(policy.flood_timeout)
            );
            info!(peer = %self.client.peer, "disconnected a flooder");
            return Err(Ending::refused(ErrorKind::RateLimited, text, "flooding"));
        }
        tokio::select! {
            stopped = self.writer.run(self.frames.get_mut()) => Err(Ending::stopped(stopped, policy)),
            () = tokio::time::sleep(wait) => Ok(()),
        }
    }
}
