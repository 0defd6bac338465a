//! Cloud webhooks handled as they arrive. Cloud gets its `200` only once a
//! notification's outcome is committed. Storing each body, to be claimed,
//! read back, handled and deleted by the intake a moment later, cost a
//! third of the rows written per event; instead, one task (group commit,
//! `store::group`) takes every notification that arrived during its
//! previous write and handles them together in one transaction, as the
//! intake handles a batch: statuses recorded, user messages given our ids,
//! on-prem events queued for the business.
//!
//! The intake's queue keeps what cannot be handled at once: statuses
//! waiting for the sender to record their wamid, unreadable bodies (set
//! aside there), and, when a batch fails for a reason other than the
//! database being away (another node recorded the same status meanwhile),
//! each notification that fails again on its own.

use std::sync::{Arc, Weak};
use std::time::Duration;

use crate::Core;
use crate::engine::intake::{self, Context, FollowUp};
use crate::error::CoreError;
use crate::store::db::{AnyConnection, now_ms, transaction};
use crate::store::group::{GroupWriter, Linger};
use crate::store::inbound;

/// Most notifications in one write (Cloud's are small: a few kB each).
const MAX_BATCH: usize = 128;
/// While notifications come several at once, a write of fewer than this
/// waits up to [`LINGER`] for more: each write reads what its
/// notifications name before it writes, and at 2,000 POSTs/s one held
/// about two. Cloud waits a few milliseconds more for its `200`; one that
/// POSTs one at a time is not made to wait.
const LINGER_BELOW: usize = 16;
const LINGER: Duration = Duration::from_millis(3);

#[derive(Clone)]
enum Failure {
    /// The database could not be used (an outage).
    Unavailable(String),
    Other(String),
}

impl From<CoreError> for Failure {
    fn from(e: CoreError) -> Failure {
        if e.is_unavailable() { Failure::Unavailable(e.to_string()) } else { Failure::Other(e.to_string()) }
    }
}

#[derive(Clone)]
pub struct Receipts {
    writer: GroupWriter<Vec<u8>, Result<(), Failure>>,
}

impl Receipts {
    /// Starts the writer task for `core`; it ends when every `Receipts`
    /// is gone.
    pub fn start(core: Weak<Core>) -> Receipts {
        let linger = Linger { below: LINGER_BELOW, wait: LINGER, when_shared: true };
        let writer = GroupWriter::start("Cloud webhook", MAX_BATCH, linger, move |bodies: Vec<Vec<u8>>| {
            let core = core.upgrade();
            async move {
                match core {
                    Some(core) => receive(&core, bodies).await,
                    None => vec![Err(Failure::Other("the coreapp is stopping".into())); bodies.len()],
                }
            }
        });
        Receipts { writer }
    }

    /// Handles a notification (or stores it for the intake); returns once
    /// that is committed.
    pub async fn store(&self, body: Vec<u8>) -> Result<(), CoreError> {
        match self.writer.submit(body).await? {
            Ok(()) => Ok(()),
            Err(Failure::Unavailable(text)) => Err(CoreError::Unavailable(text)),
            Err(Failure::Other(text)) => {
                Err(CoreError::Internal(anyhow::anyhow!("storing the Cloud webhook failed: {text}")))
            }
        }
    }
}

/// One outcome per body, in order.
async fn receive(core: &Arc<Core>, bodies: Vec<Vec<u8>>) -> Vec<Result<(), Failure>> {
    let n = bodies.len();
    let settings = match core.settings().await {
        Ok(settings) => Some(settings),
        Err(e) if e.is_unavailable() => return vec![Err(e.into()); n],
        Err(e) => {
            tracing::error!(error = %e, "settings unreadable; Cloud webhooks stored for the intake");
            None
        }
    };
    let (owner, pnid) = (core.owner.clone(), core.config.cloud.phone_number_id.clone());
    let handled = core
        .db
        .run(move |conn| {
            let now = now_ms();
            let events: Vec<inbound::Event> = bodies
                .into_iter()
                .map(|body| inbound::Event { id: crate::store::ordered_id(), body, attempts: 0, received_at: now })
                .collect();
            let Some(settings) = settings else {
                let stored = store_all(conn, &events);
                let follow_up = FollowUp { stored: stored.iter().filter(|r| r.is_ok()).count(), ..FollowUp::default() };
                return Ok((stored, follow_up));
            };
            let ctx = Context { owner: &owner, pnid: &pnid, settings: &settings };
            match transaction(conn, |conn| intake::handle_received(conn, &events, &ctx)) {
                Ok(follow_up) => Ok((vec![Ok(()); events.len()], follow_up)),
                // The database went away: nothing was written; Cloud tries
                // again later.
                Err(e) if e.is_unavailable() => Err(e),
                Err(e) => {
                    tracing::warn!(error = %e, "a batch of Cloud webhooks failed; handling them one by one");
                    Ok(one_by_one(conn, &events, &ctx))
                }
            }
        })
        .await;
    match handled {
        Ok((outcomes, follow_up)) => {
            follow_up.wake(&core.wake);
            outcomes
        }
        Err(e) => {
            if !e.is_unavailable() {
                tracing::error!(error = %e, "handling Cloud webhooks failed");
            }
            vec![Err(e.into()); n]
        }
    }
}

/// After a batch failed: each notification on its own, stored for the
/// intake when it fails again.
fn one_by_one(
    conn: &mut AnyConnection,
    events: &[inbound::Event],
    ctx: &Context<'_>,
) -> (Vec<Result<(), Failure>>, FollowUp) {
    let mut all = FollowUp::default();
    let outcomes = events
        .iter()
        .map(|event| {
            let one = std::slice::from_ref(event);
            match transaction(conn, |conn| intake::handle_received(conn, one, ctx)) {
                Ok(follow_up) => {
                    all.add(follow_up);
                    Ok(())
                }
                Err(e) if e.is_unavailable() => Err(e.into()),
                Err(e) => {
                    tracing::warn!(error = %e, "a Cloud webhook failed; stored for the intake to try again");
                    let stored = store_all(conn, one).remove(0);
                    all.stored += usize::from(stored.is_ok());
                    stored
                }
            }
        })
        .collect();
    (outcomes, all)
}

/// Stores notifications as they came, for the intake.
fn store_all(conn: &mut AnyConnection, events: &[inbound::Event]) -> Vec<Result<(), Failure>> {
    let bodies: Vec<Vec<u8>> = events.iter().map(|event| event.body.clone()).collect();
    match transaction(conn, |conn| Ok(inbound::insert_events(conn, &bodies, now_ms())?)) {
        Ok(_) => vec![Ok(()); events.len()],
        Err(e) => vec![Err(e.into()); events.len()],
    }
}
