//! `/last WORDS`: the lines of the buffer shown, as the client holds them (the room's
//! messages loaded, the app's own lines, private messages), that hold every word, listed
//! newest last. Nothing is asked of the server: `/search` is the server's search.

use chat_client::clock::hh_mm;

use super::App;
use super::pane::{ItemKind, Key};
use super::reading::pane_items;
use super::room::message_entry;
use super::scrollback::{Entry, EntryKind};

/// Most hits `/last` lists: the newest ones.
pub const MAX_LAST_HITS: usize = 20;

impl App {
    /// `/last WORDS`.
    pub(super) fn last(&mut self, words: &str) {
        let words: Vec<String> = words.split_whitespace().map(str::to_lowercase).collect();
        let mut hits: Vec<String> = Vec::new();
        let mut total = 0;
        {
            // Everything held, what `/clear` hid included.
            let (items, _) = pane_items(
                &self.reading,
                self.scrollback.entries(),
                Key::FIRST,
                self.history_info.is_some(),
                &self.nick,
                &self.ignored,
            );
            for item in items.iter().rev() {
                let entry = match item.kind {
                    ItemKind::Message(m) => message_entry(m, &self.room, &self.nick, &self.shares),
                    ItemKind::Local(e) => e.clone(),
                    ItemKind::Marker(_) => continue,
                };
                let Some(line) = said(&entry) else { continue };
                let lower = line.to_lowercase();
                if words.iter().all(|w| lower.contains(w.as_str())) {
                    total += 1;
                    if hits.len() < MAX_LAST_HITS {
                        let time = hh_mm(entry.time_ms, self.settings.utc_offset_secs);
                        hits.push(format!("  {time} {line}"));
                    }
                }
            }
        }
        let what = words.join(" ");
        let head = match total {
            0 => format!("/last {what}: nothing in {} holds it", self.buffer_title()),
            n if n > hits.len() => format!(
                "/last {what}: {n} lines in {}, the newest {}:",
                self.buffer_title(),
                hits.len()
            ),
            1 => format!("/last {what}: 1 line in {}:", self.buffer_title()),
            n => format!("/last {what}: {n} lines in {}:", self.buffer_title()),
        };
        self.info(head);
        for hit in hits.into_iter().rev() {
            self.info(hit);
        }
    }
}

/// A line as `/last` shows it: who said what; `None` for the app's own notes.
fn said(entry: &Entry) -> Option<String> {
    match &entry.kind {
        EntryKind::Chat {
            from, text, action, ..
        } => Some(if *action {
            format!("* {from} {text}")
        } else {
            format!("<{from}> {text}")
        }),
        EntryKind::Private { from, text, .. } => Some(format!("<{from}> {text}")),
        EntryKind::Notice(text) => Some(format!("-!- {text}")),
        EntryKind::Sending { .. } | EntryKind::Info(_) | EntryKind::Error(_) => None,
    }
}
