DROP INDEX webhook_outbox_claim;
DROP INDEX inbound_events_claim;
DROP INDEX outbound_messages_claim;
