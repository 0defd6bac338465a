//! End-to-end tests: each starts `sandbox::run` on 127.0.0.1:0 and talks to it over HTTP.

mod console;
mod control;
mod faults;
mod graph;
mod management;
mod media;
mod rules;
mod send;
mod shapes;
mod support;
mod uploads;
mod users;
mod webhooks;
