//! Whether the database answers, as this node last found it.
//!
//! A connection-level failure starts an outage. During an outage calls are
//! refused at once ([`CoreError::Unavailable`]) instead of each waiting for
//! the pool, and one call at a time is let through as a probe, spaced by a
//! backoff (100 ms, doubling, at most 2 s). The first probe goes at once:
//! often only stale connections failed (the server restarted a moment ago)
//! and a new one works. A probe the database answers ends the outage.
//!
//! The outage is logged when it starts and when it ends, not on every
//! refused call.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::Notify;

use crate::error::CoreError;

const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// An outage in progress, as health and support report it.
#[derive(Debug, Clone, PartialEq)]
pub struct Outage {
    /// When it started (wall clock, for reports).
    pub since: SystemTime,
    /// How long it has lasted.
    pub duration: Duration,
    /// The last failure (a client library message; may name the host).
    pub reason: String,
    /// Calls refused at once since it started.
    pub refused: u64,
}

#[derive(Default)]
pub(super) struct Availability {
    /// Bumped on every connection-level failure: connections made before
    /// are pinged before their next use.
    generation: AtomicU64,
    /// Connections pinged before use (suspect or long idle), since start.
    checks: AtomicU64,
    state: Mutex<State>,
    recovered: Notify,
}

#[derive(Default)]
struct State {
    outage: Option<Current>,
    /// The last failure to make a connection, cleared when one is made.
    connect_error: Option<String>,
}

struct Current {
    started: Instant,
    since: SystemTime,
    reason: String,
    next_probe: Instant,
    backoff: Duration,
    probing: bool,
    refused: u64,
}

/// Leave to use the database for one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Pass {
    /// The database is taken to be up.
    Normal,
    /// This call finds out whether an outage is over.
    Probe,
}

/// What a call's result says of the database.
enum Verdict {
    Answered,
    Fault(String),
    /// Every connection was busy: says nothing either way.
    Busy,
}

/// A call let through; settles the outage state with its result. A probe
/// dropped unsettled (its caller went away) lets the next call probe.
pub(super) struct Ticket {
    availability: Arc<Availability>,
    pub(super) pass: Pass,
    settled: bool,
}

impl Ticket {
    pub(super) fn settle(mut self, err: Option<&CoreError>) {
        self.settled = true;
        self.availability.settle(self.pass, err);
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if !self.settled
            && self.pass == Pass::Probe
            && let Some(o) = self.availability.state().outage.as_mut()
        {
            o.probing = false;
        }
    }
}

impl Availability {
    pub(super) fn new() -> Arc<Availability> {
        Arc::new(Availability::default())
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(super) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    pub(super) fn checked(&self) {
        self.checks.fetch_add(1, Ordering::Relaxed);
    }

    pub(super) fn checks(&self) -> u64 {
        self.checks.load(Ordering::Relaxed)
    }

    /// Lets a call through, or refuses it at once during an outage.
    pub(super) fn admit(self: &Arc<Self>, now: Instant) -> Result<Ticket, CoreError> {
        let mut state = self.state();
        let pass = match state.outage.as_mut() {
            None => Pass::Normal,
            Some(o) if !o.probing && now >= o.next_probe => {
                o.probing = true;
                Pass::Probe
            }
            Some(o) => {
                o.refused += 1;
                return Err(CoreError::Unavailable(o.reason.clone()));
            }
        };
        Ok(Ticket { availability: self.clone(), pass, settled: false })
    }

    fn settle(&self, pass: Pass, err: Option<&CoreError>) {
        let now = Instant::now();
        let mut state = self.state();
        let verdict = match err {
            None => Verdict::Answered,
            Some(CoreError::Pool(_)) => match &state.connect_error {
                Some(why) => Verdict::Fault(why.clone()),
                None => Verdict::Busy,
            },
            Some(e) => match super::connection_fault(e) {
                Some(why) => Verdict::Fault(why),
                None => Verdict::Answered,
            },
        };
        match verdict {
            Verdict::Answered => {
                // Only a probe ends an outage: a call let through before it
                // started may finish after it.
                if pass == Pass::Probe
                    && let Some(o) = state.outage.take()
                {
                    drop(state);
                    tracing::info!(
                        after = ?o.started.elapsed(),
                        refused = o.refused,
                        "the database answers again"
                    );
                    self.recovered.notify_waiters();
                }
            }
            Verdict::Fault(why) => {
                self.generation.fetch_add(1, Ordering::AcqRel);
                match state.outage.as_mut() {
                    None => {
                        tracing::error!(reason = %why, "the database is unavailable: calls are refused until it answers again");
                        state.outage = Some(Current {
                            started: now,
                            since: SystemTime::now(),
                            reason: why,
                            next_probe: now,
                            backoff: FIRST_BACKOFF,
                            probing: false,
                            refused: 0,
                        });
                    }
                    Some(o) => {
                        o.reason = why;
                        if pass == Pass::Probe {
                            o.probing = false;
                            o.next_probe = now + o.backoff;
                            o.backoff = (o.backoff * 2).min(MAX_BACKOFF);
                        }
                    }
                }
            }
            Verdict::Busy => {
                if pass == Pass::Probe
                    && let Some(o) = state.outage.as_mut()
                {
                    o.probing = false;
                    o.next_probe = now + o.backoff;
                }
            }
        }
    }

    /// A connection was made.
    pub(super) fn connected(&self) {
        self.state().connect_error = None;
    }

    /// Making a connection failed.
    pub(super) fn connect_failed(&self, why: &str) {
        self.state().connect_error = Some(why.to_string());
    }

    pub(super) fn outage(&self) -> Option<Outage> {
        self.state().outage.as_ref().map(|o| Outage {
            since: o.since,
            duration: o.started.elapsed(),
            reason: o.reason.clone(),
            refused: o.refused,
        })
    }

    /// How long until the database may be tried again (zero when up).
    pub(super) fn retry_in(&self) -> Duration {
        match &self.state().outage {
            None => Duration::ZERO,
            Some(o) if o.probing => FIRST_BACKOFF,
            Some(o) => o.next_probe.saturating_duration_since(Instant::now()),
        }
    }

    /// Resolves when an outage ends (register before checking).
    pub(super) fn recovered(&self) -> tokio::sync::futures::Notified<'_> {
        self.recovered.notified()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gone() -> CoreError {
        CoreError::Db(diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::Unknown,
            Box::new("Server has gone away".to_string()),
        ))
    }

