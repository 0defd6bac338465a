//! `coreapp cluster-certs`: makes the cluster CA and issues the
//! certificates of the internal link (see `proto::cluster` for the model).
//!
//! The CA lives in its own directory (`ca.pem`, `ca.key`). Issuing a role's
//! certificate writes `ca.pem`, `<role>.pem` and `<role>.key` into the
//! node's directory; the CA key never goes there unless both directories
//! are the same (the single-host development layout).

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use proto::cluster::{CA_FILE, CORE_NAME, Credentials, Role, WEB_NAME};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

/// The CA's private key file, next to `ca.pem` in the CA directory.
pub const CA_KEY_FILE: &str = "ca.key";
/// Validity of the CA certificate.
const CA_DAYS: i64 = 3650;

/// A CA certificate and its key, in PEM.
pub struct Authority {
    pub cert_pem: String,
    pub key_pem: String,
}

/// A certificate issued to a node: its role's certificate and key, and the
/// CA certificate it must trust.
pub struct Issued {
    pub role: Role,
    pub ca_pem: String,
    pub cert_pem: String,
    pub key_pem: String,
}

impl Issued {
    pub fn credentials(&self) -> anyhow::Result<Credentials> {
        Ok(Credentials::from_pem(self.role, self.ca_pem.clone(), self.cert_pem.clone(), self.key_pem.clone())?)
    }
}

fn validity(params: &mut CertificateParams, days: i64) {
    let now = time::OffsetDateTime::now_utc();
    // A little slack for clocks that disagree between hosts.
    params.not_before = now - time::Duration::hours(1);
    params.not_after = now + time::Duration::days(days);
}

/// A new CA, named with its creation time so two generations can be told
/// apart (and trusted side by side while rotating).
pub fn new_authority() -> anyhow::Result<Authority> {
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "wa-onprem");
    let stamp = time::OffsetDateTime::now_utc().unix_timestamp();
    dn.push(DnType::CommonName, format!("wa-onprem cluster CA {stamp}"));
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    validity(&mut params, CA_DAYS);
    let key = KeyPair::generate()?;
    let cert = params.self_signed(&key)?;
    Ok(Authority { cert_pem: cert.pem(), key_pem: key.serialize_pem() })
}

/// Issues a certificate for `role`, valid `days` days, with `extra_names`
/// added to its subject alternative names (a coreapp's always carries
/// [`proto::cluster::CORE_NAME`]).
pub fn issue(ca: &Authority, role: Role, days: i64, extra_names: &[String]) -> anyhow::Result<Issued> {
    let ca_key = KeyPair::from_pem(&ca.key_pem).context("the CA key is not a readable private key")?;
    let issuer = Issuer::from_ca_cert_pem(&ca.cert_pem, ca_key).context("the CA certificate is not readable")?;
    let (name, usage) = match role {
        Role::Coreapp => (CORE_NAME, ExtendedKeyUsagePurpose::ServerAuth),
        Role::Webapp => (WEB_NAME, ExtendedKeyUsagePurpose::ClientAuth),
    };
    let mut names = vec![name.to_string()];
    names.extend(extra_names.iter().filter(|n| n.as_str() != name).cloned());
    let mut params = CertificateParams::new(names)?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "wa-onprem");
    dn.push(DnType::CommonName, name);
    params.distinguished_name = dn;
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    // One purpose only: a coreapp's certificate cannot call a coreapp and a
    // webapp's cannot serve as one.
    params.extended_key_usages = vec![usage];
    params.use_authority_key_identifier_extension = true;
    validity(&mut params, days);
    let key = KeyPair::generate()?;
    let cert = params.signed_by(&key, &issuer)?;
    Ok(Issued { role, ca_pem: ca.cert_pem.clone(), cert_pem: cert.pem(), key_pem: key.serialize_pem() })
}

/// What `coreapp cluster-certs` wrote.
pub struct Written {
    pub ca_created: bool,
    pub files: Vec<PathBuf>,
}

