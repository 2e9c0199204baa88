import SQLiteSupport

/// The SQLite ledger's schema, version 2.
///
/// One row per document in `documents`, keyed by (namespace, canonical key): `state` is the
/// ``DeltaCore/DocumentStateEncoding`` of its ``DeltaCore/DocumentState`` (every attribute's latest
/// value and stamp, and the tombstone); `alive`, `tombstone_time` and `attribute_count` are derived
/// from it for compaction and statistics. Write records and history keep one row per attribute,
/// with values in ``DeltaCore/ValueEncoding`` (NULL for unset). `images` holds the last image
/// each source store reported of a document, as the ValueEncoding of an object.
///
/// Version 2 differs from version 1 only in the states it writes (each distinct stamp once). It
/// reads version 1's too, so opening a version 1 ledger just records the new number, which keeps
/// older builds from misreading the new states.
enum SQLiteLedgerSchema {
    static let version = 2
    /// Versions this build opens; every one before ``version`` is upgraded in place.
    static let readable = 1 ... 2

    static let create = """
    CREATE TABLE IF NOT EXISTS ledger_meta(
        name TEXT PRIMARY KEY,
        value TEXT NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS documents(
        ns TEXT NOT NULL,
        key TEXT NOT NULL,
        state BLOB NOT NULL,
        alive INTEGER NOT NULL,
        tombstone_time INTEGER,
        attribute_count INTEGER NOT NULL,
        PRIMARY KEY (ns, key)
    ) WITHOUT ROWID;
    CREATE INDEX IF NOT EXISTS dead_documents ON documents(tombstone_time) WHERE alive = 0;
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
    CREATE TABLE IF NOT EXISTS images(
        store TEXT NOT NULL,
        ns TEXT NOT NULL,
        key TEXT NOT NULL,
        image BLOB NOT NULL,
        PRIMARY KEY (store, ns, key)
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
    INSERT OR IGNORE INTO ledger_meta(name, value) VALUES ('schema_version', '2');
    """

    /// Checks the version of an opened (and created if new) ledger and upgrades an older one.
    static func upgrade(_ db: SQLiteDatabase, path: String) throws {
        let text = try db.scalarText("SELECT value FROM ledger_meta WHERE name = 'schema_version'") ?? "none"
        guard let found = Int(text), readable.contains(found) else {
            throw LedgerError("ledger \(path) has schema version \(text), this build reads versions \(readable.lowerBound)–\(readable.upperBound): use a newer deltabridge or move the ledger aside")
        }
        if found < version {
            try db.execute("UPDATE ledger_meta SET value = '\(version)' WHERE name = 'schema_version'")
        }
    }
}
