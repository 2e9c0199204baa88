import SQLiteSupport

/// The SQLite ledger's schema, version 3.
///
/// One row per document in `documents`, keyed by (namespace, key): `state` is the
/// ``DeltaCore/DocumentStateEncoding`` of its ``DeltaCore/DocumentState`` (every attribute's latest
/// value and stamp, and the tombstone); `alive`, `tombstone_time` and `attribute_count` are derived
/// from it for compaction and statistics. Write records and history keep one row per attribute,
/// with values in ``DeltaCore/ValueEncoding`` (NULL for unset). `images` holds the last image
/// each source store reported of a document, as the ValueEncoding of an object. Every `key`
/// column holds a key's canonical text in the form ``SQLiteLedgerKey`` gives it (an INTEGER for an
/// integer's own decimal text, TEXT otherwise), so those columns have no declared type.
///
/// Version 2 differs from version 1 only in the states it writes (each distinct stamp once); it
/// reads version 1's too. Version 3 stores integer keys as integers: opening an older ledger
/// rewrites its four keyed tables once, in one transaction.
enum SQLiteLedgerSchema {
    static let version = 3
    /// Versions this build opens; every one before ``version`` is upgraded in place.
    static let readable = 1 ... 3

    static let create = """
    CREATE TABLE IF NOT EXISTS ledger_meta(
        name TEXT PRIMARY KEY,
        value TEXT NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS documents(
        ns TEXT NOT NULL,
        key NOT NULL,
        state BLOB NOT NULL,
        alive INTEGER NOT NULL,
        tombstone_time INTEGER,
        attribute_count INTEGER NOT NULL,
        PRIMARY KEY (ns, key)
    ) WITHOUT ROWID;
    CREATE INDEX IF NOT EXISTS dead_documents ON documents(tombstone_time) WHERE alive = 0;
    CREATE TABLE IF NOT EXISTS history(
        ns TEXT NOT NULL,
        key NOT NULL,
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
        key NOT NULL,
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
        key NOT NULL,
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
    INSERT OR IGNORE INTO ledger_meta(name, value) VALUES ('schema_version', '3');
    """

    /// The tables whose rows are keyed by a document key, with their columns: version 3 rewrote
    /// their `key` column.
    static let keyedTables: [(name: String, columns: [String])] = [
        ("documents", ["ns", "key", "state", "alive", "tombstone_time", "attribute_count"]),
        ("history", ["ns", "key", "time", "counter", "origin", "name", "kind", "value"]),
        ("writes", ["store", "ns", "key", "name", "value", "time", "counter", "origin"]),
        ("images", ["store", "ns", "key", "image"]),
    ]

    /// Checks the version of an opened (and created if new) ledger, upgrades an older one when
    /// `upgrading`, and returns the version the ledger now has.
    static func open(_ db: SQLiteDatabase, path: String, upgrading: Bool) throws -> Int {
        let text = try db.scalarText("SELECT value FROM ledger_meta WHERE name = 'schema_version'") ?? "none"
        guard let found = Int(text), readable.contains(found) else {
            throw LedgerError("ledger \(path) has schema version \(text), this build reads versions \(readable.lowerBound)–\(readable.upperBound): use a newer deltabridge or move the ledger aside")
        }
        guard found < version, upgrading else { return found }
        return try db.transaction {
            // Another process may have upgraded it meanwhile: read again under the write lock.
            let current = Int(try db.scalarText("SELECT value FROM ledger_meta WHERE name = 'schema_version'") ?? "") ?? found
            guard current < version else { return current }
            if current < 3 { try storeIntegerKeysAsIntegers(db) }
            try db.execute("UPDATE ledger_meta SET value = '\(version)' WHERE name = 'schema_version'")
            return version
        }
    }

    /// Version 3: each keyed table is renamed, made again from ``create`` (which declares `key`
    /// without a type) and filled with the old rows, their keys in ``SQLiteLedgerKey``'s form.
    private static func storeIntegerKeysAsIntegers(_ db: SQLiteDatabase) throws {
        for table in keyedTables {
            try db.execute("ALTER TABLE \(table.name) RENAME TO \(table.name)_v2")
        }
        // The partial index went with the renamed documents table: dropped, so that `create`
        // makes it on the new one.
        try db.execute("DROP INDEX IF EXISTS dead_documents")
        try db.execute(create)
        for table in keyedTables {
            let columns = table.columns.joined(separator: ", ")
            let selected = table.columns.map { $0 == "key" ? SQLiteLedgerKey.sqlStoredForm(of: "key") : $0 }.joined(separator: ", ")
            try db.execute("INSERT INTO \(table.name)(\(columns)) SELECT \(selected) FROM \(table.name)_v2")
            try db.execute("DROP TABLE \(table.name)_v2")
        }
    }
}
