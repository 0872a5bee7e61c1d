//! What the client keeps on disk while it runs: each line sent, in the input history file
//! ([`crate::input_history`]), and the ignore list, in the configuration file
//! ([`crate::config_edit`]). The event loop hands it what each batch of events changed;
//! the app itself does no I/O.

use std::path::PathBuf;

use crate::app::App;
use crate::input_history::HistoryFile;

#[derive(Debug, Default)]
pub struct Keep {
    history: Option<HistoryFile>,
    config: Option<PathBuf>,
}

impl Keep {
    /// Opens the input history at `history` (if any) and gives its lines to `app`; the
    /// ignore list goes to `config`.
    pub fn open(app: &mut App, history: Option<PathBuf>, config: Option<PathBuf>) -> Self {
        let history = history.and_then(|path| {
            let (file, lines, notice) = HistoryFile::open(&path);
            app.restore_history(lines, notice);
            file
        });
        Self { history, config }
    }

    /// Writes what a batch of events changed: the lines sent, and the ignore list if
    /// `/ignore` or `/unignore` changed it. A failure is told once, and the input history
    /// is then no longer written.
    pub fn after_batch(&mut self, app: &mut App, ignore: Option<Vec<String>>) {
        let lines = app.take_unsaved_history();
        if let Some(file) = &mut self.history {
            for line in lines {
                if let Err(e) = file.append(&line) {
                    app.restore_history(
                        Vec::new(),
                        Some(format!("input history no longer kept: {e}")),
                    );
                    self.history = None;
                    break;
                }
            }
        }
        if let Some(nicks) = ignore {
            let saved = match &self.config {
                Some(path) => crate::config_edit::save_ignore(path, &nicks),
                None => Err("there is no configuration directory".into()),
            };
            if let Err(why) = saved {
                app.ignore_not_saved(&why);
            }
        }
    }
}
