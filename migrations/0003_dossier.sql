-- The digital personnel dossier (Regeling personeelsdossiers Defensie).
-- Every entry is filed under an HR process (art 6) and an art 13 category.
CREATE TABLE dossiers (
    personnel_number    text        PRIMARY KEY,
    subject_pseudonym   text        NOT NULL,
    defence_branch      text        NOT NULL DEFAULT '',
    unit                text        NOT NULL DEFAULT '',
    rank                text        NOT NULL DEFAULT '',
    salary_scale        integer     NOT NULL DEFAULT 0,
    status              text        NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'archived')),
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE dossier_entries (
    entry_id          uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    personnel_number  text        NOT NULL REFERENCES dossiers (personnel_number),
    hr_process        text        NOT NULL CHECK (hr_process IN (
                          'instroom', 'loopbaan', 'opleiding', 'beoordeling',
                          'verzuim_en_reintegratie', 'uitstroom', 'arbeidsvoorwaarden')),
    category          text        NOT NULL,
    source_message_id text        NOT NULL,
    content           jsonb       NOT NULL,
    recorded_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX dossier_entries_dossier ON dossier_entries (personnel_number, recorded_at);
