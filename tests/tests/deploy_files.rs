//! The deployment files (`docker/Dockerfile`, `compose/**/*.yml`,
//! `compose/.env.example`) checked against the code, since no Docker engine
//! runs in the tests: every variable a container is given is one its binary
//! reads, every interpolated variable is documented, every file a build needs
//! exists, the media volume is where the coreapps look for it (and nowhere
//! near the webapp), the ports published and probed are the ones the
//! processes listen on, long-running services restart and get time to drain,
//! and the dev stack's parts are configured to agree with each other.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use yaml_rust2::{Yaml, YamlLoader};

/// The images' listen variable, per binary.
const LISTEN: &[(&str, &str)] =
    &[("webapp", "WA_WEB_LISTEN"), ("coreapp", "WA_CORE_LISTEN"), ("sandbox", "WA_SANDBOX_LISTEN")];

/// The variables a binary reads: its registry.
fn registry(bin: &str) -> &'static [envconf::Var] {
    match bin {
        "webapp" => webapp::config::VARS,
        "coreapp" => coreapp::config::VARS,
        "sandbox" => sandbox::VARS,
        other => panic!("no registry for {other}"),
    }
}

/// A variable's declared default value (empty when it has none).
fn default_of(bin: &str, name: &str) -> String {
    envconf::Env::from_pairs(registry(bin), &[]).string(name)
}

#[test]
fn every_variable_given_to_a_container_is_read_by_its_binary() {
    let repo = Repo::load();
    for file in &repo.compose {
        for service in file.services() {
            let env = service.environment();
            let Some(bin) = repo.binary_of(&service) else {
                let ours: Vec<_> = env.keys().filter(|k| k.starts_with("WA_")).collect();
                assert!(
                    ours.is_empty(),
                    "{}: service {} runs no wa-onprem binary but sets {ours:?}",
                    file.rel,
                    service.name
                );
                continue;
            };
            for name in env.keys().filter(|k| k.starts_with("WA_")) {
                assert!(
                    registry(&bin).iter().any(|v| v.name == name.as_str()),
                    "{}: service {} sets {name}, which the {bin} does not read (it is not in its registry)",
                    file.rel,
                    service.name,
                );
            }
        }
    }
    for docker in repo.dockerfiles.values() {
        for name in docker.env.keys().filter(|k| k.starts_with("WA_")) {
            let read = registry(&docker.bin).iter().any(|v| v.name == name.as_str());
            assert!(read, "{}: ENV {name} is not read by the {} (not in its registry)", docker.rel, docker.bin);
        }
    }
}

#[test]
fn every_interpolated_variable_of_the_prod_files_is_in_the_env_example() {
    let repo = Repo::load();
    let example = read_env_example(&repo.root.join("compose/.env.example"));
    let mut used = BTreeSet::new();
    for file in repo.compose.iter().filter(|f| f.rel.starts_with("compose/prod/")) {
        for name in interpolated(&file.doc) {
            assert!(example.contains(&name), "{}: ${{{name}}} is not listed in compose/.env.example", file.rel);
            used.insert(name);
        }
    }
    for name in &example {
        assert!(used.contains(name), "compose/.env.example lists {name}, which no compose/prod file uses");
    }
}

#[test]
fn builds_name_existing_dockerfiles_whose_sources_exist() {
    let repo = Repo::load();
    for file in &repo.compose {
        for service in file.services() {
            let build = &service.def["build"];
            if build.is_badvalue() {
                continue;
            }
            // `build: <context>` or `build: {context, dockerfile}`.
            let context = build.as_str().or(build["context"].as_str()).unwrap_or(".");
            let context = file.dir.join(context);
            assert!(
                same_path(&context, &repo.root),
                "{}: service {} builds in {}, but the Dockerfiles expect the repository root as context",
                file.rel,
                service.name,
                context.display()
            );
            let dockerfile = build["dockerfile"].as_str().unwrap_or("Dockerfile");
            assert!(
                context.join(dockerfile).is_file(),
                "{}: service {} names {dockerfile}, which does not exist",
                file.rel,
                service.name
            );
        }
    }
    let members = repo.workspace_members();
    let ignored = read_lines(&repo.root.join(".dockerignore"));
    for heavy in ["target", ".git"] {
        assert!(ignored.iter().any(|i| i == heavy), ".dockerignore does not exclude {heavy} from the build context");
    }
    assert!(!repo.dockerfiles.is_empty(), "docker/Dockerfile has no image targets");
    for docker in repo.dockerfiles.values() {
        for source in &docker.copy_sources {
            assert!(repo.root.join(source).exists(), "{}: COPY/ADD source {source} does not exist", docker.rel);
            let top = source.trim_start_matches("./").split('/').next().unwrap_or_default();
            assert!(
                !ignored.iter().any(|i| i == top),
                "{}: COPY source {source} is excluded by .dockerignore",
                docker.rel
            );
        }
        for member in &members {
            assert!(
                docker.copy_sources.iter().any(|s| s == member || s == "."),
                "{}: the workspace member {member} is not copied into the build, so cargo cannot read the workspace",
                docker.rel
            );
        }
    }
}

