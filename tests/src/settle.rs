//! Waiting without sleeping: until the stack has settled, until workers
//! stopped on purpose have been drained, until a delivery was tried or the
//! collector ran.

use std::time::Duration;

use serde_json::Value;

use crate::*;

impl Stack {
    /// Polls `check` until it holds or `within` passes.
    pub async fn wait_until<F, Fut>(&self, within: Duration, mut check: F) -> Result<(), String>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if check().await {
                return Ok(());
            }
            if tokio::time::Instant::now() > deadline {
                return Err(format!("condition not met within {within:?}"));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// What Cloud (the sandbox) received, oldest first.
    /// Work still under way anywhere in the stack, by where it waits, in
    /// the order a message flows: sends Cloud has not answered, the
    /// sandbox's status lifecycles and webhooks not yet delivered, Cloud
    /// webhooks not yet turned into events, media not yet fetched, events
    /// not yet delivered to the business. Each hand-off is committed before
    /// the earlier stage lets go, so counting in this order misses nothing.
    pub async fn unsettled(&self, db: &coreapp::store::db::Db) -> Vec<(&'static str, i64)> {
        use coreapp::store::schema::{
            inbound_events as ie, media_downloads as md, outbound_messages as om, webhook_outbox as wo,
        };
        use diesel::prelude::*;
        let pending = "pending";
        let sends = db
            .run(move |conn| Ok(om::table.filter(om::state.eq(pending)).count().get_result::<i64>(conn)?))
            .await
            .unwrap();
        let stats: Value =
            self.http.get(format!("{}/_sandbox/stats", self.sandbox)).send().await.unwrap().json().await.unwrap();
        let cloud =
            stats["pending"]["tasks"].as_i64().unwrap_or(0) + stats["pending"]["webhook_items"].as_i64().unwrap_or(0);
        let rest = db
            .run(move |conn| {
                let inbound = ie::table.filter(ie::state.eq(pending)).count().get_result::<i64>(conn)?;
                let media = md::table.filter(md::state.eq(pending)).count().get_result::<i64>(conn)?;
                let events = wo::table.filter(wo::state.eq(pending)).count().get_result::<i64>(conn)?;
                Ok([inbound, media, events])
            })
            .await
            .unwrap();
        [("sends", sends), ("cloud", cloud), ("inbound", rest[0]), ("media", rest[1]), ("events", rest[2])]
            .into_iter()
            .filter(|(_, n)| *n > 0)
            .collect()
    }

    /// Waits until nothing is under way (see [`Stack::unsettled`]): after
    /// it, the receiver holds everything that what came before will ever
    /// produce, so "nothing else arrived" can be asserted without sleeping.
    pub async fn settled(&self) {
        let db = self.db().await;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let left = self.unsettled(&db).await;
            if left.is_empty() {
                return;
            }
            assert!(tokio::time::Instant::now() < deadline, "the stack never settled: {left:?} still under way");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Moves everything along with the workers stopped (see
    /// [`Options::background_workers`]): runs every worker's step on a node
    /// of the test's own (`coreapp::engine::drain`) and waits for the
    /// sandbox's statuses and webhooks, until neither has anything left.
    /// Returns what the workers did.
    pub async fn drain(&self) -> coreapp::engine::Drained {
        let mut config = self.core_config(0);
        config.node_id = "test-drain".into();
        let core = coreapp::open(config).await.expect("a node for draining");
        let mut total = coreapp::engine::Drained::default();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            self.sandbox_idle(deadline).await;
            let round = coreapp::engine::drain(&core).await.expect("the workers' steps");
            if round.total() == 0 {
                return total;
            }
            total.intake += round.intake;
            total.downloads += round.downloads;
            total.sends += round.sends;
            total.deliveries += round.deliveries;
        }
    }

    /// Waits until the sandbox has no status lifecycle or webhook under way.
    async fn sandbox_idle(&self, deadline: tokio::time::Instant) {
        loop {
            let stats: Value =
                self.http.get(format!("{}/_sandbox/stats", self.sandbox)).send().await.unwrap().json().await.unwrap();
            if stats["pending"]["tasks"] == 0 && stats["pending"]["webhook_items"] == 0 {
                return;
            }
            assert!(tokio::time::Instant::now() < deadline, "the sandbox never went idle: {}", stats["pending"]);
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Waits until an event for the business has been tried `n` times
    /// without being delivered (its server refuses, or cannot be reached):
    /// proof that delivery was attempted, for "nothing arrived" asserts.
    pub async fn wait_delivery_attempts(&self, n: i32) {
        use coreapp::store::schema::webhook_outbox as wo;
        use diesel::prelude::*;
        let db = self.db().await;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let tried = db
                .run(|conn| {
                    Ok(wo::table
                        .filter(wo::state.eq("pending"))
                        .select(diesel::dsl::max(wo::attempts))
                        .first::<Option<i32>>(conn)?)
                })
                .await
                .unwrap()
                .unwrap_or(0);
            if tried >= n {
                return;
            }
            assert!(tokio::time::Instant::now() < deadline, "no event tried {n} times within 30 s (at most {tried})");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits until the garbage collector has run `n` more times (each run
    /// renews its lease), for "the collector left it alone" asserts.
    pub async fn wait_collector_runs(&self, n: usize) {
        use coreapp::store::schema::job_leases as jl;
        use diesel::prelude::*;
        let db = self.db().await;
        let lease = || {
            let db = db.clone();
            async move {
                db.run(|conn| {
                    Ok(jl::table
                        .filter(jl::name.eq("media_gc"))
                        .select(jl::lease_until)
                        .first::<i64>(conn)
                        .optional()?)
                })
                .await
                .unwrap()
            }
        };
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        let (mut last, mut runs) = (lease().await, 0);
        while runs < n {
            assert!(tokio::time::Instant::now() < deadline, "the collector ran {runs} of {n} times within 30 s");
            tokio::time::sleep(Duration::from_millis(10)).await;
            let now = lease().await;
            if now != last {
                (last, runs) = (now, runs + 1);
            }
        }
    }
}
