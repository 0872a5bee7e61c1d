//! Whether a client is alive: when it last completed a frame, and whether the keepalive
//! pinged it since. Written by the connection at every frame and read by the keepalive
//! sweep, so it is an atomic beside the queue, not under the queue's lock.

use std::sync::atomic::{AtomicU64, Ordering};

/// The bit that says the client was pinged since it was last heard.
const PINGED: u64 = 1 << 63;

/// When the client last completed a frame (milliseconds on the registry's clock), with
/// [`PINGED`] set once the keepalive pinged it since.
#[derive(Debug, Default)]
pub(crate) struct Liveness(AtomicU64);

impl Liveness {
    /// Records that the client completed a frame at `now_ms` (the registry's clock).
    pub(crate) fn heard(&self, now_ms: u64) {
        self.0.store(now_ms & !PINGED, Ordering::Relaxed);
    }

    /// When the client was last heard from, and whether it was pinged since.
    pub(crate) fn last_heard(&self) -> (u64, bool) {
        let heard = self.0.load(Ordering::Relaxed);
        (heard & !PINGED, heard & PINGED != 0)
    }

    /// Marks the client as pinged, unless it was heard from meanwhile (then there is no
    /// need); `heard_ms` is what [`Liveness::last_heard`] returned.
    pub(crate) fn mark_pinged(&self, heard_ms: u64) -> bool {
        self.0
            .compare_exchange(
                heard_ms,
                heard_ms | PINGED,
                Ordering::Relaxed,
                Ordering::Relaxed,
            )
            .is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ping_is_marked_once_and_a_frame_clears_it() {
        let liveness = Liveness::default();
        liveness.heard(40);
        assert_eq!(liveness.last_heard(), (40, false));
        assert!(liveness.mark_pinged(40));
        assert_eq!(liveness.last_heard(), (40, true));
        // Marked already: the stored value is no longer the one read.
        assert!(!liveness.mark_pinged(40));
        // Heard from meanwhile: no need to mark.
        liveness.heard(50);
        assert!(!liveness.mark_pinged(40));
        assert_eq!(liveness.last_heard(), (50, false));
    }
}
