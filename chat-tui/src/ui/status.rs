//! The status line: connection state, nick and buffer, the other buffers with activity,
//! members, server, running transfers, messages waiting to be sent.
//!
//! The buffers with activity read `2:dev(3) 4:@bob(1!)`: the buffer's number (Alt-2),
//! its name (`@` for a private conversation), how many messages arrived since it was last
//! shown, and `!` when some of them name you or are private messages to you (those are
//! drawn in yellow, private ones in magenta).
//!
//! When the line is too narrow for everything, the items give way in order of importance,
//! the least important first (the server's address, then the member count, the transfer
//! count, the quiet buffers with activity), each first taking a shorter form where it has
//! one, so that what is left is never cut in the middle: "177 to send" is shown whole or
//! not at all.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Widget;
use unicode_width::UnicodeWidthStr;

use crate::app::{Activity, App, ConnState, Target, members_count};
use chat_client::sanitize;

#[derive(Debug)]
pub struct StatusLine<'a> {
    app: &'a App,
}

impl<'a> StatusLine<'a> {
    pub fn new(app: &'a App) -> Self {
        Self { app }
    }
}

/// One item of the status line.
struct Item {
    full: Vec<Span<'static>>,
    /// A shorter form, and the step at which it is taken.
    short: Option<(u8, Vec<Span<'static>>)>,
    /// The step at which the item gives way; `None`: never.
    gone: Option<u8>,
}

impl Item {
    fn new(gone: Option<u8>, full: Vec<Span<'static>>) -> Self {
        Self {
            full,
            short: None,
            gone,
        }
    }

    fn or_short(mut self, step: u8, short: Vec<Span<'static>>) -> Self {
        self.short = Some((step, short));
        self
    }
}

/// Characters of the hosted server's key fingerprint the status line shows: its first
/// four groups.
const KEY_SHOWN_CHARS: usize = 19;

/// The steps in which items give way on a narrow line, the first first.
mod step {
    pub const SERVER_SHORT: u8 = 0;
    pub const SERVER: u8 = 1;
    pub const MEMBERS: u8 = 2;
    pub const AWAY_SHORT: u8 = 3;
    pub const TRANSFERS_SHORT: u8 = 4;
    pub const STATE_SHORT: u8 = 5;
    pub const ACTIVITY_SHORT: u8 = 6;
    pub const AWAY: u8 = 7;
    pub const TRANSFERS: u8 = 8;
    pub const QUIET_ACTIVITY: u8 = 9;
    pub const PLACE_SHORT: u8 = 10;
    pub const ACTIVITY: u8 = 11;
    pub const NICK: u8 = 12;
}

fn width(spans: &[Span<'_>]) -> usize {
    spans.iter().map(|s| s.content.width()).sum()
}

/// The separator between items.
const SEP: &str = " | ";

/// The buffers with activity, as `2:dev(3) 4:@bob(1!)`; `only_highlighted`: those naming
/// this client or private only.
fn activity_spans(app: &App, bar: Style, only_highlighted: bool) -> Vec<Span<'static>> {
    let mut spans = Vec::new();
    for (i, buffer) in app.buffers.iter().enumerate() {
        let Activity {
            messages,
            mentions,
            private,
        } = buffer.activity;
        if i == app.active || messages == 0 {
            continue;
        }
        let highlighted = buffer.activity.highlighted();
        if only_highlighted && !highlighted {
            continue;
        }
        let style = if private > 0 {
            bar.fg(Color::LightMagenta).add_modifier(Modifier::BOLD)
        } else if mentions > 0 {
            bar.fg(Color::Yellow).add_modifier(Modifier::BOLD)
        } else {
            bar
        };
        if !spans.is_empty() {
            spans.push(Span::styled(" ", bar));
        }
        let mark = if highlighted { "!" } else { "" };
        spans.push(Span::styled(
            format!(
                "{}:{}({messages}{mark})",
                i + 1,
                sanitize::nick(&buffer.target.label())
            ),
            style,
        ));
    }
    spans
}

impl StatusLine<'_> {
    /// Every item, in the order of the line.
    fn items(&self, bar: Style) -> Vec<Item> {
        let app = self.app;
        let (state, short_state, state_style) = match &app.conn {
            ConnState::Connected => ("connected".to_owned(), None, bar.fg(Color::LightGreen)),
            ConnState::Disconnected { reason } => (
                format!("disconnected: {}", sanitize::text(reason)),
                Some("disconnected".to_owned()),
                bar.fg(Color::White).bg(Color::Red),
            ),
            ConnState::Reconnecting {
                attempt,
                delay,
                error,
            } => (
                format!(
                    "reconnecting in {:.1}s (attempt {attempt}): {}",
                    delay.as_secs_f32(),
                    sanitize::text(error)
                ),
                Some(format!("reconnecting in {:.1}s", delay.as_secs_f32())),
                bar.fg(Color::Black).bg(Color::Yellow),
            ),
        };
        let state_style = state_style.add_modifier(Modifier::BOLD);
        let mut state_item = Item::new(None, vec![Span::styled(format!(" {state} "), state_style)]);
        if let Some(short) = short_state {
            state_item = state_item.or_short(
                step::STATE_SHORT,
                vec![Span::styled(format!(" {short} "), state_style)],
            );
        }
        // An operator's nick is marked as IRC marks one.
        let operator = if app.standing.operator { "@" } else { "" };
        let nick = Span::styled(
            format!("{operator}{}", sanitize::nick(&app.nick)),
            bar.add_modifier(Modifier::BOLD),
        );
        let number = if app.buffers.len() > 1 {
            format!("{}:", app.active + 1)
        } else {
            String::new()
        };
        let place = match app.target() {
            Target::Room(room) if app.joined => format!(" in {number}#{}", sanitize::nick(room)),
            Target::Room(room) => format!(" {number}#{} (left)", sanitize::nick(room)),
            Target::Query(peer) => format!(" to {number}@{}", sanitize::nick(peer)),
        };
        let mut items = vec![
            state_item,
            Item::new(
                Some(step::NICK),
                vec![
                    Span::styled(" ", bar),
                    nick.clone(),
                    Span::styled(place, bar),
                ],
            )
            .or_short(step::PLACE_SHORT, vec![Span::styled(" ", bar), nick]),
        ];
        if let Some(away) = &app.away {
            items.push(
                Item::new(
                    Some(step::AWAY),
                    vec![Span::styled(format!("away: {away}"), bar.fg(Color::Gray))],
                )
                .or_short(
                    step::AWAY_SHORT,
                    vec![Span::styled("away", bar.fg(Color::Gray))],
                ),
            );
        }
        let activity = activity_spans(app, bar, false);
        if !activity.is_empty() {
            let highlighted = activity_spans(app, bar, true);
            // What names the user, or is private, gives way last.
            let item = if highlighted.is_empty() {
                Item::new(Some(step::QUIET_ACTIVITY), activity)
            } else {
                Item::new(Some(step::ACTIVITY), activity)
                    .or_short(step::ACTIVITY_SHORT, highlighted)
            };
            items.push(item);
        }
        if app.query.is_none() && app.joined {
            items.push(Item::new(
                Some(step::MEMBERS),
                vec![Span::styled(members_count(app.member_total), bar)],
            ));
        }
        let server = match &app.settings.hosting {
            Some(addr) => format!("hosting on {addr}"),
            None => app.settings.server.clone(),
        };
        let item = match &app.settings.hosting_key {
            // The key's first groups, enough to tell it at a glance; the whole key is in
            // the pane, said at start.
            Some(key) => {
                let start: String = key.chars().take(KEY_SHOWN_CHARS).collect();
                let long = format!("{server}, TLS key {start}…");
                Item::new(Some(step::SERVER), vec![Span::styled(long, bar)])
                    .or_short(step::SERVER_SHORT, vec![Span::styled(server, bar)])
            }
            None => Item::new(Some(step::SERVER), vec![Span::styled(server, bar)]),
        };
        items.push(item);
        if !app.transfers.is_empty() {
            let style = bar.fg(Color::LightCyan);
            items.push(
                Item::new(
                    Some(step::TRANSFERS),
                    vec![Span::styled(
                        match app.transfers.len() {
                            1 => "1 transfer".to_owned(),
                            n => format!("{n} transfers"),
                        },
                        style,
                    )],
                )
                .or_short(
                    step::TRANSFERS_SHORT,
                    vec![Span::styled(format!("{}⇅", app.transfers.len()), style)],
                ),
            );
        }
        if app.waiting > 0 {
            items.push(Item::new(
                None,
                vec![Span::styled(
                    format!("{} to send", app.waiting),
                    bar.fg(Color::Yellow),
                )],
            ));
        }
        if app.queued > 0 {
            items.push(Item::new(
                None,
                vec![Span::styled(
                    format!("{} queued", app.queued),
                    bar.fg(Color::Yellow),
                )],
            ));
        }
        items
    }
}

