-- Dead letters, kept by the operator service: it drains every dead.<queue>
-- into this table, so operators can group, inspect (masked), retry and
-- discard them. The payload holds personal data: it is removed when the
-- dead letter is retried or discarded, and when its retention ends; the
-- metadata (no personal data) stays, so what was purged remains known.
CREATE TABLE dead_letters (
    id               uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    dedup_key        text        NOT NULL UNIQUE,
    dead_queue       text        NOT NULL,
    origin_queue     text        NOT NULL,
    message_id       text,
    message_type     text,
    source           text,
    reason           text        NOT NULL,
    detail           text        NOT NULL DEFAULT '',
    attempts         integer     NOT NULL DEFAULT 0,
    first_failure    timestamptz,
    last_failure     timestamptz,
    dead_lettered_at timestamptz NOT NULL DEFAULT now(),
    expires_at       timestamptz NOT NULL,
    content_type     text,
    size_bytes       integer     NOT NULL,
    -- Envelope headers only (x-hub-*, x-death summary, traceparent).
    headers          jsonb       NOT NULL,
    payload          bytea,
    state            text        NOT NULL DEFAULT 'open'
                     CHECK (state IN ('open', 'retried', 'discarded', 'purged')),
    resolved_at      timestamptz,
    resolved_by      text,
    resolution_note  text        NOT NULL DEFAULT '',
    purged_at        timestamptz
);
CREATE INDEX dead_letters_groups ON dead_letters (state, origin_queue, reason, message_type);
CREATE INDEX dead_letters_expiry ON dead_letters (expires_at) WHERE payload IS NOT NULL;
