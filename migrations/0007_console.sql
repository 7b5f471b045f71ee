-- The operator console: sessions and retry jobs. Kept in PostgreSQL, not in
-- the operator's memory, so a restart does not log everyone out and any
-- operator instance can answer for a job another one runs.

-- A console session. The cookie holds a random token; only its SHA-256 is
-- stored. The operator's role is not stored: it is looked up in the
-- configured operators on every request, so a changed role applies at once.
CREATE TABLE console_sessions (
    token_sha256 text        PRIMARY KEY,
    operator     text        NOT NULL,
    -- The CSRF token every state-changing form of this session must carry.
    csrf_token   text        NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL
);
CREATE INDEX console_sessions_expiry ON console_sessions (expires_at);

-- A retry job: which dead letters it took at the start, and how far it got.
CREATE TABLE operator_jobs (
    id          uuid        PRIMARY KEY,
    kind        text        NOT NULL CHECK (kind IN ('retry')),
    started_by  text        NOT NULL,
    -- What was selected (a group or a number of ids); no personal data.
    description text        NOT NULL,
    total       integer     NOT NULL,
    retried     integer     NOT NULL DEFAULT 0,
    skipped     integer     NOT NULL DEFAULT 0,
    failed      integer     NOT NULL DEFAULT 0,
    state       text        NOT NULL DEFAULT 'running'
                CHECK (state IN ('running', 'finished', 'failed', 'interrupted')),
    error       text        NOT NULL DEFAULT '',
    started_at  timestamptz NOT NULL DEFAULT now(),
    -- Last progress; a running job whose process died stops moving.
    updated_at  timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz
);
CREATE INDEX operator_jobs_started ON operator_jobs (started_at);