#[test]
fn each_dockerfile_builds_and_runs_a_real_binary() {
    let repo = Repo::load();
    for image in ["coreapp", "webapp", "sandbox"] {
        assert!(repo.dockerfiles.contains_key(image), "docker/Dockerfile has no target {image}");
    }
    for docker in repo.dockerfiles.values() {
        for bin in &docker.built {
            assert!(
                repo.bins.contains_key(bin),
                "{}: --bin {bin} is no [[bin]] of the workspace (known: {:?})",
                docker.rel,
                repo.bins.keys().collect::<Vec<_>>()
            );
        }
        let entry = format!("/usr/local/bin/{}", docker.bin);
        assert!(docker.entrypoint.contains(&entry), "{}: ENTRYPOINT does not run {entry}", docker.rel);
        let uid = docker.user.as_deref().map(|u| u.split(':').next().unwrap_or_default());
        assert!(
            uid.is_some_and(|u| u != "root" && u != "0"),
            "{}: the image does not run as a non-root USER",
            docker.rel
        );
    }
}

#[test]
fn the_media_volume_is_mounted_by_every_coreapp_and_never_by_the_webapp() {
    let repo = Repo::load();
    for file in &repo.compose {
        let mut media_sources = BTreeSet::new();
        let coreapps = file.services().into_iter().filter(|s| repo.binary_of(s).as_deref() == Some("coreapp"));
        for service in coreapps.filter(|s| !s.issues_certificates()) {
            let dir = repo
                .effective_env(&service, "coreapp", "WA_MEDIA_DIR")
                .unwrap_or_else(|| default_of("coreapp", "WA_MEDIA_DIR"));
            let mount = service.volumes().into_iter().find(|(_, target)| *target == dir);
            let Some((source, _)) = mount else {
                panic!("{}: coreapp service {} mounts no volume at its WA_MEDIA_DIR {dir}", file.rel, service.name);
            };
            media_sources.insert(source);
        }
        assert!(
            media_sources.len() <= 1,
            "{}: the coreapps mount different media volumes {media_sources:?}; they must share one",
            file.rel
        );
        for service in file.services().iter().filter(|s| repo.binary_of(s).as_deref() == Some("webapp")) {
            for (source, target) in service.volumes() {
                assert!(
                    !media_sources.contains(&source) && target != default_of("coreapp", "WA_MEDIA_DIR"),
                    "{}: webapp service {} mounts the media volume ({source}:{target}); the webapp must not touch it",
                    file.rel,
                    service.name
                );
            }
        }
    }
}

#[test]
fn every_webapp_and_coreapp_has_cluster_credentials_and_no_node_holds_the_ca_key() {
    let repo = Repo::load();
    for file in &repo.compose {
        let services = file.services();
        let mut credential_sources = BTreeSet::new();
        for service in &services {
            let Some(bin) = repo.binary_of(service).filter(|b| b == "coreapp" || b == "webapp") else { continue };
            if service.issues_certificates() {
                continue;
            }
            let at = format!("{}: service {}", file.rel, service.name);
            let insecure = repo.effective_env(service, &bin, "WA_CLUSTER_INSECURE").unwrap_or_default();
            assert!(insecure.is_empty() || insecure == "false", "{at}: sets WA_CLUSTER_INSECURE");
            let dir = repo.effective_env(service, &bin, "WA_CLUSTER_DIR");
            let dir = dir.unwrap_or_else(|| panic!("{at}: no WA_CLUSTER_DIR, so its gRPC link would be refused"));
            let mount = service.volumes().into_iter().find(|(_, target)| *target == dir);
            let (source, _) = mount.unwrap_or_else(|| panic!("{at}: nothing is mounted at WA_CLUSTER_DIR {dir}"));
            credential_sources.insert(source);
        }
        if file.rel != "compose/dev.yml" {
            continue;
        }
        // Development: a one-shot job makes the credentials into the volume
        // the nodes read, and keeps the CA in a volume no node mounts.
        let job = services.iter().find(|s| s.issues_certificates());
        let job = job.expect("compose/dev.yml: no service runs `coreapp cluster-certs`");
        let args = job.command();
        let flag = |name: &str| args.iter().position(|a| a == name).map(|i| args[i + 1].clone()).unwrap();
        let (ca_dir, out_dir) = (flag("--ca"), flag("--out"));
        assert!(
            args.iter().any(|a| a == "--keep"),
            "compose/dev.yml: the job would replace credentials on every start"
        );
        let source_at = |dir: &str| job.volumes().into_iter().find(|(_, t)| t == dir).map(|(s, _)| s).unwrap();
        let (ca_volume, out_volume) = (source_at(&ca_dir), source_at(&out_dir));
        assert_ne!(ca_volume, out_volume, "compose/dev.yml: the CA key would sit with the nodes' credentials");
        assert_eq!(
            credential_sources,
            BTreeSet::from([out_volume]),
            "compose/dev.yml: the nodes read the job's output"
        );
        for service in services.iter().filter(|s| s.name != job.name) {
            assert!(
                service.volumes().iter().all(|(source, _)| *source != ca_volume),
                "compose/dev.yml: service {} mounts the cluster CA's volume",
                service.name
            );
        }
    }
}

