-- Media known to the stack: uploaded through /v1/media or received from
-- users. `id` is ours (a UUID, as the old client); `cloud_id` is Cloud's
-- media id while it is valid; the bytes, once on the shared volume, are
-- the content-addressed blob `blob_sha256`.
CREATE TABLE media (
    id VARCHAR(36) NOT NULL PRIMARY KEY,
    origin VARCHAR(16) NOT NULL,
    mime_type VARCHAR(255) NOT NULL,
    cloud_id VARCHAR(64) NULL,
    cloud_expires_at BIGINT NULL,
    cloud_sha256 VARCHAR(128) NULL,
    blob_sha256 VARCHAR(64) NULL,
    size BIGINT NULL,
    filename VARCHAR(255) NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX media_cloud_id ON media (cloud_id);
