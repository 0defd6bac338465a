//! A private PostgreSQL server for tests that stop, kill and restart the
//! database: its own data directory and port, never the server the other
//! tests share.
//!
//! Needs the server's programs (`initdb`, `postgres`, from Debian's
//! `postgresql`), which `.ci/run` installs. PostgreSQL refuses to run as
//! root: when the tests run as root, the server runs as the `postgres`
//! account (`setpriv`, which replaces itself with the server, so the child
//! is the server).

use std::net::IpAddr;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use coreapp::config::{DbConfig, ServerDb};

pub struct PrivatePostgres {
    dir: tempfile::TempDir,
    port: u16,
    bind: IpAddr,
    child: Option<Child>,
    /// Serves TCP clients over TLS only.
    tls: bool,
}

impl PrivatePostgres {
    /// Creates a data directory and starts a server on `127.0.0.1` on a
    /// free port.
    pub fn start() -> anyhow::Result<PrivatePostgres> {
        Self::start_on(IpAddr::from([127, 0, 0, 1]))
    }

    /// As [`PrivatePostgres::start`], listening on `bind` only.
    pub fn start_on(bind: IpAddr) -> anyhow::Result<PrivatePostgres> {
        Self::start_with(bind, None)
    }

    /// A server on `127.0.0.1` that takes TCP clients over TLS only, with
    /// this certificate and key (PEM).
    pub fn start_tls(cert_pem: &str, key_pem: &str) -> anyhow::Result<PrivatePostgres> {
        Self::start_with(IpAddr::from([127, 0, 0, 1]), Some((cert_pem, key_pem)))
    }

    fn start_with(bind: IpAddr, tls: Option<(&str, &str)>) -> anyhow::Result<PrivatePostgres> {
        let dir = tempfile::Builder::new().prefix("wa-postgres-").tempdir()?;
        let data = dir.path().join("data");
        std::fs::create_dir(&data)?;
        if as_root() {
            // The server's account must reach its folder and own its data.
            set_mode(dir.path(), 0o755)?;
            let status = Command::new("chown").arg("postgres:postgres").arg(&data).arg(dir.path()).status()?;
            if !status.success() {
                bail!("cannot hand {} to the postgres account", data.display());
            }
        }
        let out = server_command("initdb")?
            .arg("-D")
            .arg(&data)
            .args(["-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8", "--no-instructions"])
            .output()
            .context("cannot run initdb")?;
        if !out.status.success() {
            bail!("initdb failed: {}", String::from_utf8_lossy(&out.stderr));
        }
        if let Some((cert, key)) = tls {
            std::fs::write(data.join("server.crt"), cert)?;
            std::fs::write(data.join("server.key"), key)?;
            set_mode(&data.join("server.key"), 0o600)?;
            std::fs::write(
                data.join("pg_hba.conf"),
                "local all all trust\nhostssl all all all trust\nhostnossl all all all reject\n",
            )?;
            if as_root() {
                let status = Command::new("chown")
                    .arg("postgres:postgres")
                    .args([data.join("server.crt"), data.join("server.key"), data.join("pg_hba.conf")])
                    .status()?;
                if !status.success() {
                    bail!("cannot hand the certificate to the postgres account");
                }
            }
        }
        let port = free_port(bind)?;
        let mut server = PrivatePostgres { dir, port, bind, child: None, tls: tls.is_some() };
        server.start_again()?;
        Ok(server)
    }

