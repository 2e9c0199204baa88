#!/usr/bin/env bash
# Captures raw pgoutput bytes from a private PostgreSQL 15 and writes them into
# CapturedPgOutput.swift (beside this script) for the PostgresConnector unit tests,
# which then need no server. Re-run after changing the DML below:
#
#   Tests/PostgresConnectorTests/Fixtures/capture.sh
#
# What it captures:
#   1. pg_logical_slot_peek_binary_changes(peek slot, proto_version 1, messages true)
#      with TimeZone UTC / DateStyle ISO: one pgoutput message per row (lsn, xid, bytes).
#   2. The same changes peeked with TimeZone Asia/Kolkata (only the tz_only transaction),
#      to show that timestamptz text follows the decoding session's TimeZone.
#   3. A real walsender CopyData stream (START_REPLICATION over the raw protocol, from
#      Python): the XLogData ('w') and keepalive ('k') frames as sent, and a Standby
#      Status Update ('r') we sent back, with the slot's confirmed_flush_lsn afterwards.
#
# The tests assert the values written by the DML below (not LSNs, xids or times, which
# change with every capture), so a change to the DML needs the matching test change.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
out="$here/CapturedPgOutput.swift"

# shellcheck source=../../../scripts/servers.sh
source "$root/scripts/servers.sh"
servers_init
start_postgres

port="${DELTABRIDGE_PG_URL##*:}"; port="${port%%/*}"
PSQL=(psql "$DELTABRIDGE_PG_URL" -X -q -v ON_ERROR_STOP=1 -At)
work="$DELTABRIDGE_RUN_DIR/capture"
mkdir -p "$work"

# --- schema, publication, slots (before any DML, so both slots see everything) ---
"${PSQL[@]}" >/dev/null <<'SQL'
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE DOMAIN posint AS int4 CHECK (VALUE > 0);
CREATE TABLE all_types (
    id               int4 PRIMARY KEY,
    c_int2           int2,
    c_int4           int4,
    c_int8           int8,
    c_numeric        numeric,
    c_numeric_scaled numeric(12,3),
    c_float4         float4,
    c_float8         float8,
    c_bool           bool,
    c_text           text,
    c_varchar        varchar(20),
    c_bpchar         char(5),
    c_name           name,
    c_char           "char",
    c_bytea          bytea,
    c_uuid           uuid,
    c_date           date,
    c_time           time,
    c_timetz         timetz,
    c_timestamp      timestamp(3),
    c_timestamptz    timestamptz,
    c_interval       interval,
    c_json           json,
    c_jsonb          jsonb,
    c_int4_arr       int4[],
    c_int4_arr2      int4[][],
    c_text_arr       text[],
    c_numeric_arr    numeric[],
    c_float8_arr     float8[],
    c_bool_arr       bool[],
    c_bytea_arr      bytea[],
    c_uuid_arr       uuid[],
    c_tstz_arr       timestamptz[],
    c_jsonb_arr      jsonb[],
    c_mood           mood,
    c_mood_arr       mood[],
    c_posint         posint,
    c_inet           inet,
    c_big            text
);
ALTER TABLE all_types ALTER COLUMN c_big SET STORAGE EXTERNAL;

CREATE TABLE full_ident (id int8 PRIMARY KEY, note text, big text);
ALTER TABLE full_ident ALTER COLUMN big SET STORAGE EXTERNAL;
ALTER TABLE full_ident REPLICA IDENTITY FULL;

CREATE SCHEMA sales;
CREATE TABLE sales."Örders" (order_no int4, line int2, qty int4, PRIMARY KEY (order_no, line));
CREATE TABLE trunc_a (id serial PRIMARY KEY, v text);
CREATE TABLE trunc_b (id serial PRIMARY KEY, a_id int REFERENCES trunc_a(id));
CREATE TABLE tz_only (id int4 PRIMARY KEY, ts timestamptz, ts_arr timestamptz[], t timetz);
CREATE TABLE not_published (id int4 PRIMARY KEY);

CREATE PUBLICATION pub FOR TABLE all_types, full_ident, sales."Örders", trunc_a, trunc_b, tz_only;
SELECT 'slot ' || lsn FROM pg_create_logical_replication_slot('peek_slot', 'pgoutput');
SELECT 'slot ' || lsn FROM pg_create_logical_replication_slot('stream_slot', 'pgoutput');
SELECT pg_replication_origin_create('deltabridge_test');
SQL

start_us="$(date +%s%6N)"

