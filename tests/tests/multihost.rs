//! Separate hosts on one machine: network namespaces joined by a bridge, a
//! database host (the root namespace, forwarding to MariaDB or PostgreSQL:
//! the test runs on each), two coreapp
//! hosts and a webapp host, each a real process. Under a steady send load
//! with users' messages flowing, one coreapp host is cut off the network:
//! every accepted message reaches a final status, every user message
//! reaches the business, nothing is sent twice but the window the README
//! states, and the host rejoins once its link is back.
//!
//! Where namespaces cannot be made (no root, no `ip`), the test says so and
//! runs the same scenario on 127.0.0.x addresses, killing the coreapp with
//! SIGKILL instead of cutting its link.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use coreapp::config::DbConfig;
use e2e::Receiver;
use serde_json::{Value, json};

const PNID: &str = "100000000000001";
const SECRET: &str = "multihost-app-secret";
const VERIFY: &str = "multihost-verify";
const API_KEY: &str = "multihost-monitoring-key";
const LEASE_S: u64 = 4;

/// How the hosts are laid out, and how one is cut off.
enum Net {
    /// Namespaces `<prefix>-db` is the root namespace; the others are made.
    Namespaces { prefix: String, subnet: u8 },
    /// All on loopback, each host its own 127.0.0.x.
    Loopback,
}

fn run(cmd: &str, args: &[&str]) -> Result<(), String> {
    let out = Command::new(cmd).args(args).output().map_err(|e| format!("{cmd}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!("{cmd} {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim()))
    }
}

/// The host roles: the database host (the root namespace: MariaDB, the
/// sandbox standing in for Cloud, the business's webhook server), two
/// coreapp hosts, a webapp host.
const HOSTS: [(&str, u8); 3] = [("core1", 11), ("core2", 12), ("web", 20)];

impl Net {
    fn make() -> Net {
        let prefix = format!("wae{}", &wire::ids::random_hex(2));
        let subnet = 100 + (rand_byte() % 100);
        match Self::make_namespaces(&prefix, subnet) {
            Ok(()) => Net::Namespaces { prefix, subnet },
            Err(why) => {
                let net = Net::Namespaces { prefix, subnet };
                drop(net); // removes what was made
                eprintln!(
                    "multihost: network namespaces cannot be made here ({why}); running the same scenario \
                     on 127.0.0.x addresses, with SIGKILL in place of a network cut"
                );
                Net::Loopback
            }
        }
    }

    fn make_namespaces(prefix: &str, subnet: u8) -> Result<(), String> {
        let bridge = format!("{prefix}br");
        run("ip", &["link", "add", &bridge, "type", "bridge"])?;
        run("ip", &["addr", "add", &format!("169.254.{subnet}.1/24"), "dev", &bridge])?;
        run("ip", &["link", "set", &bridge, "up"])?;
        allow_forwarding(&bridge, true)?;
        for (name, host) in HOSTS {
            let ns = format!("{prefix}-{name}");
            let (outside, inside) = (format!("{prefix}{name}o"), format!("{prefix}{name}i"));
            run("ip", &["netns", "add", &ns])?;
            run("ip", &["link", "add", &outside, "type", "veth", "peer", "name", &inside])?;
            run("ip", &["link", "set", &inside, "netns", &ns])?;
            run("ip", &["link", "set", &outside, "master", &bridge])?;
            run("ip", &["link", "set", &outside, "up"])?;
            let exec = |args: &[&str]| {
                let mut all = vec!["netns", "exec", &ns];
                all.extend_from_slice(args);
                run("ip", &all)
            };
            exec(&["ip", "addr", "add", &format!("169.254.{subnet}.{host}/24"), "dev", &inside])?;
            exec(&["ip", "link", "set", &inside, "up"])?;
            exec(&["ip", "link", "set", "lo", "up"])?;
        }
        Ok(())
    }

