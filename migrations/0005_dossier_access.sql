-- The personnel dossier under the Regeling personeelsdossiers Defensie:
-- the authorisation matrix (art 7), the access log, subject rights
-- (art 8, 9, 10), transfers (art 16) and retention (art 17, 18).
-- The rules live in hub-dossier (`rules.rs`); the constraints here only keep
-- rows consistent with them.

-- Art 6 and 13: every entry is filed under an HR process (already checked)
-- and an art 13 category. `blocked_at` marks an entry blocked (afgeschermd)
-- after a granted art 9 or 10 request: the matrix no longer shows it.
ALTER TABLE dossier_entries
    ADD CONSTRAINT dossier_entries_art13_category CHECK (category ~ '^art13\.([1-9]|1[0-9]|20)$'),
    ADD COLUMN blocked_at timestamptz;

-- Art 7.6 and 7.7: dossiers of MIVD staff, other special units and
-- Management Development are restricted. Art 17: the end of employment and
-- the move to the archive. Art 8.3: the date of death opens the dossier to
-- registered next of kin.
ALTER TABLE dossiers
    ADD COLUMN restriction text NOT NULL DEFAULT 'none'
        CHECK (restriction IN ('none', 'mivd', 'special_unit', 'management_development')),
    ADD COLUMN employment_end_date date,
    ADD COLUMN archived_at timestamptz,
    ADD COLUMN archived_by text,
    ADD COLUMN archive_reason text,
    ADD COLUMN date_of_death date,
    ADD CONSTRAINT dossiers_archived_at CHECK ((status = 'archived') = (archived_at IS NOT NULL));
CREATE INDEX dossiers_retention_due ON dossiers (employment_end_date)
    WHERE status = 'active' AND employment_end_date IS NOT NULL;

-- The authorisation matrix (art 7.2): personnel number, nature and duration
-- of every grant, and who granted it. A grant is active while
-- valid_from <= now < valid_until and it has not ended early (ended_at).
CREATE TABLE dossier_grants (
    grant_id    uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    grantee     text        NOT NULL,
    nature      text        NOT NULL CHECK (nature IN ('read', 'write', 'audit', 'report')),
    scope_kind  text        NOT NULL CHECK (scope_kind IN ('all', 'defence_branch', 'unit', 'dossier')),
    scope_value text        NOT NULL DEFAULT '',
    valid_from  timestamptz NOT NULL,
    valid_until timestamptz NOT NULL,
    purpose     text        NOT NULL,
    granted_by  text        NOT NULL,
    granted_at  timestamptz NOT NULL DEFAULT now(),
    ended_at    timestamptz,
    ended_by    text,
    end_reason  text,
    replaced_by uuid        REFERENCES dossier_grants (grant_id),
    CHECK (valid_until > valid_from),
    CHECK ((scope_kind = 'all') = (scope_value = '')),
    -- Art 4.1: a report grant sees aggregates, never one person's dossier.
    CHECK (nature <> 'report' OR scope_kind <> 'dossier')
);
CREATE INDEX dossier_grants_grantee ON dossier_grants (grantee, valid_until);
CREATE INDEX dossier_grants_nature ON dossier_grants (nature, valid_from);

-- Approvals that open restricted dossiers to a grant: for MIVD staff under
-- the conditions agreed between the MIVD and the HDP (art 7.6), for other
-- special units and Management Development by the unit head (art 7.7).
CREATE TABLE dossier_grant_approvals (
    approval_id uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    grant_id    uuid        NOT NULL REFERENCES dossier_grants (grant_id),
    restriction text        NOT NULL CHECK (restriction IN ('mivd', 'special_unit', 'management_development')),
    basis       text        NOT NULL CHECK (basis IN ('mivd_hdp_agreement', 'unit_head')),
    unit        text        NOT NULL DEFAULT '',
    approved_by text        NOT NULL,
    reference   text        NOT NULL,
    approved_on date        NOT NULL,
    recorded_by text        NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    CHECK ((restriction = 'mivd') = (basis = 'mivd_hdp_agreement')),
    CHECK ((restriction = 'special_unit') = (unit <> ''))
);
CREATE INDEX dossier_grant_approvals_grant ON dossier_grant_approvals (grant_id);