    /// A configuration for the server with its own database prefix.
    pub fn config(&self, name_prefix: &str) -> DbConfig {
        DbConfig::Pgsql(ServerDb {
            host: self.bind.to_string(),
            port: self.port,
            username: "postgres".into(),
            password: String::new(),
            name_prefix: name_prefix.into(),
            tls: Default::default(),
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Whether the server process runs.
    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// Starts the server again on the same data directory and port (after
    /// [`PrivatePostgres::stop`] or [`PrivatePostgres::kill`]); returns once
    /// it accepts connections.
    pub fn start_again(&mut self) -> anyhow::Result<()> {
        if self.child.is_some() {
            return Ok(());
        }
        let d = self.dir.path();
        let log = std::fs::OpenOptions::new().create(true).append(true).open(d.join("server.log"))?;
        let mut command = server_command("postgres")?;
        command
            .arg("-D")
            .arg(d.join("data"))
            .arg("-p")
            .arg(self.port.to_string())
            .arg("-c")
            .arg(format!("listen_addresses={}", self.bind))
            .arg("-c")
            .arg(format!("unix_socket_directories={}", d.display()))
            // Small and quick: the tests hold little data.
            .args(["-c", "max_connections=300", "-c", "shared_buffers=32MB"]);
        if self.tls {
            command.args(["-c", "ssl=on", "-c", "ssl_cert_file=server.crt", "-c", "ssl_key_file=server.key"]);
        }
        command
            .stdout(Stdio::from(log.try_clone()?))
            .stderr(log)
            // Its own process group: a kill takes the server and every
            // backend at once, as a crashed host would.
            .process_group(0);
        self.child = Some(command.spawn().context("cannot start postgres")?);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                self.child = None;
                bail!("postgres exited at start ({status}): {}", self.log_tail());
            }
            if self.log_says("database system is ready to accept connections")
                && std::net::TcpStream::connect_timeout(&(self.bind, self.port).into(), Duration::from_millis(200))
                    .is_ok()
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("postgres did not accept connections within 60 s: {}", self.log_tail());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Shuts the server down cleanly (SIGINT, PostgreSQL's fast shutdown:
    /// clients are disconnected, everything committed is kept) and waits for
    /// it to exit.
    pub fn stop(&mut self) {
        self.signal("INT");
    }

    /// Kills the server and its backends (SIGKILL), as a crashed host would
    /// leave them.
    pub fn kill(&mut self) {
        self.signal("KILL");
    }

    /// Stops the server and starts it listening on `bind` instead (a
    /// failover that moves the database to another address).
    pub fn move_to(&mut self, bind: IpAddr) -> anyhow::Result<()> {
        self.stop();
        self.bind = bind;
        self.start_again()
    }

    fn signal(&mut self, signal: &str) {
        if let Some(mut child) = self.child.take() {
            let group = format!("-{}", child.id());
            let _ = Command::new("kill").arg(format!("-{signal}")).arg("--").arg(&group).status();
            let _ = child.wait();
            if signal == "KILL" {
                // Backends still dying would hold the data directory.
                let deadline = Instant::now() + Duration::from_secs(10);
                while Command::new("kill")
                    .args(["-0", "--", &group])
                    .stderr(Stdio::null())
                    .status()
                    .is_ok_and(|s| s.success())
                    && Instant::now() < deadline
                {
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
        }
        // A new start must see its own "ready" line.
        let log = self.dir.path().join("server.log");
        if let Ok(text) = std::fs::read_to_string(&log) {
            let _ = std::fs::write(self.dir.path().join("server.old.log"), text);
            let _ = std::fs::write(&log, "");
        }
    }

    fn log_says(&self, what: &str) -> bool {
        std::fs::read_to_string(self.dir.path().join("server.log")).is_ok_and(|log| log.contains(what))
    }

    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(10)..].join("\n")
    }

    /// The data directory's parent (logs, socket).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A server program of the newest PostgreSQL installed, run as `postgres`
/// when the tests run as root.
fn server_command(name: &str) -> anyhow::Result<Command> {
    let program = program(name)?;
    if !as_root() {
        return Ok(Command::new(program));
    }
    let mut command = Command::new("setpriv");
    command.args(["--reuid=postgres", "--regid=postgres", "--init-groups", "--"]).arg(program);
    Ok(command)
}

/// `name` from the newest `/usr/lib/postgresql/<version>/bin`, or `PATH`.
fn program(name: &str) -> anyhow::Result<PathBuf> {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| Some((e.file_name().to_str()?.parse().ok()?, e.path().join("bin").join(name))))
        .filter(|(_, p): &(u32, PathBuf)| p.is_file())
        .collect();
    versions.sort();
    if let Some((_, path)) = versions.pop() {
        return Ok(path);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
        .with_context(|| format!("{name} is not installed (Debian package postgresql)"))
}

fn as_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.starts_with(b"0\n"))
}

fn set_mode(path: &Path, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
}

fn free_port(ip: IpAddr) -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind((ip, 0))?.local_addr()?.port())
}
