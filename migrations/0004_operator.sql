-- What operators and the privacy officer did: processing-log searches,
-- revealed dead-letter values, retries and discards. Never personal data:
-- subjects appear as pseudonyms, messages as ids.
CREATE TABLE audit_log (
    id          bigserial   PRIMARY KEY,
    at          timestamptz NOT NULL DEFAULT now(),
    actor       text        NOT NULL,
    role        text        NOT NULL,
    action      text        NOT NULL,
    subject_ref text,
    reason      text        NOT NULL DEFAULT '',
    detail      text        NOT NULL DEFAULT ''
);
CREATE INDEX audit_log_at ON audit_log (at);
