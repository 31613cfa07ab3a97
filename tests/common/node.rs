//! The Node side of `tests/e2e` for Rust tests: its local OpenID provider (`provider.mjs`, on
//! `oidc-provider`) and its headless user agent (`ua.mjs`).
//!
//! They need `node` and `tests/e2e/node_modules` (`npm ci --prefix tests/e2e`); a test checks
//! [`missing`] first and, without them, says so and passes without running, so that
//! `cargo test` works on a machine without Node (scripts/test.sh always installs them). With
//! the `CI` variable set (as CI services set it), a missing Node side fails the test instead:
//! there a skip would hide that the tests did not run.

use std::{
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::mpsc,
    time::Duration,
};

/// How long the provider may take to listen.
const STARTUP: Duration = Duration::from_secs(20);

fn e2e_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/e2e")
}

/// Why the Node side cannot run here, if it cannot; with `CI` set, it must, and this panics.
pub fn missing() -> Option<String> {
    let why = why_missing()?;
    if std::env::var_os("CI").is_some_and(|v| !v.is_empty()) {
        panic!("{why}; CI is set, so the tests that need Node must run, not skip");
    }
    Some(why)
}

fn why_missing() -> Option<String> {
    let node = Command::new("node")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if !node.is_ok_and(|s| s.success()) {
        return Some("`node` is not on PATH".into());
    }
    if !e2e_dir().join("node_modules/oidc-provider").is_dir() {
        return Some("tests/e2e/node_modules is missing (run `npm ci --prefix tests/e2e`)".into());
    }
    None
}

/// `provider.mjs` on a free port, stopped when dropped, so a failing assertion leaves nothing
/// behind. What it logs goes to the test's output, shown when the test fails.
pub struct OidcProvider {
    child: Child,
    pub issuer: String,
}

impl OidcProvider {
    /// Starts the provider with one registered client, `client_id` with `client_secret`, and
    /// the other settings of `env` (see the head of `provider.mjs`).
    pub fn start(client_id: &str, client_secret: &str, env: &[(&str, &str)]) -> Self {
        let mut command = Command::new("node");
        command.arg(e2e_dir().join("provider.mjs")).arg("0");
        Self::spawn(command, client_id, client_secret, env)
    }

    /// [`start`](Self::start) for a provider that lives as long as the test process rather
    /// than one test (kept in a `static`, which is never dropped): it stops itself when its
    /// standard input closes, which the operating system does when the process exits, however
    /// it exits. Only the test binaries that share one provider call it.
    #[allow(dead_code)]
    pub fn start_for_process(client_id: &str, client_secret: &str, env: &[(&str, &str)]) -> Self {
        let module = url::Url::from_file_path(e2e_dir().join("provider.mjs")).expect("file URL");
        let mut command = Command::new("node");
        command
            .arg("--input-type=module")
            .arg("-e")
            .arg(
                "process.stdin.on('end', () => process.exit(0)); process.stdin.resume(); \
                 await import(process.argv[1]);",
            )
            .arg(module.as_str())
            .stdin(Stdio::piped());
        Self::spawn(command, client_id, client_secret, env)
    }

    fn spawn(
        mut command: Command,
        client_id: &str,
        client_secret: &str,
        env: &[(&str, &str)],
    ) -> Self {
        let mut child = command
            .env("UPSTREAM_CLIENT_ID", client_id)
            .env("UPSTREAM_CLIENT_SECRET", client_secret)
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("node starts provider.mjs");
        let stdout = child.stdout.take().expect("piped stdout");
        let stderr = child.stderr.take().expect("piped stderr");
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("{line}");
            }
        });
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(issuer) = line.strip_prefix("READY ") {
                    let _ = tx.send(issuer.to_owned());
                }
            }
        });
        // Built before the wait, so that a provider which never gets ready is stopped too.
        let mut provider = Self {
            child,
            issuer: String::new(),
        };
        provider.issuer = rx
            .recv_timeout(STARTUP)
            .unwrap_or_else(|_| panic!("provider.mjs did not print READY within {STARTUP:?}"));
        provider
    }
}

impl Drop for OidcProvider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Walks the user agent from `authorize_url` (through the consent page, when there is one, and
/// the provider's login and consent) until it is sent to `redirect_uri`, and returns that URL
/// without requesting it. It runs off the async runtime: the pages it walks may be served by
/// this very test.
pub async fn user_agent(authorize_url: &str, redirect_uri: &str) -> String {
    let mut command = Command::new("node");
    command
        .arg(e2e_dir().join("ua.mjs"))
        .arg(authorize_url)
        .arg(redirect_uri);
    // ua.mjs bounds its own walk (20 s).
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .expect("user agent thread")
        .expect("node runs ua.mjs");
    let trail = String::from_utf8_lossy(&output.stderr);
    eprint!("{trail}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let callback = stdout.lines().find_map(|l| l.strip_prefix("CALLBACK "));
    match callback {
        Some(callback) if output.status.success() => callback.to_owned(),
        _ => panic!("the user agent failed ({}):\n{trail}", output.status),
    }
}
