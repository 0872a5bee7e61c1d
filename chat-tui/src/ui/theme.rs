//! Colours: a dark and a light theme, and nick colours, chosen in the configuration file
//! and fixed for the run.
//!
//! The theme is set once at start with the rest of the look ([`crate::prefs`]); without
//! that (tests) it is the dark one. Widgets ask it for the colour of a role (`dim`,
//! `notice`, ...) instead of naming a colour.

use std::fmt;
use std::str::FromStr;

use ratatui::style::{Color, Style};
use serde::{Deserialize, Serialize};

/// The themes there are.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum ThemeName {
    /// For a dark background (the default).
    #[default]
    Dark,
    /// For a light background.
    Light,
}

impl FromStr for ThemeName {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "dark" => Ok(Self::Dark),
            "light" => Ok(Self::Light),
            other => Err(format!(
                "unknown theme \"{}\": the themes are dark and light",
                other.escape_debug()
            )),
        }
    }
}

impl TryFrom<String> for ThemeName {
    type Error = String;

    fn try_from(s: String) -> Result<Self, String> {
        s.parse()
    }
}

impl From<ThemeName> for String {
    fn from(name: ThemeName) -> Self {
        name.to_string()
    }
}

impl fmt::Display for ThemeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Dark => "dark",
            Self::Light => "light",
        })
    }
}

/// A colour as a configuration file names it: one of the 16 terminal colours by name
/// (`red`, `lightblue`, `darkgray`, ...), an index of the 256-colour palette (`"208"`),
/// or `#rrggbb`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ColorName(pub Color);

impl TryFrom<String> for ColorName {
    type Error = String;

    fn try_from(s: String) -> Result<Self, String> {
        // ratatui reads names ("red", "light-blue", "dark gray"), indexes and #rrggbb.
        Color::from_str(&s).map(Self).map_err(|_| {
            format!(
                "unknown colour \"{}\": a colour is a name (red, lightblue, darkgray, ...), \
                 an index 0 to 255, or #rrggbb",
                s.escape_debug()
            )
        })
    }
}

impl From<ColorName> for String {
    fn from(c: ColorName) -> Self {
        match c.0 {
            Color::Rgb(r, g, b) => format!("#{r:02x}{g:02x}{b:02x}"),
            Color::Indexed(i) => i.to_string(),
            other => other.to_string().to_lowercase(),
        }
    }
}

/// Colours by role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Theme {
    /// Times, brackets around nicks, hints: what should not catch the eye.
    pub dim: Color,
    /// One's own lines.
    pub own_text: Color,
    /// A line that names this client (or a highlight word).
    pub mention: Style,
    /// Private messages.
    pub private: Color,
    /// Joins, leaves, renames, offers.
    pub notice: Color,
    /// The client's own information lines.
    pub info: Color,
    /// Errors.
    pub error: Color,
    /// The status line.
    pub bar: Style,
    /// Nicks get one of these, the same for the same nick.
    pub nicks: Vec<Color>,
}

impl Theme {
    pub fn dark() -> Self {
        Self {
            dim: Color::DarkGray,
            own_text: Color::Gray,
            mention: Style::new().fg(Color::Black).bg(Color::Yellow),
            private: Color::Magenta,
            notice: Color::Cyan,
            info: Color::Blue,
            error: Color::Red,
            bar: Style::new().fg(Color::White).bg(Color::Blue),
            nicks: vec![
                Color::Red,
                Color::Green,
                Color::Yellow,
                Color::Blue,
                Color::Magenta,
                Color::Cyan,
                Color::LightRed,
                Color::LightGreen,
                Color::LightYellow,
                Color::LightBlue,
                Color::LightMagenta,
                Color::LightCyan,
            ],
        }
    }

    /// Dark colours only: the light ones vanish on a light background.
    pub fn light() -> Self {
        Self {
            dim: Color::DarkGray,
            own_text: Color::Black,
            mention: Style::new().fg(Color::Black).bg(Color::LightYellow),
            private: Color::Magenta,
            notice: Color::Blue,
            info: Color::DarkGray,
            error: Color::Red,
            bar: Style::new().fg(Color::White).bg(Color::Blue),
            nicks: vec![
                Color::Red,
                Color::Green,
                Color::Blue,
                Color::Magenta,
                Color::Cyan,
                Color::Indexed(94),
                Color::Indexed(22),
                Color::Indexed(54),
                Color::Indexed(25),
                Color::Indexed(130),
            ],
        }
    }

    /// The theme `name`, with `nicks` for the nick colours when given.
    pub fn new(name: ThemeName, nicks: Option<&[ColorName]>) -> Self {
        let mut theme = match name {
            ThemeName::Dark => Self::dark(),
            ThemeName::Light => Self::light(),
        };
        if let Some(nicks) = nicks.filter(|n| !n.is_empty()) {
            theme.nicks = nicks.iter().map(|c| c.0).collect();
        }
        theme
    }

    /// A stable colour for a nick: the same nick gets the same colour on every screen and
    /// every run (FNV-1a hash, not the randomly seeded std hasher).
    pub fn nick_color(&self, nick: &str) -> Color {
        let hash = nick.bytes().fold(0x811c_9dc5_u32, |h, b| {
            (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
        });
        self.nicks
            .get(hash as usize % self.nicks.len().max(1))
            .copied()
            .unwrap_or(Color::Reset)
    }
}

/// The theme of the run ([`crate::prefs`]).
pub fn theme() -> &'static Theme {
    &crate::prefs::current().theme
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn themes_and_colours_are_read_by_name_and_written_back_the_same() {
        assert_eq!("light".parse(), Ok(ThemeName::Light));
        assert!(
            "solarized"
                .parse::<ThemeName>()
                .unwrap_err()
                .contains("dark and light")
        );
        for name in ["red", "lightblue", "darkgray", "208", "#ff8800"] {
            let colour = ColorName::try_from(name.to_owned()).unwrap();
            assert_eq!(String::from(colour), name);
        }
        assert!(ColorName::try_from("reddish".to_owned()).is_err());
    }

    #[test]
    fn nick_colours_are_stable_and_can_be_chosen() {
        let dark = Theme::dark();
        assert_eq!(dark.nick_color("bob"), dark.nick_color("bob"));
        let own = [ColorName(Color::Indexed(208))];
        let theme = Theme::new(ThemeName::Light, Some(&own));
        assert_eq!(theme.nick_color("bob"), Color::Indexed(208));
        assert_eq!(theme.dim, Theme::light().dim);
        assert!(
            Theme::light().nicks.iter().all(|c| !matches!(
                c,
                Color::LightYellow | Color::Yellow | Color::White | Color::LightCyan
            )),
            "nothing pale on a light background"
        );
    }
}
