import DeltaConnector
import DeltaCore

/// The resume position of a CouchDB source over several databases: each database's last seq,
/// kept verbatim. Its text form (the engine's opaque position) is a JSON object
/// `{"<database>":"<seq>",...}` with members sorted by name.
///
/// Invariant: a database missing from the position starts from `0` (its whole feed).
struct CouchDBPosition: Sendable, Equatable {
    var seqs: [String: String]

    init(seqs: [String: String] = [:]) { self.seqs = seqs }

    /// Parses a position written by ``text``; an empty text is the start of every feed.
    init(_ text: String, store: String) throws {
        if text.isEmpty { self.init(); return }
        guard case let .object(o)? = try? JSONCodec.parse(text) else {
            throw ConnectorError(.positionLost, "CouchDB store '\(store)': the saved position '\(text)' is not a CouchDB position — run `deltabridge resync <pipeline file> --flow <flow>` to take a new snapshot")
        }
        var seqs = [String: String]()
        for (db, v) in o { if let s = CouchDBChangesPage.seqText(v) { seqs[db] = s } }
        self.init(seqs: seqs)
    }

    func seq(_ database: String) -> String { seqs[database] ?? "0" }

    var text: String {
        (try? JSONCodec.serialize(.object(seqs.mapValues { .string($0) }))) ?? "{}"
    }
}