    /// The address of a host (`db` is the root namespace).
    fn ip(&self, host: &str) -> IpAddr {
        let last = HOSTS.iter().find(|(n, _)| *n == host).map(|(_, h)| *h).unwrap_or(1);
        match self {
            Net::Namespaces { subnet, .. } => IpAddr::V4(Ipv4Addr::new(169, 254, *subnet, last)),
            Net::Loopback => IpAddr::V4(Ipv4Addr::new(127, 0, 0, last)),
        }
    }

    /// A process on `host`.
    fn command(&self, host: &str, program: &str) -> Command {
        match self {
            Net::Namespaces { prefix, .. } => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", &format!("{prefix}-{host}"), program]);
                c
            }
            Net::Loopback => Command::new(program),
        }
    }

    /// Cuts a host off the network (namespaces), or kills its process.
    fn cut(&self, host: &str, child: &mut Child) {
        match self {
            Net::Namespaces { prefix, .. } => {
                run("ip", &["link", "set", &format!("{prefix}{host}o"), "down"]).expect("cut the link")
            }
            Net::Loopback => {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }

    /// Gives a cut host its link back; returns whether the old process
    /// lives on (otherwise the caller starts a new one).
    fn restore(&self, host: &str) -> bool {
        match self {
            Net::Namespaces { prefix, .. } => {
                run("ip", &["link", "set", &format!("{prefix}{host}o"), "up"]).expect("restore the link");
                true
            }
            Net::Loopback => false,
        }
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        if let Net::Namespaces { prefix, .. } = self {
            for (name, _) in HOSTS {
                let _ = run("ip", &["netns", "del", &format!("{prefix}-{name}")]);
                let _ = run("ip", &["link", "del", &format!("{prefix}{name}o")]);
            }
            let _ = allow_forwarding(&format!("{prefix}br"), false);
            let _ = run("ip", &["link", "del", &format!("{prefix}br")]);
        }
    }
}

/// Lets traffic through the test's bridge whatever the firewall's
/// `FORWARD` policy: Docker sets it to `DROP` (and makes bridged traffic
/// go through it), which would cut the hosts off each other. Adds the
/// rules (`add`) or removes them; nothing to do where iptables is missing.
fn allow_forwarding(bridge: &str, add: bool) -> Result<(), String> {
    if Command::new("iptables").arg("--version").output().is_err() {
        return Ok(());
    }
    let op = if add { "-I" } else { "-D" };
    run("iptables", &[op, "FORWARD", "-i", bridge, "-j", "ACCEPT"])?;
    run("iptables", &[op, "FORWARD", "-o", bridge, "-j", "ACCEPT"])
}

fn rand_byte() -> u8 {
    u8::from_str_radix(&wire::ids::random_hex(1), 16).unwrap()
}

/// Forwards the database host's address to the database server on
/// loopback, where it listens (the "database host" seen by the other hosts).
async fn database_host(listen: SocketAddr, server: SocketAddr) -> SocketAddr {
    let l = tokio::net::TcpListener::bind(listen).await.expect("bind the database address");
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut inbound, _)) = l.accept().await {
            tokio::spawn(async move {
                if let Ok(mut outbound) = tokio::net::TcpStream::connect(server).await {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                }
            });
        }
    });
    addr
}

/// A stack process; killed when dropped.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port(ip: IpAddr) -> u16 {
    std::net::TcpListener::bind((ip, 0)).map(|l| l.local_addr().unwrap().port()).unwrap_or(6250)
}

struct Layout {
    /// The database as the coreapp hosts reach it.
    db: DbConfig,
    sandbox: String,
    media: std::path::PathBuf,
    /// The internal link's credentials (`WA_CLUSTER_DIR` of every host).
    cluster: std::path::PathBuf,
    cores: Vec<SocketAddr>,
    web: SocketAddr,
}