# --- the DML: one psql session per block so that transactions are clear-cut ---
"${PSQL[@]}" >/dev/null <<'SQL'
-- T1: three rows: typical, edge values, all NULL.
BEGIN;
INSERT INTO all_types VALUES (
    1, 12, 123456, 1234567890123, 3.14159, 1234.5, 1.5, 2.718281828459045, true,
    'héllo wörld ✓ 😀', 'varchar val', 'ab', 'a_name', 'x',
    '\xdeadbeef', 'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11',
    '2024-02-29', '13:45:56.123456', '13:45:56.5+05:30',
    '2024-02-29 23:59:59.123', '2024-02-29 23:59:59.123456+00', '1 year 2 mons 3 days 04:05:06.789',
    '{"b": [1, 2.5, "x"], "a": {"nested": true, "n": null}}',
    '{"z": 1, "a": [1, {"deep": [true, false, null]}], "big": 12345678901234567890, "pi": 3.14, "s": "quote\" é"}',
    '{1,2,NULL}', '{{1,2},{3,4}}', ARRAY['a b', 'c"d', 'e\f', NULL, 'NULL', '', '{x}', 'ü'],
    '{1.5,-2,NaN}', '{1.5,Infinity,-Infinity,NaN}', '{t,f,NULL}', ARRAY['\x00ff'::bytea, '\x'::bytea],
    '{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}', '{"2024-01-01 00:00:00+00","1999-12-31 23:59:59.5+00"}',
    ARRAY['{"k": [1]}'::jsonb, '"str"'::jsonb],
    'happy', '{sad,ok}', 42, '192.168.0.1/24', repeat('toast-', 600));
INSERT INTO all_types (id, c_int2, c_int4, c_int8, c_numeric, c_numeric_scaled, c_float4, c_float8, c_bool,
    c_text, c_varchar, c_bpchar, c_bytea, c_date, c_timestamp, c_timestamptz, c_interval, c_json, c_jsonb,
    c_int4_arr, c_text_arr, c_float8_arr)
VALUES (2, -32768, -2147483648, -9223372036854775808, '-123456789012345678901234567890.123456',
    -999999999.999, 'NaN', '-Infinity', false,
    E'tab\there\nnewline "quoted" back\\slash', '', 'abcde', '\x00', '0044-03-15 BC', '1970-01-01 00:00:00',
    '1969-12-31 23:59:59.999999+00', '-1 days -00:00:01', '[]', '"just a string"',
    '{}', '{}', '{-0,1e-300,1.7976931348623157e308}');
INSERT INTO all_types (id) VALUES (3);
COMMIT;

-- T2: REPLICA IDENTITY DEFAULT, non-key update: the TOASTed c_big is unchanged -> 'u'.
UPDATE all_types SET c_text = 'updated', c_int4 = NULL WHERE id = 1;
-- T3: key change: old key sent as a 'K' tuple.
UPDATE all_types SET id = 10 WHERE id = 1;
-- T4: DELETE with DEFAULT identity: 'K' tuple.
DELETE FROM all_types WHERE id = 2;

-- T5: REPLICA IDENTITY FULL: insert, update (old 'O' tuple), delete ('O').
INSERT INTO full_ident VALUES (7, 'first', repeat('full-', 800));
UPDATE full_ident SET note = 'second' WHERE id = 7;
DELETE FROM full_ident WHERE id = 7;

-- T6: a schema-qualified, non-ASCII relation with a composite key.
INSERT INTO sales."Örders" VALUES (100, 1, 5), (100, 2, -3);

-- T7: a table outside the publication: PG15 sends no empty Begin/Commit.
INSERT INTO not_published VALUES (1);

-- T8: TRUNCATE: plain, then two tables with RESTART IDENTITY CASCADE.
INSERT INTO trunc_a (v) VALUES ('x');
INSERT INTO trunc_b (a_id) VALUES (1);
TRUNCATE full_ident;
TRUNCATE trunc_a, trunc_b RESTART IDENTITY CASCADE;

-- T9: logical messages, transactional and not.
BEGIN;
SELECT pg_logical_emit_message(true, 'deltabridge', 'in-tx ü');
INSERT INTO sales."Örders" VALUES (101, 1, 1);
COMMIT;
SELECT pg_logical_emit_message(false, 'deltabridge', '\x00ff'::bytea);

-- T10: schema change: a new Relation message before the next change.
ALTER TABLE all_types ADD COLUMN c_added int8 DEFAULT 7;
UPDATE all_types SET c_added = 8 WHERE id = 3;

