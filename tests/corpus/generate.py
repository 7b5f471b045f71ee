#!/usr/bin/env python3
"""Generates the hostile-input corpus from the valid base samples.

    python3 tests/corpus/generate.py

writes tests/corpus/payloads/*.json and tests/corpus/cases.toml. Each case is
one hostile input with the outcome the hub must give it over AMQP (the
dead-letter reason in dead.hub.router) and over gRPC (the status code, or
why the input cannot exist on that channel). `__SOON__` in a payload is
replaced by a date ten days from the day the test runs, `__NEXT_YEAR__` by
a date a year ahead, so that the files keep meaning the same thing.
"""

import copy
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))
BASE = {n: json.load(open(os.path.join(HERE, "base", n + ".json"))) for n in ["hire", "case", "survey", "report"]}
TYPES = {
    "hire": "wens.hire.v1",
    "case": "reintegration.case_update.v1",
    "survey": "reintegration.survey_response.v1",
    "report": "processor.report.v1",
}
cases = []


def case(name, base, *, mutate=None, text=None, amqp, grpc, **envelope):
    """A case derived from `base`: `mutate` edits a copy of the JSON, or
    `text` replaces the payload with raw text (written as is)."""
    fields = {"name": name, "type": TYPES.get(base, base)}
    if text is not None:
        payload = text
    else:
        data = copy.deepcopy(BASE[base])
        if mutate:
            mutate(data)
        payload = json.dumps(data, ensure_ascii=False, indent=2) + "\n"
    file = f"payloads/{len(cases) + 1:03d}-{name}.json"
    with open(os.path.join(HERE, file), "w", encoding="utf-8", newline="") as f:
        f.write(payload)
    fields["payload"] = file
    fields.update(envelope)
    fields["amqp"] = amqp
    fields["grpc"] = grpc
    cases.append(fields)


def setter(path, value):
    def mutate(d):
        *parents, last = path.split(".")
        for p in parents:
            d = d[p]
        d[last] = value
    return mutate


def deleter(path):
    def mutate(d):
        *parents, last = path.split(".")
        for p in parents:
            d = d[p]
        del d[last]
    return mutate


NO_JSON_ON_GRPC = "n/a: gRPC carries protobuf; this defect exists only in JSON"
ENVELOPE_ONLY = "n/a: an AMQP envelope defect; over gRPC the gateway sets the envelope"

