-- engage on PostgreSQL, migration 1: every table of the SQLite schema (store/sqlite), with the
-- same columns and rules. Instants are milliseconds since the epoch (BIGINT), flags 0/1 BIGINT,
-- JSON values TEXT COLLATE "C", exactly as on SQLite, so both backends read and write the same values.

CREATE TABLE sites (
    id TEXT COLLATE "C" PRIMARY KEY,
    active_version BIGINT,
    created_at BIGINT NOT NULL
);
CREATE TABLE versions (
    site TEXT COLLATE "C" NOT NULL REFERENCES sites(id),
    version BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    change TEXT COLLATE "C" NOT NULL,
    campaigns BIGINT NOT NULL,
    warnings TEXT COLLATE "C" NOT NULL,
    document TEXT COLLATE "C" NOT NULL,
    bundle TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (site, version)
);
CREATE TABLE availability (
    site TEXT COLLATE "C" NOT NULL,
    skill TEXT COLLATE "C" NOT NULL,
    agents_online BIGINT NOT NULL,
    agents_with_capacity BIGINT NOT NULL,
    expected_wait_seconds BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (site, skill)
);

-- Events are partitioned by month of `at` (partitions are created on first use, see
-- `ensure_partitions`); a batch sent twice is stored once (NULLs compare equal).
CREATE TABLE events (
    id BIGSERIAL NOT NULL,
    site TEXT COLLATE "C" NOT NULL,
    visitor TEXT COLLATE "C" NOT NULL,
    visit BIGINT NOT NULL,
    kind TEXT COLLATE "C" NOT NULL,
    at BIGINT NOT NULL,
    campaign TEXT COLLATE "C",
    engagement TEXT COLLATE "C",
    zone TEXT COLLATE "C",
    state TEXT COLLATE "C",
    name TEXT COLLATE "C",
    value DOUBLE PRECISION,
    received_at BIGINT NOT NULL,
    UNIQUE NULLS NOT DISTINCT (site, visitor, visit, kind, at, campaign, engagement, name)
) PARTITION BY RANGE (at);
CREATE INDEX events_by_kind ON events (site, kind, at);
CREATE INDEX events_by_visitor ON events (site, visitor, kind, at);

CREATE TABLE contacts (
    site TEXT COLLATE "C" NOT NULL,
    id TEXT COLLATE "C" NOT NULL,
    phone TEXT COLLATE "C" NOT NULL,
    name TEXT COLLATE "C",
    tags TEXT COLLATE "C" NOT NULL,
    attributes TEXT COLLATE "C" NOT NULL,
    timezone TEXT COLLATE "C",
    consent BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (site, id)
);
CREATE INDEX contacts_by_phone ON contacts (site, phone);
CREATE TABLE sms_inboxes (
    site TEXT COLLATE "C" NOT NULL,
    id TEXT COLLATE "C" NOT NULL,
    name TEXT COLLATE "C" NOT NULL,
    provider TEXT COLLATE "C" NOT NULL,
    from_number TEXT COLLATE "C" NOT NULL,
    rate_per_second BIGINT NOT NULL,
    help_text TEXT COLLATE "C",
    config TEXT COLLATE "C" NOT NULL,
    webhook_secret TEXT COLLATE "C" NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (site, id)
);
CREATE TABLE sms_campaigns (
    site TEXT COLLATE "C" NOT NULL,
    id TEXT COLLATE "C" NOT NULL,
    title TEXT COLLATE "C" NOT NULL,
    message TEXT COLLATE "C" NOT NULL,
    inbox TEXT COLLATE "C" NOT NULL,
    audience TEXT COLLATE "C" NOT NULL,
    scheduled_at BIGINT NOT NULL,
    quiet_hours TEXT COLLATE "C",
    engagement TEXT COLLATE "C",
    status TEXT COLLATE "C" NOT NULL,
    key TEXT COLLATE "C" NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    started_at BIGINT,
    completed_at BIGINT,
    recipients BIGINT NOT NULL DEFAULT 0,
    opted_out BIGINT NOT NULL DEFAULT 0,
    duplicates BIGINT NOT NULL DEFAULT 0,
    no_consent BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (site, id)
);
CREATE INDEX sms_campaigns_due ON sms_campaigns (status, scheduled_at);
CREATE TABLE sms_outbox (
    id BIGSERIAL PRIMARY KEY,
    site TEXT COLLATE "C" NOT NULL,
    campaign TEXT COLLATE "C" NOT NULL,
    inbox TEXT COLLATE "C" NOT NULL,
    phone TEXT COLLATE "C" NOT NULL,
    contact TEXT COLLATE "C",
    body TEXT COLLATE "C" NOT NULL,
    timezone TEXT COLLATE "C" NOT NULL,
    state TEXT COLLATE "C" NOT NULL,
    not_before BIGINT NOT NULL,
    quiet BIGINT NOT NULL DEFAULT 0,
    attempts BIGINT NOT NULL DEFAULT 0,
    lease_until BIGINT,
    uncertain BIGINT NOT NULL DEFAULT 0,
    provider_ref TEXT COLLATE "C",
    error TEXT COLLATE "C",
    sent_at BIGINT,
    delivered_at BIGINT,
    updated_at BIGINT NOT NULL,
    UNIQUE (site, campaign, phone)
);
CREATE INDEX sms_outbox_due ON sms_outbox (site, inbox, state, not_before, id);
CREATE INDEX sms_outbox_by_campaign ON sms_outbox (site, campaign, state);
CREATE INDEX sms_outbox_by_phone ON sms_outbox (site, phone, sent_at);
CREATE TABLE sms_optouts (
    site TEXT COLLATE "C" NOT NULL,
    phone TEXT COLLATE "C" NOT NULL,
    at BIGINT NOT NULL,
    source TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (site, phone)
);
CREATE TABLE sms_messages (
    id BIGSERIAL PRIMARY KEY,
    site TEXT COLLATE "C" NOT NULL,
    inbox TEXT COLLATE "C" NOT NULL,
    direction TEXT COLLATE "C" NOT NULL,
    phone TEXT COLLATE "C" NOT NULL,
    text TEXT COLLATE "C" NOT NULL,
    kind TEXT COLLATE "C" NOT NULL,
    campaign TEXT COLLATE "C",
    outbox BIGINT,
    at BIGINT NOT NULL
);
CREATE INDEX sms_messages_by_campaign ON sms_messages (site, campaign, direction, kind);
CREATE INDEX sms_messages_by_phone ON sms_messages (site, phone, at);
CREATE TABLE sms_delivery (
    id BIGSERIAL PRIMARY KEY,
    site TEXT COLLATE "C" NOT NULL,
    outbox BIGINT NOT NULL,
    status TEXT COLLATE "C" NOT NULL,
    detail TEXT COLLATE "C" NOT NULL,
    at BIGINT NOT NULL
);
-- Which process sends an inbox's messages: one at a time, so the inbox's rate holds across
-- replicas (a lease another process takes over when it runs out).
CREATE TABLE sms_lanes (
    site TEXT COLLATE "C" NOT NULL,
    inbox TEXT COLLATE "C" NOT NULL,
    owner TEXT COLLATE "C" NOT NULL,
    lease_until BIGINT NOT NULL,
    PRIMARY KEY (site, inbox)
);

