-- Media known to the stack: uploaded through /v1/media or received from
-- users. `id` is ours (a UUID, as the old client); `cloud_id` is Cloud's
-- media id while it is valid; the bytes, once on the shared volume, are
-- the content-addressed blob `blob_sha256`.
CREATE TABLE media (
    id TEXT NOT NULL PRIMARY KEY,
    origin TEXT NOT NULL,
    mime_type TEXT NOT NULL,
    cloud_id TEXT NULL,
    cloud_expires_at INTEGER NULL,
    cloud_sha256 TEXT NULL,
    blob_sha256 TEXT NULL,
    size INTEGER NULL,
    filename TEXT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX media_cloud_id ON media (cloud_id);
