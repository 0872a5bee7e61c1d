//! The end-to-end tests, one module per area, linked into one test binary: a binary per
//! file would link the whole workspace seventeen times over.
//!
//! - `server_*`: a real server on 127.0.0.1 port 0 and clients over real sockets;
//!   `server_history` with its database kept across restarts, crashes and a full disk.
//! - `faults_*`: processes killed, links cut or frozen, disks filled; `faults_pending` a
//!   line typed into a frozen link, delivered once after the reconnect.
//! - `tui_*`: the real client in a real terminal (tmux); `tui_terminal` redrawing with
//!   Ctrl-L while messages arrive, and losing its terminal; `tui_discovery` on a LAN of the
//!   test's own, finding and joining servers with no address typed; `tui_history` scrolling
//!   through a long history, catching up after being cut off, searching, the unread line;
//!   `tui_habits` text whose width terminals disagree on, links, notifications, the
//!   input history across runs, the look and `/ignore` from the configuration file;
//!   `tui_rooms` several rooms at once in buffers, private conversations, topics, away,
//!   and every room joined again after a restart; `tui_auth` the client's key, the
//!   password asked, a registered nick refused to another key, and two owners' private
//!   messages shown again after a restart.
//! - `client_library`: the client library alone, over a stream that is not TCP.
//! - `client_history`: a program on the client library that keeps a room's timeline,
//!   against the server's history, over links the test cuts and holds down.
//! - `server_transport`: a whole session over a Unix socket, through both ends' stream
//!   seams (`chat_server::Transport`, `chat_client::Connector`).
//! - `cli_line_mode`: `chat-cli` against the server binary.
//! - `tls_trust`: TLS with trust on first use: first contact (chat-cli, and chat-tui's
//!   question), a replaced key, `--forget`, a relay and an impostor, plaintext against
//!   TLS, a restart with the same key.
//! - `lan_discovery`: the server announced on a LAN of the test's own (network namespaces
//!   on a bridge) and listed by `chat-cli list`.
//! - `protocol_python`: a Python client written from docs/PROTOCOL.md alone.
//! - `protocol_versions`: protocol versions 3 and 4 in raw frames.
//! - `server_auth`: the feature "auth" in raw frames: keys proved over the TLS session
//!   (a relay refused), the password and its attempt limit, registered nicks, uploads
//!   resumed only by their owner.
//! - `server_operators`: operators in raw frames: kick, bans (by nick and address, across
//!   a restart, expiring), unban, the topic lock, the message of the day, SIGHUP.
//! - `server_owned`: private messages kept for two owners alone.
//! - `server_rooms`: the feature "rooms": several rooms per connection, topics, away
//!   texts, and clients without the feature served as before.
//! - `bench_generator`: the load generator against our server and against ngIRCd.
//! - `config_files`: the configuration files of both binaries, and the server's data
//!   directory checked at start.

mod bench_generator;
mod cli_line_mode;
mod client_history;
mod client_library;
mod config_files;
mod faults_connections;
mod faults_disk;
mod faults_network;
mod faults_pending;
mod faults_processes;
mod lan_discovery;
mod protocol_python;
mod protocol_versions;
mod server_abuse;
mod server_auth;
mod server_bad_input;
mod server_binary;
mod server_chat;
mod server_fetched;
mod server_files;
mod server_history;
mod server_limits;
mod server_operators;
mod server_owned;
mod server_rooms;
mod server_transport;
mod tls_trust;
mod tui_auth;
mod tui_behaviour;
mod tui_chat;
mod tui_connection;
mod tui_discovery;
mod tui_files;
mod tui_habits;
mod tui_history;
mod tui_rooms;
mod tui_terminal;
