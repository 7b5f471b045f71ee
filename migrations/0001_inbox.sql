-- Exactly-once effects: every consumer records the message id in the same
-- transaction as its effect. A second delivery of the same id finds the row
-- and is acked without applying anything.
-- `duplicates` counts the deliveries that found the row (acked, not applied).
CREATE TABLE inbox (
    consumer          text        NOT NULL,
    message_id        text        NOT NULL,
    processed_at      timestamptz NOT NULL DEFAULT now(),
    duplicates        integer     NOT NULL DEFAULT 0,
    last_duplicate_at timestamptz,
    PRIMARY KEY (consumer, message_id)
);

-- The router's inbox also remembers what it decided: the payload's hash (a
-- producer reusing a message id for another payload is rejected, not
-- silently dropped) and the queues it logged deliveries to (a redelivery is
-- republished to exactly those, even if the catalog changed meanwhile).
CREATE TABLE router_inbox (
    message_id        text        PRIMARY KEY,
    payload_sha256    text        NOT NULL,
    queues            text[]      NOT NULL,
    processed_at      timestamptz NOT NULL DEFAULT now(),
    duplicates        integer     NOT NULL DEFAULT 0,
    last_duplicate_at timestamptz
);
CREATE INDEX router_inbox_processed_at ON router_inbox (processed_at);
