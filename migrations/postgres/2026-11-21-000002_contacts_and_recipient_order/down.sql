DROP TABLE contact_identities;
DROP TABLE contacts;
DROP INDEX outbound_messages_recipient;
