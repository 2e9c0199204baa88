/// The SQLite ledger's schema, version 1.
///
/// One row per attribute version in `attributes`, keyed by (namespace, canonical key, name); the
/// document tombstone is the row whose name is `''`. `value` holds the canonical encoding of a
/// ``DeltaCore/Value`` and is NULL for an unset attribute or a tombstone.
enum SQLiteLedgerSchema {
    static let version = 1

    static let create = """
    CREATE TABLE IF NOT EXISTS ledger_meta(
        name TEXT PRIMARY KEY,
        value TEXT NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS attributes(
        ns TEXT NOT NULL,
        key TEXT NOT NULL,
        name TEXT NOT NULL,
        value BLOB,
        time INTEGER NOT NULL,
        counter INTEGER NOT NULL,
        origin TEXT NOT NULL,
        PRIMARY KEY (ns, key, name)
    ) WITHOUT ROWID;
    CREATE INDEX IF NOT EXISTS tombstones_by_time ON attributes(time) WHERE name = '';
    CREATE TABLE IF NOT EXISTS history(
        ns TEXT NOT NULL,
        key TEXT NOT NULL,
        time INTEGER NOT NULL,
        counter INTEGER NOT NULL,
        origin TEXT NOT NULL,
        name TEXT NOT NULL,
        kind INTEGER NOT NULL,
        value BLOB,
        PRIMARY KEY (ns, key, time, counter, origin, name, kind, value)
    ) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS writes(
        store TEXT NOT NULL,
        ns TEXT NOT NULL,
        key TEXT NOT NULL,
        name TEXT NOT NULL,
        value BLOB,
        time INTEGER NOT NULL,
        counter INTEGER NOT NULL,
        origin TEXT NOT NULL,
        PRIMARY KEY (store, ns, key, name)
    ) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS checkpoints(
        pipeline TEXT NOT NULL,
        scope TEXT NOT NULL,
        position TEXT NOT NULL,
        clock_time INTEGER NOT NULL,
        clock_counter INTEGER NOT NULL,
        applied_commit_time INTEGER,
        applied_events INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        extra TEXT,
        PRIMARY KEY (pipeline, scope)
    ) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS dead_letters(
        id INTEGER PRIMARY KEY,
        pipeline TEXT NOT NULL,
        flow TEXT NOT NULL,
        store TEXT NOT NULL,
        ns TEXT NOT NULL,
        key TEXT NOT NULL,
        reason TEXT NOT NULL,
        payload TEXT NOT NULL,
        created_at INTEGER NOT NULL
    );
    INSERT OR IGNORE INTO ledger_meta(name, value) VALUES ('schema_version', '1');
    """
}
