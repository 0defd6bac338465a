//! Diesel table definitions; the SQL lives in `migrations/{mysql,sqlite}`.

diesel::table! {
    users (username) {
        username -> Text,
        password_hash -> Text,
        role -> Text,
        must_change_password -> Integer,
        created_at -> BigInt,
        updated_at -> BigInt,
        name_key -> Nullable<Text>,
    }
}

diesel::table! {
    token_revocations (id) {
        id -> Text,
        token_id -> Text,
        username -> Text,
        issued_before_ms -> BigInt,
        expires_at_ms -> BigInt,
        created_at -> BigInt,
    }
}

diesel::table! {
    settings (name) {
        name -> Text,
        value -> Text,
        updated_at -> BigInt,
    }
}

diesel::table! {
    web_certificates (name) {
        name -> Text,
        cert_pem -> Text,
        key_pem -> Text,
        created_at -> BigInt,
    }
}

diesel::table! {
    outbound_messages (id) {
        id -> Text,
        recipient -> Text,
        payload -> Text,
        state -> Text,
        attempts -> Integer,
        next_attempt_at -> BigInt,
        lease_owner -> Nullable<Text>,
        lease_until -> Nullable<BigInt>,
        wamid -> Nullable<Text>,
        last_status -> Nullable<Text>,
        last_error -> Nullable<Text>,
        created_at -> BigInt,
        updated_at -> BigInt,
        media_resends -> Integer,
    }
}

diesel::table! {
    message_statuses (id) {
        id -> Text,
        message_id -> Text,
        status -> Text,
        cloud_timestamp -> Text,
        created_at -> BigInt,
    }
}

diesel::table! {
    inbound_events (id) {
        id -> Text,
        body -> Binary,
        state -> Text,
        attempts -> Integer,
        next_attempt_at -> BigInt,
        lease_owner -> Nullable<Text>,
        lease_until -> Nullable<BigInt>,
        last_error -> Nullable<Text>,
        received_at -> BigInt,
    }
}

diesel::table! {
    inbound_messages (id) {
        id -> Text,
        wamid -> Text,
        from_wa_id -> Text,
        received_at -> BigInt,
    }
}

diesel::table! {
    webhook_outbox (id) {
        id -> Text,
        contact -> Text,
        kind -> Text,
        payload -> Text,
        state -> Text,
        attempts -> Integer,
        next_attempt_at -> BigInt,
        lease_owner -> Nullable<Text>,
        lease_until -> Nullable<BigInt>,
        last_error -> Nullable<Text>,
        created_at -> BigInt,
        delivered_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    contacts (input) {
        input -> Text,
        status -> Text,
        wa_id -> Nullable<Text>,
        checked_at -> BigInt,
    }
}

diesel::table! {
    contact_identities (wa_id) {
        wa_id -> Text,
        hash -> Text,
        created_timestamp -> BigInt,
        acknowledged -> Integer,
    }
}

diesel::table! {
    media (id) {
        id -> Text,
        origin -> Text,
        mime_type -> Text,
        cloud_id -> Nullable<Text>,
        cloud_expires_at -> Nullable<BigInt>,
        cloud_sha256 -> Nullable<Text>,
        blob_sha256 -> Nullable<Text>,
        size -> Nullable<BigInt>,
        filename -> Nullable<Text>,
        created_at -> BigInt,
        upload_id -> Nullable<Text>,
        upload_expires_at -> Nullable<BigInt>,
        cloud_url -> Nullable<Text>,
    }
}

diesel::table! {
    media_blobs (sha256) {
        sha256 -> Text,
        created_at -> BigInt,
    }
}

diesel::table! {
    media_downloads (id) {
        id -> Text,
        media_id -> Text,
        event_id -> Nullable<Text>,
        state -> Text,
        attempts -> Integer,
        next_attempt_at -> BigInt,
        lease_owner -> Nullable<Text>,
        lease_until -> Nullable<BigInt>,
        last_error -> Nullable<Text>,
        created_at -> BigInt,
    }
}

diesel::table! {
    job_leases (name) {
        name -> Text,
        lease_owner -> Nullable<Text>,
        lease_until -> BigInt,
    }
}

diesel::table! {
    nodes (node_id) {
        node_id -> Text,
        instance -> Text,
        gateway_status -> Text,
        started_at -> BigInt,
        heartbeat_at -> BigInt,
    }
}

diesel::table! {
    send_pacing (phone_number_id) {
        phone_number_id -> Text,
        next_slot_us -> BigInt,
    }
}

diesel::table! {
    login_failures (id) {
        id -> Text,
        client -> Text,
        at_ms -> BigInt,
    }
}

diesel::table! {
    whatsapp_users (seq) {
        seq -> BigInt,
        bsuid -> Text,
        parent_bsuid -> Nullable<Text>,
        phone -> Nullable<Text>,
        username -> Nullable<Text>,
        profile_name -> Nullable<Text>,
        replaced_by -> Nullable<BigInt>,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}
