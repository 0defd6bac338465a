DROP TABLE whatsapp_users;
ALTER TABLE outbound_messages ALTER COLUMN recipient TYPE VARCHAR(32);
ALTER TABLE inbound_messages ALTER COLUMN from_wa_id TYPE VARCHAR(32);
ALTER TABLE webhook_outbox ALTER COLUMN contact TYPE VARCHAR(32);
ALTER TABLE contact_identities ALTER COLUMN wa_id TYPE VARCHAR(32);