fn start_core(net: &Net, layout: &Layout, i: usize) -> Process {
    let host = ["core1", "core2"][i];
    let mut c = net.command(host, env!("CARGO_BIN_EXE_e2e-host"));
    c.arg("coreapp")
        .envs(e2e::db_env(&layout.db))
        .env("WA_CORE_LISTEN", layout.cores[i].to_string())
        .env("WA_NODE_ID", host)
        .env("WA_MEDIA_DIR", &layout.media)
        .env("WA_CLOUD_BASE_URL", &layout.sandbox)
        .env("WA_CLOUD_ACCESS_TOKEN", sandbox::Config::default().access_token)
        .env("WA_CLOUD_PHONE_NUMBER_ID", PNID)
        .env("WA_CLOUD_TIMEOUT_S", "3")
        .env("WA_WORK_LEASE_S", LEASE_S.to_string())
        .env("WA_CLUSTER_DIR", &layout.cluster)
        .env("RUST_LOG", std::env::var("WA_TEST_LOG").unwrap_or_else(|_| "off".into()));
    Process(c.stdin(Stdio::null()).spawn().expect("start a coreapp"))
}

fn start_web(net: &Net, layout: &Layout) -> Process {
    let mut c = net.command("web", env!("CARGO_BIN_EXE_e2e-host"));
    let cores: Vec<String> = layout.cores.iter().map(ToString::to_string).collect();
    c.arg("webapp")
        .env("WA_WEB_LISTEN", layout.web.to_string())
        .env("WA_CORE_ADDRS", cores.join(","))
        .env("WA_CLUSTER_DIR", &layout.cluster)
        .env("WA_API_KEY", API_KEY)
        .env("WA_CLOUD_APP_SECRET", SECRET)
        .env("WA_CLOUD_VERIFY_TOKEN", VERIFY)
        .env("RUST_LOG", std::env::var("WA_TEST_LOG").unwrap_or_else(|_| "off".into()));
    Process(c.stdin(Stdio::null()).spawn().expect("start the webapp"))
}