-- T11: timestamps whose text depends on the TimeZone (also peeked in Asia/Kolkata).
INSERT INTO tz_only VALUES
    (1, '2024-06-01 12:00:00.25+00', '{"2024-06-01 12:00:00+00","1900-01-01 00:00:00+00"}', '12:00:00-03:30'),
    (2, '1900-01-01 00:00:00+00', NULL, '00:00:00+14'),
    (3, 'infinity', '{-infinity}', NULL),
    (4, '0001-01-01 00:00:00+00', NULL, NULL);
SQL

# T12: bridge write-backs marked with a replication origin: with xact_setup (commit time and
# origin LSN set), then a second transaction in the same session without it.
"${PSQL[@]}" >/dev/null <<'SQL'
SELECT pg_replication_origin_session_setup('deltabridge_test');
BEGIN;
SELECT pg_replication_origin_xact_setup('0/ABCDEF', '2024-01-02 03:04:05.678901+00');
INSERT INTO sales."Örders" VALUES (200, 1, 9);
COMMIT;
BEGIN;
INSERT INTO sales."Örders" VALUES (201, 1, 9);
COMMIT;
SELECT pg_replication_origin_session_reset();
SQL
# T13: a new session with the origin but without pg_replication_origin_xact_setup.
"${PSQL[@]}" >/dev/null <<'SQL'
SELECT pg_replication_origin_session_setup('deltabridge_test');
INSERT INTO sales."Örders" VALUES (202, 1, 9);
SQL
end_us="$(date +%s%6N)"

PEEK="SELECT lsn, xid, encode(data, 'hex') FROM pg_logical_slot_peek_binary_changes('peek_slot', NULL, NULL, 'proto_version', '%s', 'publication_names', 'pub', 'messages', 'true')"
# shellcheck disable=SC2059
"${PSQL[@]}" -F ' ' -c "SET TimeZone = 'UTC'" -c "SET DateStyle = 'ISO, YMD'" -c "SET IntervalStyle = 'postgres'" \
    -c "$(printf "$PEEK" 1)" >"$work/peek_v1.txt"
# shellcheck disable=SC2059
"${PSQL[@]}" -F ' ' -c "SET TimeZone = 'UTC'" -c "SET DateStyle = 'ISO, YMD'" -c "SET IntervalStyle = 'postgres'" \
    -c "$(printf "$PEEK" 2)" >"$work/peek_v2.txt"
if cmp -s "$work/peek_v1.txt" "$work/peek_v2.txt"; then v2same=true; else v2same=false; fi
echo "[capture] proto_version 2 (no streaming) byte-identical to 1: $v2same"

tzrel="$("${PSQL[@]}" -c "SELECT 'tz_only'::regclass::oid")"
# shellcheck disable=SC2059
"${PSQL[@]}" -F ' ' -c "SET TimeZone = 'Asia/Kolkata'" -c "SET DateStyle = 'ISO, YMD'" \
    -c "$(printf "$PEEK" 1)" >"$work/peek_kolkata_all.txt"

# --- a real walsender stream over the raw protocol ---
python3 - "$port" "$work/stream.txt" <<'PY'
import socket, struct, sys, time
port, outfile = int(sys.argv[1]), sys.argv[2]
s = socket.create_connection(("127.0.0.1", port))
def send(tag, body):
    s.sendall(tag + struct.pack("!i", len(body) + 4) + body)
buf = b""
def recv_msg():
    global buf
    while True:
        if len(buf) >= 5:
            n = struct.unpack("!i", buf[1:5])[0]
            if len(buf) >= 1 + n:
                m = (buf[0:1], buf[5:1 + n]); buf = buf[1 + n:]; return m
        chunk = s.recv(65536)
        if not chunk: raise SystemExit("connection closed")
        buf += chunk
params = [("user", "postgres"), ("database", "postgres"), ("replication", "database"),
          ("TimeZone", "UTC"), ("DateStyle", "ISO, YMD"), ("wal_sender_timeout", "2s")]
body = struct.pack("!i", 196608) + b"".join(k.encode() + b"\0" + v.encode() + b"\0" for k, v in params) + b"\0"
s.sendall(struct.pack("!i", len(body) + 4) + body)
while True:
    tag, m = recv_msg()
    if tag == b"E": raise SystemExit("startup error: %r" % m)
    if tag == b"Z": break