-- Art 17.4: written exemptions for access to an archived dossier in an
-- objection or appeal procedure.
CREATE TABLE dossier_exemptions (
    exemption_id       uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    personnel_number   text        NOT NULL REFERENCES dossiers (personnel_number),
    grantee            text        NOT NULL,
    procedure          text        NOT NULL CHECK (procedure IN ('objection', 'appeal')),
    decision_reference text        NOT NULL,
    valid_until        timestamptz NOT NULL,
    granted_by         text        NOT NULL,
    granted_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX dossier_exemptions_dossier ON dossier_exemptions (personnel_number, grantee);

-- Every access to a dossier, allowed or denied: who, which dossier, what,
-- when, on which basis and under which grant. No foreign key on the
-- dossier: a denied request for a number without a dossier is logged too.
CREATE TABLE dossier_access_log (
    id               bigserial   PRIMARY KEY,
    at               timestamptz NOT NULL,
    actor            text        NOT NULL,
    personnel_number text,
    action           text        NOT NULL CHECK (action IN (
                         'read', 'write', 'report', 'inspect', 'next_of_kin_inspect', 'transfer_out')),
    outcome          text        NOT NULL CHECK (outcome IN ('allowed', 'denied')),
    basis            text        NOT NULL CHECK (basis IN (
                         'none', 'grant', 'records_manager', 'subject', 'next_of_kin', 'consent')),
    grant_id         uuid,
    exemption_id     uuid,
    reason           text        NOT NULL DEFAULT ''
);
CREATE INDEX dossier_access_log_dossier ON dossier_access_log (personnel_number, at);
CREATE INDEX dossier_access_log_actor ON dossier_access_log (actor, at);

-- Art 8.3: next of kin in the first degree of a deceased employee, checked
-- and registered by the records manager.
CREATE TABLE dossier_next_of_kin (
    id                 uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    personnel_number   text        NOT NULL REFERENCES dossiers (personnel_number),
    next_of_kin        text        NOT NULL,
    relationship       text        NOT NULL CHECK (relationship IN ('parent', 'child')),
    evidence_reference text        NOT NULL,
    registered_by      text        NOT NULL,
    registered_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (personnel_number, next_of_kin)
);

-- Art 9 and 10: requests for correction, completion, deletion, blocking,
-- and objections, each with its decision. A refusal (whole or partial)
-- carries its reasons (art 9.2, 10.2). No foreign key on the entry: a
-- granted deletion removes it.
CREATE TABLE dossier_subject_requests (
    request_id       uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    personnel_number text        NOT NULL REFERENCES dossiers (personnel_number),
    kind             text        NOT NULL CHECK (kind IN (
                         'correction', 'completion', 'deletion', 'blocking', 'objection')),
    entry_id         uuid,
    reasons          text        NOT NULL CHECK (btrim(reasons) <> ''),
    requested_change text        NOT NULL DEFAULT '',
    submitted_by     text        NOT NULL,
    submitted_at     timestamptz NOT NULL,
    decision         text        CHECK (decision IN ('granted', 'partially_granted', 'refused')),
    decision_reasons text,
    decided_by       text,
    decided_at       timestamptz,
    CHECK (decision IS NULL OR decision = 'granted' OR btrim(coalesce(decision_reasons, '')) <> '')
);
CREATE INDEX dossier_subject_requests_dossier ON dossier_subject_requests (personnel_number, submitted_at);

-- Art 16.2: the employee's consent to hand the dossier to an employer
-- outside Defensie.
CREATE TABLE dossier_transfer_consents (
    consent_id         uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    personnel_number   text        NOT NULL REFERENCES dossiers (personnel_number),
    recipient          text        NOT NULL,
    evidence_reference text        NOT NULL DEFAULT '',
    recorded_by        text        NOT NULL,
    recorded_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX dossier_transfer_consents_dossier ON dossier_transfer_consents (personnel_number);

-- Art 16: transfers, inside Defensie (a new manager's grant replaces the
-- old one) or outside (only with consent).
CREATE TABLE dossier_transfers (
    transfer_id      uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    personnel_number text        NOT NULL REFERENCES dossiers (personnel_number),
    destination      text        NOT NULL CHECK (destination IN ('inside_defensie', 'outside_defensie')),
    recipient        text        NOT NULL,
    consent_id       uuid        REFERENCES dossier_transfer_consents (consent_id),
    new_grant_id     uuid        REFERENCES dossier_grants (grant_id),
    transferred_by   text        NOT NULL,
    transferred_at   timestamptz NOT NULL,
    CHECK (destination = 'inside_defensie' OR consent_id IS NOT NULL)
);