/// `coreapp cluster-certs`: uses the CA in `ca_dir` (creating it when the
/// directory has none) and writes each role's credentials into `out_dir`.
/// With `keep`, a role whose files are already in `out_dir` is left alone,
/// so a launcher can call it on every start.
pub fn write(ca_dir: &Path, out_dir: &Path, roles: &[Role], days: i64, keep: bool) -> anyhow::Result<Written> {
    let (ca, mut written) = authority(ca_dir, out_dir, days)?;
    for &role in roles {
        let (cert_file, key_file) = role.files(out_dir);
        if keep && cert_file.exists() && key_file.exists() {
            continue;
        }
        let issued = issue(&ca, role, days, &[])?;
        issued.credentials().context("the certificate just issued does not check out")?;
        write_file(&key_file, &issued.key_pem, true)?;
        write_file(&cert_file, &issued.cert_pem, false)?;
        written.files.extend([cert_file, key_file]);
    }
    trust(&ca, ca_dir, out_dir, keep, &mut written)?;
    Ok(written)
}

/// The database server's certificate and key (`database.pem`,
/// `database.key`), issued by the cluster CA for `names` (the host names
/// or addresses the coreapps reach it by, as in `WA_DB_HOSTNAME`), which
/// the coreapps check with `WA_DB_SSL_MODE=VERIFY_FULL` and the CA as
/// `WA_DB_SSL_CA`.
pub fn write_database(
    ca_dir: &Path,
    out_dir: &Path,
    names: &[String],
    days: i64,
    keep: bool,
) -> anyhow::Result<Written> {
    if names.is_empty() {
        bail!("--name: give the host name (or address) the coreapps reach the database server by");
    }
    let (ca, mut written) = authority(ca_dir, out_dir, days)?;
    let (cert_file, key_file) = (out_dir.join(DATABASE_CERT_FILE), out_dir.join(DATABASE_KEY_FILE));
    if !(keep && cert_file.exists() && key_file.exists()) {
        let ca_key = KeyPair::from_pem(&ca.key_pem).context("the CA key is not a readable private key")?;
        let issuer = Issuer::from_ca_cert_pem(&ca.cert_pem, ca_key).context("the CA certificate is not readable")?;
        // Names that parse as addresses become IP address entries.
        let mut params = CertificateParams::new(names.to_vec())?;
        let mut dn = DistinguishedName::new();
        dn.push(DnType::OrganizationName, "wa-onprem");
        dn.push(DnType::CommonName, names[0].as_str());
        params.distinguished_name = dn;
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        validity(&mut params, days);
        let key = KeyPair::generate()?;
        let cert = params.signed_by(&key, &issuer)?;
        write_file(&key_file, &key.serialize_pem(), true)?;
        write_file(&cert_file, &cert.pem(), false)?;
        written.files.extend([cert_file, key_file]);
    }
    trust(&ca, ca_dir, out_dir, keep, &mut written)?;
    Ok(written)
}

/// The database server's certificate, in `cluster-certs --role database`'s output.
pub const DATABASE_CERT_FILE: &str = "database.pem";
/// Its private key.
pub const DATABASE_KEY_FILE: &str = "database.key";

/// The CA of `ca_dir`, made when the directory holds none; `out_dir` made.
fn authority(ca_dir: &Path, out_dir: &Path, days: i64) -> anyhow::Result<(Authority, Written)> {
    if days < 1 {
        bail!("--days must be at least 1");
    }
    let (ca_cert, ca_key) = (ca_dir.join(CA_FILE), ca_dir.join(CA_KEY_FILE));
    let mut files = Vec::new();
    let ca_created = match (ca_cert.exists(), ca_key.exists()) {
        (true, true) => false,
        (false, false) => {
            let ca = new_authority()?;
            std::fs::create_dir_all(ca_dir).with_context(|| format!("cannot create {}", ca_dir.display()))?;
            write_file(&ca_key, &ca.key_pem, true)?;
            write_file(&ca_cert, &ca.cert_pem, false)?;
            files.extend([ca_cert.clone(), ca_key.clone()]);
            true
        }
        _ => bail!("{} must hold both {CA_FILE} and {CA_KEY_FILE}, or neither (to create a new CA)", ca_dir.display()),
    };
    let ca = Authority {
        cert_pem: std::fs::read_to_string(&ca_cert).with_context(|| format!("cannot read {}", ca_cert.display()))?,
        key_pem: std::fs::read_to_string(&ca_key).with_context(|| format!("cannot read {}", ca_key.display()))?,
    };
    std::fs::create_dir_all(out_dir).with_context(|| format!("cannot create {}", out_dir.display()))?;
    Ok((ca, Written { ca_created, files }))
}