#[test]
fn published_and_probed_ports_are_the_listen_ports() {
    let repo = Repo::load();
    for docker in repo.dockerfiles.values() {
        let var = listen_of(&docker.bin);
        let default = default_of(&docker.bin, var);
        let listen = docker.env.get(var).map_or(default.as_str(), String::as_str);
        let port = port_of(listen);
        assert!(
            !listen.starts_with("127.") && !listen.starts_with("localhost"),
            "{}: {var}={listen} is unreachable from outside the container",
            docker.rel
        );
        assert_eq!(docker.expose, vec![port], "{}: EXPOSE does not match {var}={listen}", docker.rel);
        assert_probes(&docker.healthcheck, port, &format!("{}: HEALTHCHECK", docker.rel));
    }
    for file in &repo.compose {
        for service in file.services() {
            let Some(bin) = repo.binary_of(&service) else { continue };
            let (var, listen) = repo.listen(&service, &bin);
            let port = port_of(&listen);
            let at = format!("{}: service {} ({var}={listen})", file.rel, service.name);
            assert!(!listen.starts_with("127.") && !listen.starts_with("localhost"), "{at}: listens on loopback only");
            for published in service.published_container_ports() {
                assert_eq!(published, port, "{at}: publishes container port {published}");
            }
            let test = &service.def["healthcheck"]["test"];
            let probe = if test.is_badvalue() { repo.dockerfile_of(&bin).healthcheck.clone() } else { flatten(test) };
            assert_probes(&probe, port, &format!("{at}: healthcheck"));
        }
    }
}

#[test]
fn long_running_services_restart_and_drain_one_shots_do_not() {
    let repo = Repo::load();
    for file in &repo.compose {
        for service in file.services() {
            let restart = service.def["restart"].as_str().unwrap_or("(unset)");
            if restart == "no" {
                continue;
            }
            let at = format!("{}: service {}", file.rel, service.name);
            assert_eq!(restart, "unless-stopped", "{at}: restart policy");
            let grace = service.def["stop_grace_period"].as_str().unwrap_or("(unset)");
            assert_eq!(grace, "30s", "{at}: stop_grace_period (the processes drain for up to 25 s)");
        }
    }
}

