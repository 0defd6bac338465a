-- The identity registry: every WhatsApp user Cloud named by a business-scoped
-- user ID (BSUID), with their phone number once it was ever shared. `seq`
-- numbers the stand-in identifiers of users whose phone is not known;
-- `replaced_by` is the seq of the row that took over when Cloud gave the
-- user a new BSUID (a number change).
CREATE TABLE whatsapp_users (
    seq BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    bsuid VARCHAR(140) NOT NULL,
    parent_bsuid VARCHAR(140) NULL,
    phone VARCHAR(20) NULL,
    username VARCHAR(64) NULL,
    profile_name TEXT NULL,
    replaced_by BIGINT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX whatsapp_users_bsuid ON whatsapp_users (bsuid);
CREATE INDEX whatsapp_users_phone ON whatsapp_users (phone);

-- Users are named by what the business put in `to` or sees in `from`: a
-- phone number, a stand-in identifier, or a BSUID (up to 131 characters).
ALTER TABLE outbound_messages MODIFY recipient VARCHAR(140) NOT NULL;
ALTER TABLE inbound_messages MODIFY from_wa_id VARCHAR(140) NOT NULL;
ALTER TABLE webhook_outbox MODIFY contact VARCHAR(140) NOT NULL;
ALTER TABLE contact_identities MODIFY wa_id VARCHAR(140) NOT NULL;
