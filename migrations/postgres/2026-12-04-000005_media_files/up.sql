-- Media files on the shared volume.
--
-- `media` gains what sending and downloading need: the Cloud id we got by
-- uploading the file (`upload_id`, valid until `upload_expires_at`; Cloud
-- keeps uploads 30 days) next to the id a user's message came with
-- (`cloud_id`, for downloading), and the download URL an inbound webhook
-- already carried (`cloud_url`, valid 5 minutes).
ALTER TABLE media ADD COLUMN upload_id VARCHAR(64) NULL;
ALTER TABLE media ADD COLUMN upload_expires_at BIGINT NULL;
ALTER TABLE media ADD COLUMN cloud_url TEXT NULL;
CREATE INDEX media_blob ON media (blob_sha256);
CREATE INDEX media_created ON media (created_at);

-- One row per content-addressed file on the volume. Placing a file and
-- removing one both lock its row first, so an upload of identical bytes
-- never races the removal of the last media id that used them.
CREATE TABLE media_blobs (
    sha256 VARCHAR(64) NOT NULL PRIMARY KEY,
    created_at BIGINT NOT NULL
);

-- Inbound media to fetch from Cloud before its webhook goes out
-- (`media.auto_download`); a queue like the others. `event_id` is the
-- held webhook event, released when the file is on the volume (or the
-- download gave up).
CREATE TABLE media_downloads (
    id VARCHAR(32) NOT NULL PRIMARY KEY,
    media_id VARCHAR(36) NOT NULL,
    event_id VARCHAR(32) NULL,
    state VARCHAR(16) NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    lease_owner VARCHAR(64) NULL,
    lease_until BIGINT NULL,
    last_error TEXT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX media_downloads_claim ON media_downloads (state, id);

-- Periodic jobs that one node at a time should run (the media garbage
-- collector): a lease per job.
CREATE TABLE job_leases (
    name VARCHAR(64) NOT NULL PRIMARY KEY,
    lease_owner VARCHAR(64) NULL,
    lease_until BIGINT NOT NULL
);
INSERT INTO job_leases (name, lease_owner, lease_until) VALUES ('media_gc', NULL, 0);

-- A message whose uploaded media Cloud rejected after accepting the send
-- (131053: the id expired or was removed) is uploaded again and re-sent
-- once; this counts those re-sends.
ALTER TABLE outbound_messages ADD COLUMN media_resends INTEGER NOT NULL DEFAULT 0;
