-- The identity registry: every WhatsApp user Cloud named by a business-scoped
-- user ID (BSUID), with their phone number once it was ever shared. `seq`
-- numbers the stand-in identifiers of users whose phone is not known;
-- `replaced_by` is the seq of the row that took over when Cloud gave the
-- user a new BSUID (a number change).
CREATE TABLE whatsapp_users (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    bsuid TEXT NOT NULL,
    parent_bsuid TEXT NULL,
    phone TEXT NULL,
    username TEXT NULL,
    profile_name TEXT NULL,
    replaced_by INTEGER NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX whatsapp_users_bsuid ON whatsapp_users (bsuid);
CREATE INDEX whatsapp_users_phone ON whatsapp_users (phone);
