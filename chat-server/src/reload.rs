//! Reloading the configuration while the server runs (SIGHUP, in the binary): the
//! operators, the message of the day, the password, the bans' file (edited by hand), and
//! the rules of
//! the connections accepted from then on (rates, queue size, login time). No connection is
//! dropped. The settings the running server was built around (the address, the data
//! directory, TLS, the caps of the connections and rooms, the history, the files) keep
//! their values until a restart, and the reload says which of them changed.
//!
//! A reload is all or nothing: if the message of the day or the bans' file cannot be
//! read, nothing changes and the reason is returned, in one line.

use std::sync::{Arc, Mutex, PoisonError};

use crate::Config;
use crate::auth::Auth;
use crate::bans::Bans;
use crate::common::now_ms;
use crate::conn::{Live, LiveCell};
use crate::history::History;

/// A handle that reloads a running server's configuration; see the module's doc. Made
/// by [`Opened::reloader`](crate::Opened::reloader), before the server runs; cheap to
/// clone.
#[derive(Debug, Clone)]
pub struct Reloader {
    live: Arc<LiveCell>,
    bans: Arc<Bans>,
    auth: Arc<Auth>,
    history: History,
    /// The configuration in force.
    running: Arc<Mutex<Config>>,
}

/// What a reload changed, for the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reloaded {
    pub operators: usize,
    /// Whether there is a message of the day.
    pub motd: bool,
    /// Whether clients must give a password.
    pub password: bool,
    pub bans: usize,
    /// The settings that changed in the file but take effect only at the next restart.
    pub need_restart: Vec<&'static str>,
}

impl Reloader {
    pub(crate) fn new(
        live: Arc<LiveCell>,
        bans: Arc<Bans>,
        auth: Arc<Auth>,
        history: History,
        config: Config,
    ) -> Self {
        Self {
            live,
            bans,
            auth,
            history,
            running: Arc::new(Mutex::new(config)),
        }
    }

    /// Puts `config` in force, as far as a running server can (see the module's doc).
    ///
    /// # Errors
    ///
    /// The message of the day or the bans' file cannot be used; nothing changed.
    pub fn reload(&self, config: Config) -> Result<Reloaded, String> {
        let mut running = self.running.lock().unwrap_or_else(PoisonError::into_inner);
        let (config, need_restart) = keep_fixed(&running, config);
        let live = Live::new(&config, &self.history)?;
        let bans = self.bans.reload(now_ms()).map_err(|e| e.to_string())?;
        let reloaded = Reloaded {
            operators: live.operators.len(),
            motd: live.motd.is_some(),
            password: config.password.is_some(),
            bans,
            need_restart,
        };
        self.live.set(live);
        self.auth.set_password(config.password.clone());
        *running = config;
        Ok(reloaded)
    }
}

/// `new`, with the settings that only a restart changes put back as they run
/// (`running`), and the names of those that differed.
fn keep_fixed(running: &Config, mut new: Config) -> (Config, Vec<&'static str>) {
    let mut changed = Vec::new();
    macro_rules! fixed {
        ($($field:ident),* $(,)?) => {$(
            if new.$field != running.$field {
                changed.push(stringify!($field));
                new.$field = running.$field.clone();
            }
        )*};
    }
    // The keepalive's timer, the caps the accept loop and the registry were made with,
    // the files' store, the announcement and the history: built once, at start. (Not
    // `flush_timeout`, which is no setting.)
    fixed!(
        max_connections,
        max_connections_per_ip,
        max_rooms,
        ping_interval,
        idle_timeout,
        data_dir,
        max_file_size,
        quota,
        upload_grace,
        upload_stall,
        disk_reserve,
        announce,
        name,
        mdns_port,
        history,
        history_max_age,
        history_max_per_room,
        history_backlog,
    );
    (new, changed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn reloader(config: &Config) -> Reloader {
        let history = History::off();
        let live = Live::new(config, &history).unwrap();
        Reloader::new(
            Arc::new(LiveCell::new(live)),
            Arc::new(Bans::in_memory()),
            Arc::default(),
            history,
            config.clone(),
        )
    }

    #[test]
    fn a_reload_changes_what_may_change_and_names_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let config = Config::default();
        let reloader = reloader(&config);
        let key = shared::auth::PublicKey::from_bytes(&[3; 32]).unwrap();
        let motd = dir.path().join("motd.txt");
        std::fs::write(&motd, "welcome\n\n").unwrap();
        let new = Config {
            operators: vec![key],
            motd: Some(motd.clone()),
            msg_rate: 3,
            password: Some(crate::auth::Password::hash("door").unwrap()),
            max_rooms: 5,
            data_dir: "elsewhere".into(),
            ..config.clone()
        };
        let reloaded = reloader.reload(new).unwrap();
        assert_eq!(reloaded.need_restart, ["max_rooms", "data_dir"]);
        assert_eq!((reloaded.operators, reloaded.motd), (1, true));
        let live = reloader.live.get();
        assert!(live.is_operator(Some(&key)));
        assert_eq!(live.motd.as_deref(), Some("welcome"));
        assert_eq!(live.policy.msg_rate, 3);
        assert!(reloaded.password && reloader.auth.needs_password());
        // What needs a restart stays as it runs, and is not named again.
        let running = reloader.running.lock().unwrap().clone();
        assert_eq!(running.max_rooms, config.max_rooms);
        let again = Config {
            idle_timeout: Duration::from_secs(1),
            ..running
        };
        assert_eq!(
            reloader.reload(again).unwrap().need_restart,
            ["idle_timeout"]
        );
    }

    #[test]
    fn a_bad_reload_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let reloader = reloader(&Config::default());
        let motd = dir.path().join("motd.txt");
        std::fs::write(&motd, vec![b'x'; crate::config::MAX_MOTD_BYTES + 1]).unwrap();
        let key = shared::auth::PublicKey::from_bytes(&[3; 32]).unwrap();
        let bad = Config {
            operators: vec![key],
            motd: Some(motd.clone()),
            ..Config::default()
        };
        let error = reloader.reload(bad).unwrap_err();
        assert!(error.contains("is larger than 4096 bytes"), "{error}");
        assert!(!reloader.live.get().is_operator(Some(&key)));
        let missing = Config {
            motd: Some(dir.path().join("nowhere")),
            ..Config::default()
        };
        let error = reloader.reload(missing).unwrap_err();
        assert!(
            error.starts_with("cannot read the message of the day '"),
            "{error}"
        );
    }
}
