DROP INDEX webhook_outbox_claim ON webhook_outbox;
DROP INDEX inbound_events_claim ON inbound_events;
DROP INDEX outbound_messages_claim ON outbound_messages;