#[test]
fn the_dev_stack_agrees_with_itself() {
    let repo = Repo::load();
    let dev = repo.compose.iter().find(|f| f.rel == "compose/dev.yml").expect("compose/dev.yml");
    let services = dev.services();
    let running = |bin: &str| {
        let found: Vec<_> =
            services.iter().filter(|s| repo.binary_of(s).as_deref() == Some(bin) && !s.issues_certificates()).collect();
        assert!(!found.is_empty(), "compose/dev.yml: no {bin} service");
        found
    };
    let get = |service: &Service, bin: &str, var: &str| repo.effective_env(service, bin, var).unwrap_or_default();
    let sandbox = running("sandbox")[0];
    let webapp = running("webapp")[0];
    // The sandbox's setting, else its declared default.
    let sandbox_var = |var: &str| {
        Some(get(sandbox, "sandbox", var)).filter(|v| !v.is_empty()).unwrap_or_else(|| default_of("sandbox", var))
    };
    let pairs = [
        ("WA_CLOUD_APP_SECRET", sandbox_var("WA_SANDBOX_APP_SECRET")),
        ("WA_CLOUD_VERIFY_TOKEN", sandbox_var("WA_SANDBOX_VERIFY_TOKEN")),
    ];
    for (var, expected) in pairs {
        assert_eq!(get(webapp, "webapp", var), expected, "compose/dev.yml: webapp {var} differs from the sandbox's");
    }
    let numbers = sandbox_var("WA_SANDBOX_PHONE_NUMBER_IDS");
    for core in running("coreapp") {
        let at = format!("compose/dev.yml: service {}", core.name);
        let token = sandbox_var("WA_SANDBOX_ACCESS_TOKEN");
        assert_eq!(get(core, "coreapp", "WA_CLOUD_ACCESS_TOKEN"), token, "{at}: WA_CLOUD_ACCESS_TOKEN");
        let number = get(core, "coreapp", "WA_CLOUD_PHONE_NUMBER_ID");
        assert!(numbers.split(',').any(|n| n.trim() == number), "{at}: number {number} is not hosted by the sandbox");
        let waba = sandbox_var("WA_SANDBOX_WABA_ID");
        assert_eq!(get(core, "coreapp", "WA_CLOUD_WABA_ID"), waba, "{at}: WA_CLOUD_WABA_ID");
        let cloud = get(core, "coreapp", "WA_CLOUD_BASE_URL");
        let sandbox_port = port_of(&repo.listen(sandbox, "sandbox").1);
        assert_eq!(cloud, format!("http://{}:{sandbox_port}", sandbox.name), "{at}: WA_CLOUD_BASE_URL");
    }
    for addr in get(webapp, "webapp", "WA_CORE_ADDRS").split(',') {
        let (host, port) = addr.trim().rsplit_once(':').expect("WA_CORE_ADDRS entries are host:port");
        let core = services.iter().find(|s| s.name == host);
        let core = core.unwrap_or_else(|| panic!("compose/dev.yml: WA_CORE_ADDRS names {host}, which is no service"));
        let (_, listen) = repo.listen(core, "coreapp");
        assert_eq!(port.parse::<u16>().ok(), Some(port_of(&listen)), "compose/dev.yml: WA_CORE_ADDRS entry {addr}");
    }
    let hook = sandbox_var("WA_SANDBOX_WEBHOOK_URL");
    let web_port = port_of(&repo.listen(webapp, "webapp").1);
    assert_eq!(
        hook,
        format!("https://{}:{web_port}/cloud/webhooks", webapp.name),
        "compose/dev.yml: sandbox webhook URL"
    );
}

/// compose/dev-postgres.yml, laid over compose/dev.yml, leaves no coreapp
/// of the dev stack on MariaDB and gives the db service a volume of its own.
#[test]
fn the_postgres_override_moves_every_coreapp_of_the_dev_stack() {
    let repo = Repo::load();
    let dev = repo.compose.iter().find(|f| f.rel == "compose/dev.yml").expect("compose/dev.yml");
    let over = ComposeFile::load(&repo.root, &repo.root.join("compose/dev-postgres.yml"));
    let overrides = over.services();
    let of = |name: &str| overrides.iter().find(|s| s.name == name);
    for core in dev.services().iter().filter(|s| repo.binary_of(s).as_deref() == Some("coreapp")) {
        if core.issues_certificates() {
            continue;
        }
        let at = format!("compose/dev-postgres.yml: service {}", core.name);
        let env = of(&core.name).unwrap_or_else(|| panic!("{at} is not overridden")).environment();
        assert_eq!(env.get("WA_DB_ENGINE").map(String::as_str), Some("PGSQL"), "{at}");
        assert_eq!(env.get("WA_DB_PORT").map(String::as_str), Some("5432"), "{at}");
        // The rest of the link (host, TLS off on the private network) is dev.yml's.
        let base = core.environment();
        assert_eq!(base.get("WA_DB_HOSTNAME").map(String::as_str), Some("db"), "{at}");
    }
    let db = of("db").expect("compose/dev-postgres.yml: no db service");
    assert!(scalar(&db.def["image"]).contains("postgres"), "compose/dev-postgres.yml: db image");
    let volumes = db.def["volumes"].as_vec().expect("compose/dev-postgres.yml: db volumes");
    assert!(
        volumes.iter().any(|v| scalar(v).starts_with("db-postgres:/var/lib/postgresql/data")),
        "compose/dev-postgres.yml: PostgreSQL keeps its data in a volume of its own"
    );
}

// ---------------------------------------------------------------------------
// The repository's files, read once per test.

