//! Regression tests of the security review, one module per area. A test
//! target's root resolves modules beside itself, hence the `path`.
#[path = "security/edge.rs"]
mod edge;
