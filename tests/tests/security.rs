//! Regression tests of the security review, one module per area.

// This file is a test crate's root, whose `mod` lines look beside it; the
// areas live in `security/`.

/// One test (`edge::stalled_unauthenticated_bodies_are_bounded_and_closed`) measures this
/// process's peak memory: it holds this alone, every other test holds it
/// shared, so nothing else allocates while it measures.
static EXCLUSIVE: tokio::sync::RwLock<()> = tokio::sync::RwLock::const_new(());
#[path = "security/bounded.rs"]
mod bounded;
#[path = "security/database.rs"]
mod database;
#[path = "security/edge.rs"]
mod edge;
#[path = "security/fetch.rs"]
mod fetch;
#[path = "security/link.rs"]
mod link;
#[path = "security/tokens.rs"]
mod tokens;
#[path = "security/validation.rs"]
mod validation;