struct Repo {
    root: PathBuf,
    compose: Vec<ComposeFile>,
    /// The images `docker/Dockerfile` builds, by target (stage) name: each
    /// is named after the binary it runs.
    dockerfiles: BTreeMap<String, Dockerfile>,
    /// Every `[[bin]]` of the workspace and the folder of its crate.
    bins: BTreeMap<String, String>,
}

struct ComposeFile {
    /// Relative to the repository root, for messages.
    rel: String,
    dir: PathBuf,
    doc: Yaml,
}

struct Service<'a> {
    name: String,
    def: &'a Yaml,
}

/// One image of `docker/Dockerfile`: a target stage with what it inherits
/// from the stages it is built on.
struct Dockerfile {
    /// `docker/Dockerfile (target coreapp)`, for messages.
    rel: String,
    /// The binary it runs: its target's name.
    bin: String,
    /// Every `--bin` the shared build stage's `cargo build` names.
    built: Vec<String>,
    copy_sources: Vec<String>,
    /// `ENV` of the last stage (the image's defaults).
    env: BTreeMap<String, String>,
    expose: Vec<u16>,
    healthcheck: String,
    entrypoint: String,
    user: Option<String>,
}

impl Repo {
    fn load() -> Repo {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").canonicalize().expect("repository root");
        let mut paths = vec![root.join("compose/dev.yml")];
        paths.extend(files_with_extension(&root.join("compose/prod"), "yml"));
        for expected in ["db.yml", "coreapp.yml", "webapp.yml"] {
            assert!(root.join("compose/prod").join(expected).is_file(), "compose/prod/{expected} is missing");
        }
        let compose = paths.iter().map(|p| ComposeFile::load(&root, p)).collect();
        let dockerfiles = Dockerfile::targets(&root, &root.join("docker/Dockerfile"));
        let mut repo = Repo { root, compose, dockerfiles, bins: BTreeMap::new() };
        for member in repo.workspace_members() {
            for bin in bin_names(&read(&repo.root.join(&member).join("Cargo.toml"))) {
                repo.bins.insert(bin, member.clone());
            }
        }
        repo
    }

    /// `members = [...]` of the workspace's Cargo.toml.
    fn workspace_members(&self) -> Vec<String> {
        let manifest = read(&self.root.join("Cargo.toml"));
        let start = manifest.find("members").expect("workspace members");
        let list = &manifest[start..];
        let list = &list[list.find('[').unwrap() + 1..list.find(']').unwrap()];
        list.split(',').map(|m| m.trim().trim_matches('"').to_string()).filter(|m| !m.is_empty()).collect()
    }

    /// The wa-onprem binary a service runs: the target of `docker/Dockerfile`
    /// it builds, or the name of a `wa-onprem/<bin>` image.
    fn binary_of(&self, service: &Service) -> Option<String> {
        if let Some(target) = service.def["build"]["target"].as_str() {
            return Some(self.dockerfiles.get(target)?.bin.clone());
        }
        let image = service.def["image"].as_str()?;
        let name = image.strip_prefix("wa-onprem/")?;
        Some(name.split(':').next()?.to_string())
    }

    fn dockerfile_of(&self, bin: &str) -> &Dockerfile {
        self.dockerfiles.values().find(|d| d.bin == bin).unwrap_or_else(|| panic!("no Dockerfile builds {bin}"))
    }

    /// Every `"WA_..."` string literal in the sources of the binary's crate,
    /// and of `proto`, which reads the internal link's variables for both.
    /// The listen variable of the binary a service runs, and its effective value.
    fn listen(&self, service: &Service, bin: &str) -> (&'static str, String) {
        let var = listen_of(bin);
        (var, self.effective_env(service, bin, var).unwrap_or_else(|| default_of(bin, var)))
    }

    /// A variable as the process sees it: the service's value, else the
    /// image's `ENV`; `None` when neither sets it (the code's default).
    fn effective_env(&self, service: &Service, bin: &str, var: &str) -> Option<String> {
        let value = service.environment().remove(var).or_else(|| self.dockerfile_of(bin).env.get(var).cloned())?;
        assert!(!value.contains('$'), "service {}: {var}={value} must be literal to be checked", service.name);
        Some(value)
    }
}

impl ComposeFile {
    fn load(root: &Path, path: &Path) -> ComposeFile {
        let rel = path.strip_prefix(root).unwrap().display().to_string();
        let docs = YamlLoader::load_from_str(&read(path)).unwrap_or_else(|e| panic!("{rel}: invalid YAML: {e}"));
        assert_eq!(docs.len(), 1, "{rel}: expected one YAML document");
        let doc = docs.into_iter().next().unwrap();
        assert!(doc["services"].as_hash().is_some_and(|s| !s.is_empty()), "{rel}: no services");
        ComposeFile { rel, dir: path.parent().unwrap().to_path_buf(), doc }
    }

