//! What the coreapp calls outside the cluster, and the rules for where it
//! may go.
//!
//! - [`cloud`]: the Cloud API client and its retry classifier.
//! - [`webhooks`]: the HTTP client for the business's webhook server.
//! - [`outbound`]: the destinations a request with credentials may reach
//!   (Cloud's hosts, a media provider's hosts), checked before connecting.
//! - [`media_links`]: media sent by `link` from a host that needs a
//!   provider's credentials, downloaded here and uploaded to Cloud.

pub mod cloud;
pub mod media_links;
pub mod outbound;
pub mod webhooks;
