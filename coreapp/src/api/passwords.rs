//! Password hashing: argon2id with the crate's default cost (19 MiB of
//! memory, two passes), stored as the usual PHC string; and the same
//! function as the key derivation of backups.
//!
//! The hash's memory is allocated here rather than by the crate, larger
//! than glibc's largest threshold for memory it keeps (32 MiB), so it is
//! mapped for the hash alone and handed back to the system when the hash is
//! done (only the 19 MiB the hash uses is ever touched). Allocated by the
//! crate, each hash left about 19 MiB in the process for good: an idle
//! coreapp held 58 MB after its first login instead of 20.

use argon2::password_hash::{Output, ParamsString, PasswordHash, Salt, SaltString, rand_core::OsRng};
use argon2::{Algorithm, Argon2, Block, Params, Version};

/// Blocks (1 KiB each) allocated for a hash: just over 32 MiB.
const BLOCKS_ALLOCATED: usize = 33 * 1024;

pub fn hash_password(password: &str) -> anyhow::Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    let argon = Argon2::default();
    let output =
        compute(&argon, password, salt.as_salt()).map_err(|e| anyhow::anyhow!("password hashing failed: {e}"))?;
    let phc = PasswordHash {
        algorithm: Algorithm::default().ident(),
        version: Some(Version::default().into()),
        params: ParamsString::try_from(argon.params()).map_err(|e| anyhow::anyhow!("password hashing failed: {e}"))?,
        salt: Some(salt.as_salt()),
        hash: Some(output),
    };
    Ok(phc.to_string())
}

pub fn verify_password(hash: &str, password: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(hash) else { return false };
    let (Some(expected), Some(salt)) = (parsed.hash, parsed.salt) else { return false };
    let Ok(algorithm) = Algorithm::try_from(parsed.algorithm) else { return false };
    let Ok(version) = parsed.version.map(Version::try_from).transpose() else { return false };
    let Ok(params) = Params::try_from(&parsed) else { return false };
    let argon = Argon2::new(algorithm, version.unwrap_or_default(), params);
    // `Output` compares in constant time.
    compute(&argon, password, salt).is_ok_and(|output| output == expected)
}

/// Fills `out` with the argon2id (default cost) of `password` and the raw
/// `salt`, in memory of its own (see above): the key of a backup.
pub fn derive_key(password: &str, salt: &[u8], out: &mut [u8]) -> argon2::Result<()> {
    let argon = Argon2::default();
    argon.hash_password_into_with_memory(password.as_bytes(), salt, out, own_memory(&argon))
}

/// The hash of `password` with `salt`, in memory of its own (see above).
fn compute(argon: &Argon2<'_>, password: &str, salt: Salt<'_>) -> argon2::password_hash::Result<Output> {
    let mut salt_bytes = [0u8; 64];
    let salt = salt.decode_b64(&mut salt_bytes)?;
    let length = argon.params().output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN);
    Output::init_with(length, |out| {
        Ok(argon.hash_password_into_with_memory(password.as_bytes(), salt, out, own_memory(argon))?)
    })
}

/// The blocks a hash works in, allocated larger than glibc keeps; only
/// those the hash needs are written (and so resident).
fn own_memory(argon: &Argon2<'_>) -> Vec<Block> {
    let needed = argon.params().block_count();
    let mut memory: Vec<Block> = Vec::with_capacity(needed.max(BLOCKS_ALLOCATED));
    memory.resize(needed, Block::default());
    memory
}

#[cfg(test)]
mod tests {
    use argon2::password_hash::{PasswordHasher, PasswordVerifier};

    use super::*;

    #[test]
    fn hash_and_verify() {
        let h = hash_password("Secret#123").unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert!(verify_password(&h, "Secret#123"));
        assert!(!verify_password(&h, "Secret#124"));
        assert!(!verify_password("not a hash", "x"));
    }

    #[test]
    fn a_derived_key_is_the_crates_own() {
        let (mut ours, mut theirs) = ([0u8; 32], [0u8; 32]);
        derive_key("Backup#pass1", b"sixteen byte slt", &mut ours).unwrap();
        Argon2::default().hash_password_into(b"Backup#pass1", b"sixteen byte slt", &mut theirs).unwrap();
        assert_eq!(ours, theirs);
    }

    #[test]
    fn hashes_agree_with_the_crates_own_both_ways() {
        // Ours, checked by the crate.
        let ours = hash_password("Secret#123").unwrap();
        let parsed = PasswordHash::new(&ours).unwrap();
        assert!(Argon2::default().verify_password(b"Secret#123", &parsed).is_ok());
        assert!(Argon2::default().verify_password(b"secret#123", &parsed).is_err());
        // The crate's (as stored by earlier versions), checked by ours,
        // other costs included.
        let salt = SaltString::generate(&mut OsRng);
        let theirs = Argon2::default().hash_password(b"Pass#word9", &salt).unwrap().to_string();
        assert!(verify_password(&theirs, "Pass#word9"));
        assert!(!verify_password(&theirs, "Pass#word8"));
        let light = Argon2::new(Algorithm::Argon2i, Version::V0x10, Params::new(4096, 3, 1, None).unwrap());
        let other = light.hash_password(b"Pass#word9", &salt).unwrap().to_string();
        assert!(other.starts_with("$argon2i$v=16$m=4096,t=3,p=1$"), "{other}");
        assert!(verify_password(&other, "Pass#word9"));
        assert!(!verify_password(&other, "Pass#word8"));
    }
}
