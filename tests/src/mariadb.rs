//! A private MariaDB server for tests and benchmarks that stop, kill and
//! restart the database: its own data directory and port, never the server
//! the other tests share.
//!
//! Needs the server's programs (`mariadbd`, `mariadb-install-db`, from
//! Debian's `mariadb-server`), which `.ci/run` installs. When run as root
//! the server runs as root too (it is a child of the test, nothing else).

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use coreapp::config::DbConfig;

/// Lets the tests in as `root` with no password over TCP from anywhere on
/// loopback. Runs at every start (idempotent).
const INIT_SQL: &str = "CREATE USER IF NOT EXISTS 'root'@'%' IDENTIFIED BY '';\n\
                        GRANT ALL PRIVILEGES ON *.* TO 'root'@'%' WITH GRANT OPTION;\n";

pub struct PrivateMariadb {
    dir: tempfile::TempDir,
    port: u16,
    bind: IpAddr,
    child: Option<Child>,
    /// Serves TCP clients over TLS only.
    tls: bool,
}

impl PrivateMariadb {
    /// Creates a data directory and starts a server on `127.0.0.1` on a
    /// free port.
    pub fn start() -> anyhow::Result<PrivateMariadb> {
        Self::start_on(IpAddr::from([127, 0, 0, 1]))
    }

    /// As [`PrivateMariadb::start`], listening on `bind` only.
    pub fn start_on(bind: IpAddr) -> anyhow::Result<PrivateMariadb> {
        Self::start_with(bind, None)
    }

    /// A server on `127.0.0.1` that takes TCP clients over TLS only, with
    /// this certificate and key (PEM).
    pub fn start_tls(cert_pem: &str, key_pem: &str) -> anyhow::Result<PrivateMariadb> {
        Self::start_with(IpAddr::from([127, 0, 0, 1]), Some((cert_pem, key_pem)))
    }

    fn start_with(bind: IpAddr, tls: Option<(&str, &str)>) -> anyhow::Result<PrivateMariadb> {
        let dir = tempfile::Builder::new().prefix("wa-mariadb-").tempdir()?;
        let data = dir.path().join("data");
        let tmp = dir.path().join("tmp");
        std::fs::create_dir_all(&tmp)?;
        // One at a time: bootstraps running together have been seen to
        // trip over each other's temporary tables.
        static INSTALLING: std::sync::Mutex<()> = std::sync::Mutex::new(());
        let _one = INSTALLING.lock().unwrap_or_else(|p| p.into_inner());
        let out = Command::new(program("mariadb-install-db")?)
            .env("TMPDIR", &tmp)
            .arg("--no-defaults")
            .arg(format!("--datadir={}", data.display()))
            .args(["--auth-root-authentication-method=normal", "--skip-test-db"])
            .arg(format!("--user={}", user()))
            .output()
            .context("cannot run mariadb-install-db")?;
        if !out.status.success() {
            bail!("mariadb-install-db failed: {}", String::from_utf8_lossy(&out.stderr));
        }
        std::fs::write(dir.path().join("init.sql"), INIT_SQL)?;
        if let Some((cert, key)) = tls {
            std::fs::write(dir.path().join("server.crt"), cert)?;
            std::fs::write(dir.path().join("server.key"), key)?;
        }
        let port = free_port(bind)?;
        let mut server = PrivateMariadb { dir, port, bind, child: None, tls: tls.is_some() };
        server.start_again()?;
        Ok(server)
    }

    /// A configuration for the server with its own database prefix.
    pub fn config(&self, name_prefix: &str) -> DbConfig {
        DbConfig::Mysql(coreapp::config::ServerDb {
            host: self.bind.to_string(),
            port: self.port,
            username: "root".into(),
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
    /// [`PrivateMariadb::stop`] or [`PrivateMariadb::kill`]); returns once
    /// it accepts connections.
    pub fn start_again(&mut self) -> anyhow::Result<()> {
        if self.child.is_some() {
            return Ok(());
        }
        let d = self.dir.path();
        let log = std::fs::OpenOptions::new().create(true).append(true).open(d.join("server.log"))?;
        let mut command = Command::new(program("mariadbd")?);
        // --no-defaults must come first.
        command.arg("--no-defaults");
        if self.tls {
            command
                .arg(format!("--ssl-cert={}", d.join("server.crt").display()))
                .arg(format!("--ssl-key={}", d.join("server.key").display()))
                .arg("--require-secure-transport=ON");
        }
        let child = command
            .arg(format!("--tmpdir={}", d.join("tmp").display()))
            .arg(format!("--datadir={}", d.join("data").display()))
            .arg(format!("--port={}", self.port))
            .arg(format!("--bind-address={}", self.bind))
            .arg(format!("--socket={}", d.join("server.sock").display()))
            .arg(format!("--pid-file={}", d.join("server.pid").display()))
            .arg(format!("--init-file={}", d.join("init.sql").display()))
            .arg(format!("--user={}", user()))
            // Small and quick: the tests hold little data.
            .args(["--skip-log-bin", "--innodb-buffer-pool-size=64M", "--max-connections=500"])
            .stdout(Stdio::from(log.try_clone()?))
            .stderr(log)
            .spawn()
            .context("cannot start mariadbd")?;
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(60);
        while std::net::TcpStream::connect_timeout(&(self.bind, self.port).into(), Duration::from_millis(200)).is_err()
        {
            if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                self.child = None;
                bail!("mariadbd exited at start ({status}): {}", self.log_tail());
            }
            if Instant::now() > deadline {
                bail!("mariadbd did not accept connections within 60 s: {}", self.log_tail());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(())
    }

    /// Shuts the server down cleanly (SIGTERM) and waits for it to exit.
    pub fn stop(&mut self) {
        self.signal("TERM");
    }

    /// Kills the server (SIGKILL), as a crashed host would leave it.
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
            let _ = Command::new("kill").arg(format!("-{signal}")).arg(child.id().to_string()).status();
            let _ = child.wait();
        }
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

impl Drop for PrivateMariadb {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A server program, from `PATH` or the system folders Debian puts it in.
fn program(name: &str) -> anyhow::Result<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let dirs = std::env::split_paths(&path).chain(["/usr/sbin", "/usr/bin", "/usr/local/sbin"].map(PathBuf::from));
    for dir in dirs {
        let candidate = dir.join(name);
        if candidate.is_file() {
            return Ok(candidate);
        }
    }
    bail!("{name} is not installed (Debian package mariadb-server)")
}

/// The account the server runs as: the current one.
fn user() -> String {
    std::env::var("USER").ok().filter(|u| !u.is_empty()).unwrap_or_else(|| {
        let out = Command::new("id").arg("-un").output().ok();
        out.map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string()).unwrap_or_else(|| "root".into())
    })
}

fn free_port(ip: IpAddr) -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind((ip, 0))?.local_addr()?.port())
}
