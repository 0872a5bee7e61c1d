//! The real binaries of the workspace, for tests that run them as a user would.

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

/// Path of the workspace binary `name` (`chat-server`, `chat-tui`, ...).
///
/// The first call builds every binary of the workspace with the same cargo and profile that
/// runs the tests, so `cargo test` alone is enough from a clean checkout.
pub fn binary(name: &str) -> PathBuf {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.args(["build", "--workspace", "--bins"]);
        if profile_dir().ends_with("release") {
            cmd.arg("--release");
        }
        let status = cmd.status().expect("run cargo build");
        assert!(status.success(), "cargo build --bins failed");
    });
    let path = profile_dir().join(name);
    assert!(path.exists(), "binary {} not found", path.display());
    path
}

/// `target/<profile>`: the test executable lives in `target/<profile>/deps/`.
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    exe.parent()
        .and_then(|deps| deps.parent())
        .expect("test binary lives in target/<profile>/deps")
        .to_path_buf()
}