    fn refused_row() -> CoreError {
        CoreError::Db(diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::UniqueViolation,
            Box::new("Duplicate entry".to_string()),
        ))
    }

    #[test]
    fn a_failure_refuses_calls_but_one_probe_at_a_time() {
        let a = Availability::new();
        let t0 = Instant::now();
        let first = a.admit(t0).unwrap();
        assert_eq!(first.pass, Pass::Normal);
        first.settle(Some(&gone()));
        assert!(a.outage().is_some());
        let generation = a.generation();
        assert_eq!(generation, 1, "connections made before are suspect");

        // The first probe goes at once; while it runs, the rest are refused.
        let probe = a.admit(Instant::now()).unwrap();
        assert_eq!(probe.pass, Pass::Probe);
        assert!(matches!(a.admit(t0), Err(CoreError::Unavailable(_))));
        probe.settle(Some(&gone()));
        // The next one waits for the backoff.
        assert!(a.admit(Instant::now()).is_err());
        assert!(a.retry_in() > Duration::ZERO && a.retry_in() <= FIRST_BACKOFF);
        let later = Instant::now() + FIRST_BACKOFF;
        let probe = a.admit(later).unwrap();
        assert_eq!(probe.pass, Pass::Probe);
        // A statement the database refused is an answer: the outage ends.
        probe.settle(Some(&refused_row()));
        assert!(a.outage().is_none());
        assert_eq!(a.admit(Instant::now()).unwrap().pass, Pass::Normal);
        assert_eq!(a.outage(), None);
    }

    #[test]
    fn backoff_doubles_up_to_its_cap() {
        let a = Availability::new();
        a.admit(Instant::now()).unwrap().settle(Some(&gone()));
        let mut at = Instant::now();
        let mut waits = Vec::new();
        for _ in 0..8 {
            let probe = a.admit(at).unwrap();
            probe.settle(Some(&gone()));
            let wait = a.retry_in();
            waits.push(wait);
            at = Instant::now() + wait;
        }
        assert!(waits.windows(2).all(|w| w[1] + Duration::from_millis(5) >= w[0]), "{waits:?}");
        assert!(waits.iter().all(|w| *w <= MAX_BACKOFF), "{waits:?}");
        assert!(*waits.last().unwrap() > MAX_BACKOFF / 2, "{waits:?}");
    }

    #[test]
    fn a_probe_dropped_unsettled_lets_the_next_call_probe() {
        let a = Availability::new();
        a.admit(Instant::now()).unwrap().settle(Some(&gone()));
        let probe = a.admit(Instant::now()).unwrap();
        assert_eq!(probe.pass, Pass::Probe);
        drop(probe);
        assert_eq!(a.admit(Instant::now()).unwrap().pass, Pass::Probe);
    }

    #[test]
    fn a_pool_timeout_is_an_outage_only_when_connecting_failed() {
        let a = Availability::new();
        let busy = || CoreError::Pool(r2d2_timeout());
        a.admit(Instant::now()).unwrap().settle(Some(&busy()));
        assert!(a.outage().is_none(), "every connection busy is load, not an outage");
        a.connect_failed("Can't connect to server on '127.0.0.1' (111)");
        a.admit(Instant::now()).unwrap().settle(Some(&busy()));
        assert!(a.outage().unwrap().reason.contains("Can't connect"));
        a.connected();
        let probe = a.admit(Instant::now()).unwrap();
        probe.settle(None);
        assert!(a.outage().is_none());
    }

    #[test]
    fn calls_let_through_before_an_outage_do_not_end_it() {
        let a = Availability::new();
        let early = a.admit(Instant::now()).unwrap();
        a.admit(Instant::now()).unwrap().settle(Some(&gone()));
        early.settle(None);
        assert!(a.outage().is_some());
    }

    /// A pool timeout as r2d2 reports it (no constructor is public).
    fn r2d2_timeout() -> diesel::r2d2::PoolError {
        #[derive(Debug)]
        struct Never;
        impl diesel::r2d2::ManageConnection for Never {
            type Connection = ();
            type Error = std::io::Error;
            fn connect(&self) -> Result<(), std::io::Error> {
                Err(std::io::Error::other("never"))
            }
            fn is_valid(&self, _: &mut ()) -> Result<(), std::io::Error> {
                Ok(())
            }
            fn has_broken(&self, _: &mut ()) -> bool {
                false
            }
        }
        #[derive(Debug)]
        struct Silent;
        impl diesel::r2d2::HandleError<std::io::Error> for Silent {
            fn handle_error(&self, _: std::io::Error) {}
        }
        let pool = diesel::r2d2::Pool::builder()
            .max_size(1)
            .connection_timeout(Duration::from_millis(10))
            .error_handler(Box::new(Silent))
            .build_unchecked(Never);
        match pool.get() {
            Err(e) => e,
            Ok(_) => panic!("the pool cannot hand out a connection it never made"),
        }
    }
}