    fn services(&self) -> Vec<Service<'_>> {
        let services = self.doc["services"].as_hash().unwrap();
        services
            .iter()
            .map(|(name, def)| Service { name: name.as_str().expect("service names are strings").to_string(), def })
            .collect()
    }
}

impl Service<'_> {
    /// `environment`, in its mapping or its list (`KEY=value`) form.
    fn environment(&self) -> BTreeMap<String, String> {
        let env = &self.def["environment"];
        if let Some(map) = env.as_hash() {
            return map.iter().map(|(k, v)| (scalar(k), scalar(v))).collect();
        }
        let list = env.as_vec().map(Vec::as_slice).unwrap_or_default();
        list.iter()
            .map(|item| {
                let item = scalar(item);
                let (k, v) = item.split_once('=').unwrap_or((&item, ""));
                (k.to_string(), v.to_string())
            })
            .collect()
    }

    /// `(source, target)` of each mount, short (`src:target[:mode]`) or long syntax.
    fn volumes(&self) -> Vec<(String, String)> {
        let list = self.def["volumes"].as_vec().map(Vec::as_slice).unwrap_or_default();
        list.iter()
            .map(|v| match v.as_str() {
                Some(short) => {
                    let parts = split_outside_braces(short, ':');
                    match parts.as_slice() {
                        [target] => (String::new(), target.clone()),
                        [source, target, ..] => (source.clone(), target.clone()),
                        [] => unreachable!(),
                    }
                }
                None => (scalar(&v["source"]), scalar(&v["target"])),
            })
            .collect()
    }

    /// `command`, in its list form (a string is split at spaces).
    fn command(&self) -> Vec<String> {
        let command = &self.def["command"];
        match command.as_vec() {
            Some(items) => items.iter().map(scalar).collect(),
            None => scalar(command).split_whitespace().map(str::to_string).collect(),
        }
    }

    /// A one-shot `coreapp cluster-certs`, not a node.
    fn issues_certificates(&self) -> bool {
        self.command().first().map(String::as_str) == Some("cluster-certs")
    }

    /// The container side of each `ports` entry.
    fn published_container_ports(&self) -> Vec<u16> {
        let list = self.def["ports"].as_vec().map(Vec::as_slice).unwrap_or_default();
        list.iter()
            .map(|p| {
                let container = match p.as_hash() {
                    Some(_) => scalar(&p["target"]),
                    None => split_outside_braces(&scalar(p), ':').pop().unwrap_or_default(),
                };
                let container = container.split('/').next().unwrap_or_default();
                container.parse().unwrap_or_else(|_| panic!("service {}: cannot read port {container:?}", self.name))
            })
            .collect()
    }
}

/// `(KEYWORD, arguments)` of a Dockerfile, in order.
type Instructions = Vec<(String, String)>;

