ALTER TABLE outbound_messages DROP COLUMN media_resends;
DROP TABLE job_leases;
DROP TABLE media_downloads;
DROP TABLE media_blobs;
DROP INDEX media_created;
DROP INDEX media_blob;
ALTER TABLE media DROP COLUMN cloud_url;
ALTER TABLE media DROP COLUMN upload_expires_at;
ALTER TABLE media DROP COLUMN upload_id;
