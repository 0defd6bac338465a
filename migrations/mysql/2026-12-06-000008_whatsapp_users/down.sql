DROP TABLE whatsapp_users;
ALTER TABLE outbound_messages MODIFY recipient VARCHAR(32) NOT NULL;
ALTER TABLE inbound_messages MODIFY from_wa_id VARCHAR(32) NOT NULL;
ALTER TABLE webhook_outbox MODIFY contact VARCHAR(32) NOT NULL;
ALTER TABLE contact_identities MODIFY wa_id VARCHAR(32) NOT NULL;