CREATE TABLE broadcasts (
    id BIGSERIAL PRIMARY KEY,
    site TEXT COLLATE "C" NOT NULL,
    phone TEXT COLLATE "C" NOT NULL,
    campaign_ref TEXT COLLATE "C",
    sender TEXT COLLATE "C",
    engagement TEXT COLLATE "C",
    sms_campaign TEXT COLLATE "C",
    at BIGINT NOT NULL,
    UNIQUE NULLS NOT DISTINCT (site, phone, campaign_ref, sender, sms_campaign, at)
);
CREATE INDEX broadcasts_by_phone ON broadcasts (site, phone, at);
CREATE TABLE conversations (
    id TEXT COLLATE "C" PRIMARY KEY,
    site TEXT COLLATE "C" NOT NULL,
    channel TEXT COLLATE "C" NOT NULL,
    source TEXT COLLATE "C" NOT NULL,
    engagement TEXT COLLATE "C",
    campaign TEXT COLLATE "C",
    skill TEXT COLLATE "C",
    language TEXT COLLATE "C",
    agent_note TEXT COLLATE "C",
    phone TEXT COLLATE "C",
    visitor TEXT COLLATE "C",
    attributes TEXT COLLATE "C" NOT NULL,
    first_message TEXT COLLATE "C",
    sms_campaign TEXT COLLATE "C",
    unlinked TEXT COLLATE "C",
    started_at BIGINT NOT NULL,
    last_message_at BIGINT NOT NULL,
    messages BIGINT NOT NULL DEFAULT 1
);
CREATE INDEX conversations_by_site ON conversations (site, started_at);
CREATE INDEX conversations_by_phone ON conversations (site, phone, last_message_at);
CREATE TABLE handoffs (
    id BIGSERIAL PRIMARY KEY,
    site TEXT COLLATE "C" NOT NULL,
    conversation TEXT COLLATE "C" NOT NULL,
    event TEXT COLLATE "C" NOT NULL,
    url TEXT COLLATE "C" NOT NULL,
    secret TEXT COLLATE "C" NOT NULL,
    body TEXT COLLATE "C" NOT NULL,
    state TEXT COLLATE "C" NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    next_at BIGINT NOT NULL,
    lease_until BIGINT,
    last_status BIGINT,
    last_error TEXT COLLATE "C",
    created_at BIGINT NOT NULL,
    delivered_at BIGINT
);
CREATE INDEX handoffs_due ON handoffs (state, next_at);
CREATE INDEX handoffs_by_conversation ON handoffs (conversation, id);
CREATE INDEX handoffs_by_site ON handoffs (site, id);