/// Which form each item takes in `room` cells: `Some(false)` full, `Some(true)` short,
/// `None` gone; steps are taken in order until the line fits.
fn fit(items: &[Item], room: usize) -> Vec<Option<bool>> {
    let mut forms: Vec<Option<bool>> = vec![Some(false); items.len()];
    let total = |forms: &[Option<bool>]| {
        let mut shown: usize = 0;
        let mut cells = 0;
        for (item, form) in items.iter().zip(forms) {
            let spans = match form {
                Some(false) => &item.full,
                Some(true) => item.short.as_ref().map_or(&item.full, |(_, s)| s),
                None => continue,
            };
            cells += width(spans);
            shown += 1;
        }
        // The nick follows the state directly; a separator before each item after them.
        cells + SEP.width() * shown.saturating_sub(2)
    };
    let mut steps: Vec<(u8, usize, bool)> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        if let Some((at, _)) = item.short {
            steps.push((at, i, true));
        }
        if let Some(at) = item.gone {
            steps.push((at, i, false));
        }
    }
    steps.sort_by_key(|&(at, i, _)| (at, std::cmp::Reverse(i)));
    for (_, i, short) in steps {
        if total(&forms) <= room {
            break;
        }
        forms[i] = if short { Some(true) } else { None };
    }
    forms
}

impl Widget for StatusLine<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let bar: Style = super::theme::theme().bar;
        let items = self.items(bar);
        let forms = fit(&items, usize::from(area.width));
        let mut spans = Vec::new();
        let mut shown = 0;
        for (item, form) in items.into_iter().zip(forms) {
            let Some(short) = form else { continue };
            if shown >= 2 {
                spans.push(Span::styled(SEP, bar));
            }
            shown += 1;
            let Item { full, short: s, .. } = item;
            spans.extend(match s {
                Some((_, s)) if short => s,
                _ => full,
            });
        }
        buf.set_style(area, bar);
        Line::from(spans).render(area, buf);
    }
}
