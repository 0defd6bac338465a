//! Regression tests of the security review, one module per area.

// This file is a test crate's root, whose `mod` lines look beside it; the
// areas live in `security/`.
#[path = "security/bounded.rs"]
mod bounded;
#[path = "security/fetch.rs"]
mod fetch;
#[path = "security/link.rs"]
mod link;
#[path = "security/tokens.rs"]
mod tokens;
#[path = "security/validation.rs"]
mod validation;