impl Dockerfile {
    /// The images of a multi-stage Dockerfile: every stage named after a
    /// binary the build stage compiles.
    fn targets(root: &Path, path: &Path) -> BTreeMap<String, Dockerfile> {
        let rel = path.strip_prefix(root).unwrap().display().to_string();
        // Stages: (name, the stage it is built on, its instructions).
        let mut stages: Vec<(String, String, Instructions)> = Vec::new();
        let mut built = Vec::new();
        let mut copy_sources = Vec::new();
        for (keyword, args) in instructions(&read(path)) {
            if keyword == "FROM" {
                let words: Vec<&str> = args.split_whitespace().collect();
                let name = match words.as_slice() {
                    [base, as_, name] if as_.eq_ignore_ascii_case("as") => (name.to_string(), base.to_string()),
                    [base] => (String::new(), base.to_string()),
                    _ => panic!("{rel}: cannot read FROM {args}"),
                };
                stages.push((name.0, name.1, Vec::new()));
                continue;
            }
            // Build arguments of the FROM lines come before the first stage.
            let Some((_, _, body)) = stages.last_mut() else {
                assert_eq!(keyword, "ARG", "{rel}: {keyword} before FROM");
                continue;
            };
            if keyword == "RUN" && args.contains("cargo build") {
                let words: Vec<&str> = args.split_whitespace().collect();
                for (i, w) in words.iter().enumerate() {
                    if *w == "--bin" {
                        built.push(
                            words.get(i + 1).unwrap_or_else(|| panic!("{rel}: --bin without a name")).to_string(),
                        );
                    }
                }
            }
            if matches!(keyword.as_str(), "COPY" | "ADD") && !args.contains("--from=") {
                let words: Vec<&str> = args.split_whitespace().filter(|w| !w.starts_with("--")).collect();
                let (_, sources) = words.split_last().expect("COPY has a destination");
                copy_sources.extend(sources.iter().map(|s| s.to_string()));
            }
            body.push((keyword, args));
        }
        assert!(!built.is_empty(), "{rel}: no `cargo build --bin`");
        let mut targets = BTreeMap::new();
        for (name, _, _) in stages.iter().filter(|(name, _, _)| built.contains(name)) {
            // The stage and those it is built on, the oldest first.
            let mut chain = Vec::new();
            let mut at = Some(name.clone());
            while let Some(stage) = at.and_then(|n| stages.iter().find(|(s, _, _)| *s == n)) {
                chain.insert(0, stage);
                at = Some(stage.1.clone());
            }
            let mut image = Dockerfile {
                rel: format!("{rel} (target {name})"),
                bin: name.clone(),
                built: built.clone(),
                copy_sources: copy_sources.clone(),
                env: BTreeMap::new(),
                expose: Vec::new(),
                healthcheck: String::new(),
                entrypoint: String::new(),
                user: None,
            };
            for (keyword, args) in chain.iter().flat_map(|(_, _, body)| body) {
                match keyword.as_str() {
                    "ENV" => {
                        for pair in args.split_whitespace() {
                            let (k, v) = pair.split_once('=').expect("ENV in KEY=value form");
                            image.env.insert(k.to_string(), v.to_string());
                        }
                    }
                    "EXPOSE" => image
                        .expose
                        .extend(args.split_whitespace().map(|p| p.split('/').next().unwrap().parse::<u16>().unwrap())),
                    "HEALTHCHECK" => image.healthcheck = args.clone(),
                    "ENTRYPOINT" => image.entrypoint = args.clone(),
                    "USER" => image.user = Some(args.trim().to_string()),
                    _ => {}
                }
            }
            targets.insert(name.clone(), image);
        }
        targets
    }
}

// ---------------------------------------------------------------------------
// Small helpers.

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

fn read_lines(path: &Path) -> Vec<String> {
    read(path).lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).map(String::from).collect()
}

/// The variable names `NAME=...` of an env file.
fn read_env_example(path: &Path) -> BTreeSet<String> {
    read_lines(path).iter().filter_map(|l| l.split_once('=')).map(|(k, _)| k.trim().to_string()).collect()
}

fn files_with_extension(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let entries = fs::read_dir(dir).unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()));
    let mut paths: Vec<PathBuf> =
        entries.map(|e| e.unwrap().path()).filter(|p| p.extension().is_some_and(|e| e == ext) && p.is_file()).collect();
    paths.sort();
    paths
}

fn same_path(a: &Path, b: &Path) -> bool {
    a.canonicalize().ok() == b.canonicalize().ok()
}

/// `[[bin]] name = "..."` entries of a crate manifest.
fn bin_names(manifest: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut in_bin = false;
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            in_bin = line == "[[bin]]";
            continue;
        }
        match line.split_once('=') {
            Some((key, value)) if in_bin && key.trim() == "name" => names.push(value.trim().trim_matches('"').into()),
            _ => {}
        }
    }
    names
}

/// The names compose would interpolate (`${NAME...}`, `$NAME`; `$$` is a
/// literal `$`) in every string of a document.
fn interpolated(doc: &Yaml) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut strings = Vec::new();
    collect_strings(doc, &mut strings);
    for s in strings {
        let mut rest = s.as_str();
        while let Some(at) = rest.find('$') {
            rest = &rest[at + 1..];
            if let Some(after) = rest.strip_prefix('$') {
                rest = after;
                continue;
            }
            let name: String =
                rest.trim_start_matches('{').chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
            if !name.is_empty() {
                names.insert(name);
            }
        }
    }
    names
}

fn collect_strings(node: &Yaml, out: &mut Vec<String>) {
    match node {
        Yaml::String(s) => out.push(s.clone()),
        Yaml::Array(items) => items.iter().for_each(|i| collect_strings(i, out)),
        Yaml::Hash(map) => map.iter().for_each(|(k, v)| {
            collect_strings(k, out);
            collect_strings(v, out);
        }),
        _ => {}
    }
}

