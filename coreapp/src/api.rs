//! The request side: one function per operation the webapp asks for over
//! gRPC. [`service`] is the gRPC service itself (proto in, one call here,
//! proto out); the other modules hold the operations, grouped as the
//! on-prem API groups its routes. An operation validates, writes durably
//! and nudges a worker; the work that follows belongs to the engine.

pub mod accounts;
pub mod admin;
pub mod backup;
pub mod contacts;
pub mod messages;
pub mod passwords;
pub mod service;
pub mod settings;
pub mod support;
