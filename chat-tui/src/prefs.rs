//! What the configuration file chooses for the whole run and both the app and the widgets
//! read: the theme, the timestamp format and the words that count as mentions.
//!
//! Set once at start ([`set`]), before the screen is drawn; without it (tests) the
//! defaults hold: the dark theme, `%H:%M`, no extra words. Only the first call counts,
//! so nothing changes under a drawn screen.

use std::sync::OnceLock;

use crate::timestamp::TimeFormat;
use crate::ui::theme::Theme;

/// How the screen looks and what it marks, for the whole run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Look {
    pub theme: Theme,
    pub timestamp: TimeFormat,
    /// Words that mark a line as a mention, besides this client's nick.
    pub highlight: Vec<String>,
}

impl Default for Look {
    fn default() -> Self {
        Self {
            theme: Theme::dark(),
            timestamp: TimeFormat::default(),
            highlight: Vec::new(),
        }
    }
}

static LOOK: OnceLock<Look> = OnceLock::new();

/// Sets the look for the run; only the first call counts.
pub fn set(look: Look) {
    let _ = LOOK.set(look);
}

/// The look of the run.
pub fn current() -> &'static Look {
    LOOK.get_or_init(Look::default)
}
