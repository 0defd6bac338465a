-- Sends to one recipient go out in order, and a recipient held back by
-- Cloud's pair rate limit holds back its later messages: the sender claims
-- only the oldest pending message of each recipient.
CREATE INDEX outbound_messages_recipient ON outbound_messages (recipient, state, created_at);

-- POST /v1/contacts results, kept 7 days as the old client did.
CREATE TABLE contacts (
    input VARCHAR(64) NOT NULL PRIMARY KEY,
    status VARCHAR(16) NOT NULL,
    wa_id VARCHAR(32) NULL,
    checked_at BIGINT NOT NULL
);

-- Identity keys of users, from Cloud's identity notifications.
CREATE TABLE contact_identities (
    wa_id VARCHAR(32) NOT NULL PRIMARY KEY,
    hash VARCHAR(128) NOT NULL,
    created_timestamp BIGINT NOT NULL,
    acknowledged INTEGER NOT NULL DEFAULT 0
);