send(b"Q", b"START_REPLICATION SLOT stream_slot LOGICAL 0/0 (proto_version '1', publication_names 'pub', messages 'true')\0")
frames = []
deadline = time.monotonic() + 15
last_end = 0
while time.monotonic() < deadline:
    tag, m = recv_msg()
    if tag == b"E": raise SystemExit("replication error: %r" % m)
    if tag != b"d": continue
    frames.append(m)
    if m[0:1] == b"w":
        last_end = max(last_end, struct.unpack("!Q", m[9:17])[0])
    if m[0:1] == b"k" and m[17] == 1:
        break
else:
    raise SystemExit("no keepalive with reply requested within 15 s")
# Standby status update: written = flushed = applied = end of the last XLogData, clock, no reply.
clock = 1_000_000_000_000_000 - 946_684_800_000_000  # a fixed clock value, µs since 2000
status = b"r" + struct.pack("!QQQqB", last_end, last_end, last_end, clock, 0)
send(b"d", status)
time.sleep(0.5)
send(b"c", b"")
send(b"X", b"")
s.close()
with open(outfile, "w") as f:
    for m in frames: f.write("frame " + m.hex() + "\n")
    f.write("status " + status.hex() + "\n")
    f.write("statusflush %d\n" % last_end)
PY
sleep 0.5
confirmed="$("${PSQL[@]}" -c "SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = 'stream_slot'")"
echo "confirmed $confirmed" >>"$work/stream.txt"

python3 - "$work" "$out" "$start_us" "$end_us" "$v2same" "$tzrel" <<'PY'
import sys
work, out, start_us, end_us, v2same, tzrel = sys.argv[1:7]
def rows(name):
    res = []
    for line in open(f"{work}/{name}"):
        lsn, xid, hexdata = line.split()
        res.append((lsn, int(xid), hexdata))
    return res
v1 = rows("peek_v1.txt")
kol_all = rows("peek_kolkata_all.txt")
# Keep only the transaction that carries the tz_only Relation (relid as 4 bytes, after 'R').
relhex = "52" + "%08x" % int(tzrel)
tz_xid = next(x for (_, x, h) in kol_all if h.startswith(relhex))
kol = [r for r in kol_all if r[1] == tz_xid]
stream = [l.split() for l in open(f"{work}/stream.txt")]
frames = [p[1] for p in stream if p[0] == "frame"]
status = next(p[1] for p in stream if p[0] == "status")
statusflush = next(int(p[1]) for p in stream if p[0] == "statusflush")
confirmed = next(p[1] for p in stream if p[0] == "confirmed")
def entries(rs):
    return "\n".join(f'        CapturedMessage(lsn: "{l}", xid: {x}, hex: "{h}"),' for (l, x, h) in rs)
with open(out, "w") as f:
    f.write(f"""// Generated by Fixtures/capture.sh from a real PostgreSQL 15 server. Do not edit by hand.

/// One row of `pg_logical_slot_peek_binary_changes`: the message's LSN, its xid and the pgoutput bytes (hex).
struct CapturedMessage {{
    let lsn: String
    let xid: UInt32
    let hex: String
}}

/// Raw pgoutput bytes and walsender frames captured by `capture.sh`; see the DML in that script.
enum CapturedPgOutput {{
    /// Unix µs just before the first and just after the last captured transaction.
    static let captureStartMicros: Int64 = {start_us}
    static let captureEndMicros: Int64 = {end_us}
    /// Whether proto_version 2 (streaming off) produced exactly the bytes of proto_version 1.
    static let protoVersion2IsIdentical = {v2same}

    /// All messages, proto_version 1, TimeZone UTC, DateStyle ISO.
    static let peekV1: [CapturedMessage] = [
{entries(v1)}
    ]

    /// The tz_only transaction peeked again with TimeZone Asia/Kolkata.
    static let peekKolkata: [CapturedMessage] = [
{entries(kol)}
    ]

    /// CopyData payloads of a START_REPLICATION stream, in order, up to a keepalive requesting a reply.
    static let streamFrames: [String] = [
{chr(10).join(f'        "{fr}",' for fr in frames)}
    ]

    /// The Standby Status Update sent back (flushed = end of the last XLogData) and the
    /// slot's confirmed_flush_lsn read afterwards.
    static let statusUpdateHex = "{status}"
    static let statusUpdateFlushed: UInt64 = {statusflush}
    static let confirmedFlushAfterStatus = "{confirmed}"
}}
""")
print(f"[capture] wrote {out}: {len(v1)} messages, {len(kol)} Kolkata, {len(frames)} frames")
PY
