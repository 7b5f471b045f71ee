-- The processing log (verwerkingenlogboek), aligned with the Dutch "Logboek
-- Dataverwerkingen" standard: one record per delivery and data subject. It
-- is written before the copy is published: no log write, no delivery. The
-- data subject appears only as keyed pseudonyms (HMAC-SHA256), never as a
-- BSN. Partitioned by month; records older than two years (Selectielijst
-- 9.3.2) go by dropping whole partitions.
CREATE TABLE processing_log (
    id                 uuid        NOT NULL DEFAULT gen_random_uuid(),
    logged_at          timestamptz NOT NULL DEFAULT now(),
    trace_id           text        NOT NULL,
    span_id            text        NOT NULL,
    ingress_message_id text        NOT NULL,
    egress_message_id  text        NOT NULL,
    message_type       text        NOT NULL,
    activity           text        NOT NULL,
    purposes           text[]      NOT NULL,
    legal_basis        text        NOT NULL,
    source             text        NOT NULL,
    recipient          text        NOT NULL,
    queue              text        NOT NULL,
    categories         text[]      NOT NULL,
    fields_delivered   integer     NOT NULL,
    fields_removed     integer     NOT NULL,
    catalog_version    text        NOT NULL,
    subject_pseudonym  text,
    employee_pseudonym text,
    PRIMARY KEY (id, logged_at)
) PARTITION BY RANGE (logged_at);

CREATE INDEX processing_log_subject ON processing_log (subject_pseudonym, logged_at);
CREATE INDEX processing_log_employee ON processing_log (employee_pseudonym, logged_at);
CREATE INDEX processing_log_egress ON processing_log (egress_message_id);

-- Catches rows outside every monthly partition, so a missing partition never
-- blocks a delivery. The maintenance below keeps it empty.
CREATE TABLE processing_log_default PARTITION OF processing_log DEFAULT;

-- Creates the monthly partitions from this month to `months_ahead` months on.
CREATE FUNCTION processing_log_ensure_partitions(months_ahead integer) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    month_start date := date_trunc('month', now())::date;
    created integer := 0;
    name text;
BEGIN
    FOR i IN 0..months_ahead LOOP
        name := format('processing_log_y%sm%s', to_char(month_start, 'YYYY'), to_char(month_start, 'MM'));
        IF to_regclass(name) IS NULL THEN
            EXECUTE format(
                'CREATE TABLE %I PARTITION OF processing_log FOR VALUES FROM (%L) TO (%L)',
                name, month_start, (month_start + interval '1 month')::date);
            created := created + 1;
        END IF;
        month_start := (month_start + interval '1 month')::date;
    END LOOP;
    RETURN created;
END $$;

-- Drops the monthly partitions that end before `cutoff`; returns their names.
CREATE FUNCTION processing_log_drop_before(cutoff timestamptz) RETURNS SETOF text
LANGUAGE plpgsql AS $$
DECLARE
    part record;
    upper_bound timestamptz;
BEGIN
    FOR part IN
        SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) AS bound
        FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = 'processing_log'::regclass AND c.relname <> 'processing_log_default'
    LOOP
        upper_bound := substring(part.bound FROM 'TO \(''([^'']+)''\)')::timestamptz;
        IF upper_bound <= cutoff THEN
            EXECUTE format('DROP TABLE %I', part.relname);
            RETURN NEXT part.relname;
        END IF;
    END LOOP;
END $$;

SELECT processing_log_ensure_partitions(3);

-- Which processor received which case: a processor may report only on cases
-- the hub delivered to it (unknown_case_for_processor otherwise).
CREATE TABLE case_deliveries (
    case_id            text        NOT NULL,
    recipient          text        NOT NULL,
    subject_pseudonym  text,
    employee_pseudonym text,
    first_delivered_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (case_id, recipient)
);
