//! End-to-end tests: each starts `sandbox::run` on 127.0.0.1:0 and talks to it over HTTP.

mod control;
mod graph;
mod support;
mod webhooks;
