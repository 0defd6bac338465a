-- Coreapps register here and heartbeat every `heartbeat_interval`, so any
-- node can answer /v1/health for all of them (the multiconnect shape); a
-- node silent for `unhealthy_interval` shows as disconnected.
CREATE TABLE nodes (
    node_id VARCHAR(64) NOT NULL PRIMARY KEY,
    instance VARCHAR(64) NOT NULL,
    gateway_status VARCHAR(16) NOT NULL,
    started_at BIGINT NOT NULL,
    heartbeat_at BIGINT NOT NULL
);

-- The business number's Cloud throughput, shared by every coreapp: a node
-- reserves send slots by moving `next_slot_us` forward, so all nodes
-- together stay under the rate.
CREATE TABLE send_pacing (
    phone_number_id VARCHAR(64) NOT NULL PRIMARY KEY,
    next_slot_us BIGINT NOT NULL
);