/// Each node trusts the CA: `ca.pem` beside its files (the CA's directory
/// already has it).
fn trust(ca: &Authority, ca_dir: &Path, out_dir: &Path, keep: bool, written: &mut Written) -> anyhow::Result<()> {
    let trusted = out_dir.join(CA_FILE);
    if trusted != ca_dir.join(CA_FILE) && !(keep && trusted.exists()) {
        write_file(&trusted, &ca.cert_pem, false)?;
        written.files.push(trusted);
    }
    Ok(())
}

/// Writes a file; private keys are readable by their owner only.
fn write_file(path: &Path, contents: &str, private: bool) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mode = if private { 0o600 } else { 0o644 };
    let tmp = path.with_extension("tmp");
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(&tmp)
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    file.write_all(contents.as_bytes())?;
    file.sync_all()?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn provider() {
        let _ = rustls::crypto::ring::default_provider().install_default();
    }

    #[test]
    fn issued_credentials_check_out_and_roles_do_not_mix() {
        provider();
        let ca = new_authority().unwrap();
        let core = issue(&ca, Role::Coreapp, 30, &[]).unwrap();
        let web = issue(&ca, Role::Webapp, 30, &[]).unwrap();
        core.credentials().unwrap();
        web.credentials().unwrap();

        // A coreapp certificate cannot pass for a webapp's, nor the reverse.
        let as_web = Credentials::from_pem(Role::Webapp, ca.cert_pem.clone(), core.cert_pem.clone(), core.key_pem);
        assert!(as_web.is_err());
        let as_core =
            Credentials::from_pem(Role::Coreapp, ca.cert_pem.clone(), web.cert_pem.clone(), web.key_pem.clone());
        assert!(as_core.is_err());

        // Another deployment's CA does not vouch for ours.
        let other = new_authority().unwrap();
        let foreign = issue(&other, Role::Webapp, 30, &[]).unwrap();
        assert!(Credentials::from_pem(Role::Webapp, ca.cert_pem.clone(), foreign.cert_pem, foreign.key_pem).is_err());

        // A key that is not the certificate's.
        let mismatched = issue(&ca, Role::Webapp, 30, &[]).unwrap();
        let wrong_key =
            Credentials::from_pem(Role::Webapp, ca.cert_pem.clone(), web.cert_pem.clone(), mismatched.key_pem);
        assert!(wrong_key.is_err());

        // While a new CA is rolled out, a node trusting both accepts either.
        let both = format!("{}{}", other.cert_pem, ca.cert_pem);
        Credentials::from_pem(Role::Webapp, both, web.cert_pem, web.key_pem).unwrap();
    }

    #[test]
    fn write_creates_a_ca_once_and_keeps_its_key_apart() {
        provider();
        let root = tempfile::tempdir().unwrap();
        let (ca_dir, node_dir) = (root.path().join("ca"), root.path().join("node"));
        let first = write(&ca_dir, &node_dir, &[Role::Coreapp, Role::Webapp], 30, false).unwrap();
        assert!(first.ca_created);
        assert!(!node_dir.join(CA_KEY_FILE).exists(), "the CA key stays in the CA directory");
        Credentials::load(&node_dir, Role::Coreapp).unwrap();
        Credentials::load(&node_dir, Role::Webapp).unwrap();
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(node_dir.join("webapp.key")).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "private keys are not readable by others");

        // Kept: nothing rewritten. Not kept: new certificates, same CA.
        let ca_before = std::fs::read_to_string(ca_dir.join(CA_FILE)).unwrap();
        let cert_before = std::fs::read_to_string(node_dir.join("webapp.pem")).unwrap();
        let kept = write(&ca_dir, &node_dir, &[Role::Webapp], 30, true).unwrap();
        assert!(!kept.ca_created && kept.files.is_empty());
        write(&ca_dir, &node_dir, &[Role::Webapp], 30, false).unwrap();
        assert_eq!(std::fs::read_to_string(ca_dir.join(CA_FILE)).unwrap(), ca_before);
        assert_ne!(std::fs::read_to_string(node_dir.join("webapp.pem")).unwrap(), cert_before);
        Credentials::load(&node_dir, Role::Webapp).unwrap();

        // Half a CA is refused rather than replaced.
        std::fs::remove_file(ca_dir.join(CA_KEY_FILE)).unwrap();
        assert!(write(&ca_dir, &node_dir, &[Role::Webapp], 30, false).is_err());
    }
}
