//! The rate limit: a client that sends faster than its rate is held back (nothing more is
//! read from it meanwhile, which TCP turns into backpressure), warned once, and cut off as
//! a flooder once it has been held back without a break for the flood timeout.

use std::time::Duration;

use shared::ClientMsg;
use shared::ErrorKind;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::Instant;
use tracing::{debug, info};

use super::ending::Ending;
use super::{Connection, seconds};
use crate::common::ClientId;

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
        match self.client.handle(id, reply, msg)? {
            None => Ok(()),
            Some(file) => self.transfer(id, reply, file).await,
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
        let policy = &self.client.ctx.policy;
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