/// A scalar as compose reads it: strings as they are, numbers and booleans
/// as written, null as empty.
fn scalar(node: &Yaml) -> String {
    match node {
        Yaml::String(s) | Yaml::Real(s) => s.clone(),
        Yaml::Integer(i) => i.to_string(),
        Yaml::Boolean(b) => b.to_string(),
        Yaml::Null | Yaml::BadValue => String::new(),
        other => panic!("expected a scalar, found {other:?}"),
    }
}

/// A healthcheck `test` (a list or a string) as one string.
fn flatten(test: &Yaml) -> String {
    match test.as_vec() {
        Some(items) => items.iter().map(scalar).collect::<Vec<_>>().join(" "),
        None => scalar(test),
    }
}

/// Splits on `sep` except inside `${...}` (whose `:-` and `:?` hold colons).
fn split_outside_braces(s: &str, sep: char) -> Vec<String> {
    let (mut parts, mut current, mut depth) = (Vec::new(), String::new(), 0);
    for c in s.chars() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            c if c == sep && depth == 0 => {
                parts.push(std::mem::take(&mut current));
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    parts.push(current);
    parts
}

/// A Dockerfile's instructions `(KEYWORD, arguments)`, with continuation
/// lines joined and comment lines dropped (as Docker drops them).
fn instructions(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut pending = String::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
        match line.strip_suffix('\\') {
            Some(part) => {
                pending.push_str(part);
                pending.push(' ');
            }
            None => {
                pending.push_str(line);
                let (keyword, args) = pending.split_once(char::is_whitespace).unwrap_or((&pending, ""));
                out.push((keyword.to_ascii_uppercase(), args.trim().to_string()));
                pending.clear();
            }
        }
    }
    out
}

fn listen_of(bin: &str) -> &'static str {
    LISTEN.iter().find(|(b, _)| *b == bin).unwrap_or_else(|| panic!("no listen variable known for {bin}")).1
}

fn port_of(listen: &str) -> u16 {
    let port = listen.rsplit_once(':').map(|(_, p)| p).unwrap_or_default();
    port.parse().unwrap_or_else(|_| panic!("{listen:?} has no port"))
}

/// Every loopback port a probe command connects to (`127.0.0.1:PORT`, `localhost:PORT`,
/// bash's `/dev/tcp/127.0.0.1/PORT`) must be `port`, and there must be one.
/// A healthcheck probes the process's own port on loopback, or runs the
/// binary's `health` command, which finds the port from the same variable
/// the process listens by.
fn assert_probes(command: &str, port: u16, at: &str) {
    let words: Vec<&str> =
        command.split(|c: char| !(c.is_alphanumeric() || "/_-".contains(c))).filter(|w| !w.is_empty()).collect();
    if words.windows(2).any(|w| w[0].starts_with("/usr/local/bin/") && w[1] == "health") {
        return;
    }
    let mut probed = Vec::new();
    for host in ["127.0.0.1", "localhost"] {
        for (i, _) in command.match_indices(host) {
            let rest = &command[i + host.len()..];
            let Some(rest) = rest.strip_prefix(':').or_else(|| rest.strip_prefix('/')) else { continue };
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            probed.extend(digits.parse::<u16>().ok());
        }
    }
    assert!(!probed.is_empty(), "{at} probes no loopback port: {command:?}");
    assert!(probed.iter().all(|p| *p == port), "{at} probes {probed:?}, but the process listens on {port}");
}

// ---------------------------------------------------------------------------
// The READMEs' configuration tables are the registries.

/// The rows between `<!-- variables:begin -->` and `<!-- variables:end -->`.
fn table_between_markers(file: &str) -> String {
    let text = fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(file)).unwrap();
    let (_, rest) = text.split_once("<!-- variables:begin -->\n").unwrap_or_else(|| panic!("{file}: no begin marker"));
    let (rows, _) = rest.split_once("<!-- variables:end -->").unwrap_or_else(|| panic!("{file}: no end marker"));
    rows.lines()
        .filter(|l| !l.starts_with("| variable |") && !l.starts_with("|---"))
        .map(|l| format!("{l}\n"))
        .collect()
}

#[test]
fn the_readme_tables_are_the_variable_registries() {
    let root = envconf::markdown_rows(&[("webapp", webapp::config::VARS), ("coreapp", coreapp::config::VARS)]);
    let sandbox = envconf::markdown_rows_of(sandbox::VARS);
    for (file, expected) in [("README.md", root), ("sandbox/README.md", sandbox)] {
        let found = table_between_markers(file);
        assert!(
            found == expected,
            "{file}: the configuration table differs from the registries (webapp/src/config.rs, \
             coreapp/src/config.rs, proto/src/cluster.rs, sandbox/src/config.rs); it should read:\n{expected}"
        );
    }
}
