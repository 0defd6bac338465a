-- Claims read pending rows in the order they are handed out; these
-- indexes keep that a range read however large a backlog grows.
CREATE INDEX webhook_outbox_claim ON webhook_outbox (state, id);
CREATE INDEX inbound_events_claim ON inbound_events (state, id);
CREATE INDEX outbound_messages_claim ON outbound_messages (state, created_at);