# --- malformed JSON --------------------------------------------------------
case("truncated-json", "hire", text=json.dumps(BASE["hire"])[:200], amqp="invalid_payload", grpc=NO_JSON_ON_GRPC)
case("not-json", "hire", text="this is not json at all\n", amqp="invalid_payload", grpc=NO_JSON_ON_GRPC)
case("json-array-at-top", "hire", text="[1, 2, 3]\n", amqp="invalid_payload", grpc=NO_JSON_ON_GRPC)
case("json-null", "hire", text="null\n", amqp="invalid_payload", grpc=NO_JSON_ON_GRPC)
case("trailing-garbage", "hire", text=json.dumps(BASE["hire"]) + " }}}\n", amqp="invalid_payload", grpc=NO_JSON_ON_GRPC)
case("deep-nesting", "hire", text='{"candidate": ' + "[" * 5000 + "]" * 5000 + "}\n", amqp="invalid_payload", grpc=NO_JSON_ON_GRPC)
case("empty-payload", "hire", text="", amqp="invalid_payload", grpc=NO_JSON_ON_GRPC)
case("duplicate-key", "hire", text='{"event_id": "a", "event_id": "b"}\n', amqp="invalid_payload", grpc=NO_JSON_ON_GRPC)
# --- wrong types -----------------------------------------------------------
case("bsn-as-number", "hire", mutate=setter("candidate.bsn", 990010004), amqp="invalid_payload", grpc=NO_JSON_ON_GRPC)
case("candidate-as-string", "hire", mutate=setter("candidate", "someone"), amqp="invalid_payload", grpc=NO_JSON_ON_GRPC)
case("salary-scale-as-text", "hire", mutate=setter("appointment.salary_scale", "high"), amqp="invalid_payload", grpc=NO_JSON_ON_GRPC)
case("case-version-as-object", "case", mutate=setter("case_version", {"v": 1}), amqp="invalid_payload", grpc=NO_JSON_ON_GRPC)
case("hours-as-text", "case", mutate=setter("employment.hours_own_work_per_week", "many"), amqp="invalid_payload", grpc=NO_JSON_ON_GRPC)
case("statements-as-object", "survey", mutate=setter("statements", {"a": 1}), amqp="invalid_payload", grpc=NO_JSON_ON_GRPC)
case("occurred-at-malformed", "hire", mutate=setter("occurred_at", "yesterday"), amqp="invalid_payload", grpc=NO_JSON_ON_GRPC)
# --- unknown fields and enum values ----------------------------------------
case("unknown-top-level-field", "hire", mutate=setter("shoe_size", 42), amqp="invalid_payload", grpc=NO_JSON_ON_GRPC)
case("unknown-nested-field", "case", mutate=setter("employee.religion", "secret"), amqp="invalid_payload", grpc=NO_JSON_ON_GRPC)
case("unknown-enum-name", "hire", mutate=setter("candidate.gender", "GENDER_DRAGON"), amqp="invalid_payload", grpc=NO_JSON_ON_GRPC)
case("unknown-enum-number", "hire", mutate=setter("candidate.gender", 99), amqp="invalid_payload", grpc="INVALID_ARGUMENT")
case("unknown-case-status-number", "case", mutate=setter("status", 42), amqp="invalid_payload", grpc="INVALID_ARGUMENT")
# --- missing required fields -----------------------------------------------
case("missing-event-id", "hire", mutate=deleter("event_id"), amqp="invalid_payload", grpc="INVALID_ARGUMENT")
case("missing-candidate", "hire", mutate=deleter("candidate"), amqp="invalid_payload", grpc="INVALID_ARGUMENT")
case("missing-personnel-number", "hire", mutate=deleter("appointment.personnel_number"), amqp="invalid_payload", grpc="INVALID_ARGUMENT")
case("missing-surname", "hire", mutate=deleter("candidate.surname"), amqp="invalid_payload", grpc="INVALID_ARGUMENT")
case("missing-case-id", "case", mutate=deleter("case_id"), amqp="invalid_payload", grpc="INVALID_ARGUMENT")
case("missing-employee", "case", mutate=deleter("employee"), amqp="invalid_payload", grpc="INVALID_ARGUMENT")
case("missing-occurred-at", "survey", mutate=deleter("occurred_at"), amqp="invalid_payload", grpc="INVALID_ARGUMENT")
case("report-missing-case-id", "report", mutate=deleter("case_id"), amqp="invalid_payload", grpc="INVALID_ARGUMENT", user="robidus", purposes="legal_reintegration_obligation")
# --- BSN -------------------------------------------------------------------
case("bsn-fails-eleven-test", "hire", mutate=setter("candidate.bsn", "123456789"), amqp="invalid_payload", grpc="INVALID_ARGUMENT")
case("bsn-with-letters", "hire", mutate=setter("candidate.bsn", "99001000A"), amqp="invalid_payload", grpc="INVALID_ARGUMENT")
case("bsn-eight-digits", "case", mutate=setter("employee.bsn", "99001000"), amqp="invalid_payload", grpc="INVALID_ARGUMENT")
case("bsn-all-zeros", "case", mutate=setter("employee.bsn", "000000000"), amqp="invalid_payload", grpc="INVALID_ARGUMENT")
# --- dates -----------------------------------------------------------------
case("birth-date-in-the-future", "hire", mutate=setter("candidate.birth_date", "__NEXT_YEAR__"), amqp="invalid_payload", grpc="INVALID_ARGUMENT")
case("birth-date-1850", "hire", mutate=setter("candidate.birth_date", "1850-01-01"), amqp="invalid_payload", grpc="INVALID_ARGUMENT")
case("birth-date-wrong-format", "case", mutate=setter("employee.birth_date", "14-03-1991"), amqp="invalid_payload", grpc="INVALID_ARGUMENT")
case("birth-date-impossible", "hire", mutate=setter("candidate.birth_date", "2001-02-30"), amqp="invalid_payload", grpc="INVALID_ARGUMENT")
case("occurred-at-in-the-future", "hire", mutate=setter("occurred_at", "2999-01-01T00:00:00Z"), amqp="invalid_payload", grpc="INVALID_ARGUMENT")
case("start-date-ten-years-away", "hire", mutate=setter("appointment.start_date", "2099-01-01"), amqp="invalid_payload", grpc="INVALID_ARGUMENT")
case("sickness-start-in-the-future", "case", mutate=setter("absence.sickness_start_date", "__NEXT_YEAR__"), amqp="invalid_payload", grpc="INVALID_ARGUMENT")
# --- values out of range ---------------------------------------------------
case("email-without-at", "hire", mutate=setter("candidate.email", "persoon.example.nl"), amqp="invalid_payload", grpc="INVALID_ARGUMENT")
case("phone-with-letters", "case", mutate=setter("employee.phone", "call me maybe"), amqp="invalid_payload", grpc="INVALID_ARGUMENT")
case("salary-scale-99", "hire", mutate=setter("appointment.salary_scale", 99), amqp="invalid_payload", grpc="INVALID_ARGUMENT")
case("negative-hours", "hire", mutate=setter("appointment.hours_per_week", -5), amqp="invalid_payload", grpc="INVALID_ARGUMENT")
case("case-version-zero", "case", mutate=setter("case_version", "0"), amqp="invalid_payload", grpc="INVALID_ARGUMENT")
case("case-status-unspecified", "case", mutate=setter("status", "CASE_STATUS_UNSPECIFIED"), amqp="invalid_payload", grpc="INVALID_ARGUMENT")
case("incapacity-250-percent", "case", mutate=setter("benefits.incapacity_percentage", 250), amqp="invalid_payload", grpc="INVALID_ARGUMENT")
case("survey-score-9", "survey", mutate=lambda d: d["statements"][0].update(score=9), amqp="invalid_payload", grpc="INVALID_ARGUMENT")
case("report-type-unspecified", "report", mutate=setter("report_type", "REPORT_TYPE_UNSPECIFIED"), amqp="invalid_payload", grpc="INVALID_ARGUMENT", user="robidus", purposes="legal_reintegration_obligation")
case("event-id-with-spaces", "hire", mutate=setter("event_id", "drop table; --"), amqp="invalid_payload", grpc="INVALID_ARGUMENT")
case("event-id-500-chars", "survey", mutate=setter("event_id", "e" * 500), amqp="invalid_payload", grpc="INVALID_ARGUMENT")
case("surname-5000-chars", "case", mutate=setter("employee.surname", "x" * 5000), amqp="invalid_payload", grpc="INVALID_ARGUMENT")
# --- envelope (AMQP) -------------------------------------------------------
case("missing-type", "hire", amqp="unknown_message_type", grpc=ENVELOPE_ONLY, message_type="none")
case("unknown-type", "hire", amqp="unknown_message_type", grpc=ENVELOPE_ONLY, message_type="wens.hire.v9")
case("type-with-control-chars", "hire", amqp="unknown_message_type", grpc=ENVELOPE_ONLY, message_type="wens.hire.v1\u0007")
case("missing-purpose-header", "hire", amqp="purpose_not_allowed", grpc=ENVELOPE_ONLY, purposes="none")
case("purpose-not-allowed", "case", amqp="purpose_not_allowed", grpc="INVALID_ARGUMENT", purposes="recruitment")
case("purpose-header-garbage", "case", amqp="purpose_not_allowed", grpc="INVALID_ARGUMENT", purposes="'; DROP TABLE processing_log; --")
case("forged-x-hub-source", "hire", amqp="unauthorised_source", grpc=ENVELOPE_ONLY, source="wens")
case("missing-user-id", "hire", amqp="unauthorised_source", grpc=ENVELOPE_ONLY, user_id="none")
case("wrong-producer", "hire", amqp="unauthorised_source", grpc="PERMISSION_DENIED", user="robidus")
case("wrong-content-type", "hire", amqp="invalid_payload", grpc=ENVELOPE_ONLY, content_type="text/xml")
case("missing-content-type", "hire", amqp="invalid_payload", grpc=ENVELOPE_ONLY, content_type="none")
case("missing-message-id", "hire", amqp="invalid_payload", grpc=ENVELOPE_ONLY, message_id="none")
# --- protobuf (AMQP with application/x-protobuf; gRPC as the raw request) ---
PB = "application/x-protobuf"
case("protobuf-unknown-field", "hire", amqp="invalid_payload", grpc="INVALID_ARGUMENT", encoding="protobuf", append_hex="980601", content_type=PB)
case("protobuf-truncated-varint", "hire", amqp="invalid_payload", grpc="INVALID_ARGUMENT", raw_hex="0880", content_type=PB)
case("protobuf-length-past-end", "hire", amqp="invalid_payload", grpc="INVALID_ARGUMENT", raw_hex="0a7f6162", content_type=PB)
case("protobuf-wrong-wire-type", "hire", amqp="invalid_payload", grpc="INVALID_ARGUMENT", raw_hex="082a", content_type=PB)
case("protobuf-invalid-utf8", "hire", amqp="invalid_payload", grpc="INVALID_ARGUMENT", raw_hex="0a03fffefd", content_type=PB)
case("protobuf-group-wire-type", "hire", amqp="invalid_payload", grpc="INVALID_ARGUMENT", raw_hex="0b0c", content_type=PB)
# --- size ------------------------------------------------------------------
case("ten-megabytes", "hire", amqp="payload_too_large", grpc="RESOURCE_EXHAUSTED", generate="large:10485760")

with open(os.path.join(HERE, "cases.toml"), "w", encoding="utf-8") as f:
    f.write("# Generated by generate.py; edit that, not this.\n")
    f.write("# Fields: name, type (catalog type, `message_type` overrides the AMQP type property;\n")
    f.write("# \"none\" omits it), payload, optional envelope changes (user, user_id, purposes,\n")
    f.write("# source, content_type, message_id, encoding, append_hex, raw_hex, generate),\n")
    f.write("# and the expected outcome over AMQP (dead-letter reason) and gRPC (status code,\n")
    f.write("# or `n/a: why`).\n")
    for c in cases:
        f.write("\n[[case]]\n")
        for key, value in c.items():
            f.write(f"{key} = {json.dumps(value, ensure_ascii=False)}\n")
print(f"{len(cases)} cases")
