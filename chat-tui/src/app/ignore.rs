//! `/ignore NICK` and `/unignore NICK`: nicks whose room lines and private messages are
//! not shown, never ring and never notify. The list is kept in the configuration file
//! (`ignore`); changing it asks the event loop to write it back
//! ([`Command::SaveIgnore`], [`crate::config_edit`]).
//!
//! Nicks are compared as the server compares them: ignoring case ([`names::fold`]).

use chat_client::sanitize;
use shared::names;

use super::{App, Command};

/// Most nicks on the list: it is read on every line drawn.
pub const MAX_IGNORED: usize = 1000;

/// The ignored nicks, as typed, and their folded forms.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IgnoreList {
    nicks: Vec<String>,
    folded: Vec<String>,
}

impl IgnoreList {
    pub fn new(nicks: &[String]) -> Self {
        let mut list = Self::default();
        for nick in nicks.iter().take(MAX_IGNORED) {
            list.add(nick);
        }
        list
    }

    pub fn contains(&self, nick: &str) -> bool {
        !self.folded.is_empty() && self.folded.contains(&names::fold(nick))
    }

    /// Adds `nick`; false if it was there.
    fn add(&mut self, nick: &str) -> bool {
        if self.contains(nick) {
            return false;
        }
        self.folded.push(names::fold(nick));
        self.nicks.push(nick.to_owned());
        true
    }

    /// Removes `nick`; false if it was not there.
    fn remove(&mut self, nick: &str) -> bool {
        let folded = names::fold(nick);
        let Some(i) = self.folded.iter().position(|f| *f == folded) else {
            return false;
        };
        self.folded.remove(i);
        self.nicks.remove(i);
        true
    }

    pub fn nicks(&self) -> &[String] {
        &self.nicks
    }
}

impl App {
    /// `/ignore [NICK]`: without a nick, lists the ignored ones.
    pub(super) fn ignore(&mut self, nick: Option<String>) -> Vec<Command> {
        let Some(nick) = nick else {
            let list = self.ignored.nicks();
            self.info(if list.is_empty() {
                "nobody is ignored".into()
            } else {
                let shown: Vec<_> = list.iter().map(|n| sanitize::nick(n)).collect();
                format!("ignored: {}", shown.join(", "))
            });
            return Vec::new();
        };
        if self.ignored.nicks().len() >= MAX_IGNORED {
            self.error(format!("at most {MAX_IGNORED} nicks can be ignored"));
            return Vec::new();
        }
        if !self.ignored.add(&nick) {
            self.info(format!("{} is ignored already", sanitize::nick(&nick)));
            return Vec::new();
        }
        self.info(format!(
            "ignoring {}: their lines are hidden (/unignore {} shows them again)",
            sanitize::nick(&nick),
            sanitize::nick(&nick)
        ));
        vec![Command::SaveIgnore(self.ignored.nicks().to_vec())]
    }

    /// `/unignore NICK`.
    pub(super) fn unignore(&mut self, nick: String) -> Vec<Command> {
        if !self.ignored.remove(&nick) {
            self.info(format!("{} is not ignored", sanitize::nick(&nick)));
            return Vec::new();
        }
        self.info(format!("{} is no longer ignored", sanitize::nick(&nick)));
        vec![Command::SaveIgnore(self.ignored.nicks().to_vec())]
    }

    /// Writing the list into the configuration file failed.
    pub fn ignore_not_saved(&mut self, why: &str) {
        self.error(format!(
            "the ignore list holds for this run only: {}",
            sanitize::text(why)
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::*;
    use crate::app::scrollback::EntryKind;

    #[test]
    fn ignored_nicks_are_hidden_silent_and_saved() {
        let mut app = app();
        assert_eq!(
            submit(&mut app, "/ignore Bob"),
            [Command::SaveIgnore(vec!["Bob".into()])]
        );
        // Any case; nothing shown, no bell.
        assert!(app.update(chat("bob", "hey alice")).is_empty());
        assert!(
            !app.items().iter().any(|i| matches!(
                &i.kind,
                crate::app::pane::ItemKind::Message(m)
                    if matches!(&m.event, shared::RoomEvent::Said { from, .. } if from == "bob")
            )),
            "bob's line is hidden"
        );
        let pm = crate::app::Event::Server(shared::ServerMsg::Private {
            id: 7,
            time_ms: T,
            from: "BOB".into(),
            to: "alice".into(),
            text: "psst".into(),
        });
        assert!(app.update(pm).is_empty());
        assert!(!matches!(last(&app), EntryKind::Private { .. }));
        assert!(submit(&mut app, "/ignore bob").is_empty(), "already");
        assert_eq!(
            submit(&mut app, "/unignore bob"),
            [Command::SaveIgnore(Vec::new())]
        );
        assert_eq!(app.update(chat("bob", "hey alice")), [Command::Bell]);
        assert!(submit(&mut app, "/unignore bob").is_empty());
        submit(&mut app, "/ignore");
        assert!(matches!(last(&app), EntryKind::Info(t) if t == "nobody is ignored"));
    }
}