async fn until<F, Fut>(what: &str, within: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + within;
    while !check().await {
        assert!(Instant::now() < deadline, "{what}: not within {within:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_a_coreapp_host_cut_off_under_load_loses_nothing_and_rejoins() {
    host_cut_off_under_load(e2e::Engine::Mysql).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pgsql_a_coreapp_host_cut_off_under_load_loses_nothing_and_rejoins() {
    host_cut_off_under_load(e2e::Engine::Pgsql).await;
}

async fn host_cut_off_under_load(engine: e2e::Engine) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let net = Net::make();
    let db_ip = net.ip("db");

    // The database host: the server through the host's address.
    let scratch = tempfile::tempdir().unwrap();
    let server_db = e2e::db_config(engine, scratch.path());
    let server = server_db.server().expect("a database server").clone();
    let server_addr: SocketAddr =
        format!("{}:{}", server.host, server.port).parse().expect("WA_TEST_*_HOST is an address");
    let db_addr = database_host(SocketAddr::new(db_ip, 0), server_addr).await;
    let migrate = server_db.clone();
    tokio::task::spawn_blocking(move || coreapp::store::db::migrate(&migrate)).await.unwrap().expect("migrations");

    // Cloud (the sandbox) and the business's webhook server live there too.
    let web = SocketAddr::new(net.ip("web"), free_port(net.ip("web")));
    let sandbox_l = tokio::net::TcpListener::bind((db_ip, 0)).await.unwrap();
    let sandbox_url = format!("http://{}", sandbox_l.local_addr().unwrap());
    let sandbox_config = sandbox::Config {
        app_secret: SECRET.into(),
        webhook_url: Some(format!("https://{web}/cloud/webhooks")),
        status_delay: Duration::from_millis(50),
        ..sandbox::Config::default()
    };
    let (sandbox_stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let sandbox = tokio::spawn(sandbox::run(sandbox_config, sandbox_l, async move {
        let _ = stopped.await;
    }));
    let receiver = Receiver::start_on(db_ip).await;

    let media = tempfile::tempdir().unwrap();
    let cluster = tempfile::tempdir().unwrap();
    let cores: Vec<SocketAddr> =
        ["core1", "core2"].iter().map(|h| SocketAddr::new(net.ip(h), free_port(net.ip(h)))).collect();
    let layout = Layout {
        db: {
            let through = coreapp::config::ServerDb { host: db_addr.ip().to_string(), port: db_addr.port(), ..server };
            match engine {
                e2e::Engine::Pgsql => DbConfig::Pgsql(through),
                _ => DbConfig::Mysql(through),
            }
        },
        sandbox: sandbox_url.clone(),
        media: media.path().to_path_buf(),
        cluster: cluster.path().to_path_buf(),
        cores,
        web,
    };
    e2e::write_cluster_dir(&layout.cluster);
    let mut core_processes = vec![start_core(&net, &layout, 0), start_core(&net, &layout, 1)];
    let _web = start_web(&net, &layout);

    let http =
        reqwest::Client::builder().danger_accept_invalid_certs(true).timeout(Duration::from_secs(20)).build().unwrap();
    let base = format!("https://{web}");
    until("the webapp answers", Duration::from_secs(60), || async {
        http.get(format!("{base}/")).send().await.is_ok_and(|r| r.status().is_success())
    })
    .await;
    let login: Value = http
        .post(format!("{base}/v1/users/login"))
        .basic_auth("admin", Some("secret"))
        .json(&json!({"new_password": "Multi#host1"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = login["users"][0]["token"].as_str().expect("a token").to_string();
    let patch = json!({"webhooks": {"url": receiver.url()}, "heartbeat_interval": 1, "unhealthy_interval": 3});
    let r = http.patch(format!("{base}/v1/settings/application")).bearer_auth(&token).json(&patch).send().await;
    assert!(r.unwrap().status().is_success());
    let health = || async {
        let r = http.get(format!("{base}/v1/health")).header("Authorization", format!("Apikey {API_KEY}")).send();
        match r.await {
            Ok(r) => r.json::<Value>().await.ok().map(|v| v["health"].clone()),
            Err(_) => None,
        }
    };
    let connected =
        |h: &Option<Value>, node: &str| h.as_ref().is_some_and(|h| h[node]["gateway_status"] == "connected");
    until("both coreapps report", Duration::from_secs(30), || async {
        let h = health().await;
        connected(&h, "core1") && connected(&h, "core2")
    })
    .await;

    // A steady load: a message every 50 ms, a user writing every 250 ms;
    // core2's host is cut off a second in and stays off past its leases.
    let mut accepted: HashMap<String, String> = HashMap::new();
    let mut after_cut = HashSet::new();
    let mut users = Vec::new();
    let started = Instant::now();
    let mut cut = false;
    let mut cut_at = Duration::ZERO;
    let mut refused = 0;
    let mut i = 0;
    while started.elapsed() < Duration::from_secs(8) {
        if !cut && started.elapsed() > Duration::from_secs(1) {
            net.cut("core2", &mut core_processes[1].0);
            cut = true;
            cut_at = started.elapsed();
        }
        let to = format!("1555400{i:04}");
        let body = json!({"to": to, "type": "text", "text": {"body": format!("load {i}")}});
        let sent_at = started.elapsed();
        let r = http.post(format!("{base}/v1/messages")).bearer_auth(&token).json(&body).send().await.unwrap();
        let status = r.status();
        let answer: Value = r.json().await.unwrap_or(Value::Null);
        if status.as_u16() == 201 {
            let id = answer["messages"][0]["id"].as_str().unwrap().to_string();
            if cut {
                after_cut.insert(to.clone());
            }
            accepted.insert(id, to);
        } else {
            // Only a request on its way to core2 as it dropped off may fail,
            // with the old client's 1014, within the seconds it takes to
            // notice (the client retries it).
            assert_eq!(answer["errors"][0]["code"], 1014, "send {i}: {answer}");
            assert!(cut && sent_at < cut_at + Duration::from_secs(6), "send {i} failed at {sent_at:?}: {answer}");
            refused += 1;
        }
        if i % 5 == 0 {
            let from = format!("1555500{i:04}");
            let inbound = json!({"from": from, "type": "text", "text": {"body": format!("user {i}")}});
            let r = http.post(format!("{sandbox_url}/_sandbox/inbound")).json(&inbound).send().await.unwrap();
            assert!(r.status().is_success());
            users.push(format!("user {i}"));
        }
        i += 1;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Every accepted message reaches a final status, every user message the
    // business, with core2 still cut off.
    let final_status = |v: &Value, id: &str| {
        v["statuses"][0]["id"] == id && matches!(v["statuses"][0]["status"].as_str(), Some("delivered" | "read"))
    };
    let all_done = || {
        let got = receiver.received();
        let messages = accepted.keys().all(|id| got.iter().any(|v| final_status(v, id)));
        let inbound = users.iter().all(|b| got.iter().any(|v| v["messages"][0]["text"]["body"] == b.as_str()));
        messages && inbound
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while !all_done() {
        if Instant::now() > deadline {
            let got = receiver.received();
            let missing: Vec<_> = accepted.keys().filter(|id| !got.iter().any(|v| final_status(v, id))).collect();
            panic!("after 60 s, {} of {} messages have no final status: {missing:?}", missing.len(), accepted.len());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    until("core2 reported disconnected", Duration::from_secs(20), || async {
        health().await.is_some_and(|h| h["core2"]["gateway_status"] == "disconnected" && connected(&Some(h), "core1"))
    })
    .await;

    // Nothing sent twice but what the cut node had in flight when it was cut
    // (sent by it, its result never recorded, sent again by core1).
    let sent: Value = http.get(format!("{sandbox_url}/_sandbox/sent")).send().await.unwrap().json().await.unwrap();
    let mut per_recipient: HashMap<String, usize> = HashMap::new();
    for e in sent["data"].as_array().unwrap() {
        if let Some(to) = e["payload"]["to"].as_str() {
            *per_recipient.entry(to.trim_start_matches('+').to_string()).or_default() += 1;
        }
    }
    let twice: Vec<_> = per_recipient.iter().filter(|(_, n)| **n > 1).collect();
    assert!(per_recipient.values().all(|n| *n <= 2), "sent more than twice: {twice:?}");
    for to in &after_cut {
        let n = per_recipient.get(to).copied().unwrap_or(0);
        assert!(n >= 1, "{to} never reached Cloud");
    }
    let inbound_events: Vec<Value> = receiver.received().into_iter().filter(|v| v.get("messages").is_some()).collect();
    let distinct: HashSet<String> =
        inbound_events.iter().filter_map(|v| v["messages"][0]["id"].as_str().map(String::from)).collect();
    eprintln!(
        "multihost: {} messages accepted ({} after the cut), {refused} refused while the cut was noticed, {} sent \
         twice; {} user messages, {} webhook POSTs for them",
        accepted.len(),
        after_cut.len(),
        twice.len(),
        distinct.len(),
        inbound_events.len()
    );

    // The host comes back: the same process (namespaces) or a new one.
    if !net.restore("core2") {
        core_processes[1] = start_core(&net, &layout, 1);
    }
    until("core2 rejoined", Duration::from_secs(30), || async {
        let h = health().await;
        connected(&h, "core1") && connected(&h, "core2")
    })
    .await;

    drop(core_processes);
    let _ = sandbox_stop.send(());
    let _ = sandbox.await;
    let _ = tokio::task::spawn_blocking(move || coreapp::store::db::drop_server_database(&server_db)).await;
}
