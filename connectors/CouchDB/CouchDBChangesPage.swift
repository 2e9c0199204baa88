import DeltaConnector
import DeltaCore

/// One answer of `GET /db/_changes` (`style=all_docs`, `include_docs=true`): its rows, the
/// `last_seq` to continue from and the `pending` count after it.
///
/// Invariant: seqs are kept verbatim (strings as sent; numbers of CouchDB 1.x as their digits),
/// never interpreted.
struct CouchDBChangesPage: Sendable {
    /// One row: a document's id, its winning revision (body included) and whether it is deleted.
    struct Row: Sendable {
        var seq: String
        var id: String
        var deleted: Bool
        /// Every leaf revision the row lists (`style=all_docs`).
        var leafRevs: [String]
        var doc: [String: Value]?
    }

    var rows: [Row]
    var lastSeq: String
    var pending: Int64?

    init(rows: [Row], lastSeq: String, pending: Int64?) {
        self.rows = rows
        self.lastSeq = lastSeq
        self.pending = pending
    }

    init(_ json: Value, database: String) throws {
        guard let o = json.objectValue, let last = CouchDBChangesPage.seqText(o["last_seq"]) else {
            throw ConnectorError(.transient, "CouchDB database '\(database)': a _changes answer without last_seq")
        }
        lastSeq = last
        if case let .int(p)? = o["pending"] { pending = p } else { pending = nil }
        rows = []
        for item in o["results"]?.arrayValue ?? [] {
            guard let r = item.objectValue, let id = r["id"]?.stringValue, let seq = CouchDBChangesPage.seqText(r["seq"]) else { continue }
            let revs = (r["changes"]?.arrayValue ?? []).compactMap { $0.objectValue?["rev"]?.stringValue }
            rows.append(Row(seq: seq, id: id, deleted: r["deleted"] == .bool(true), leafRevs: revs, doc: r["doc"]?.objectValue))
        }
    }

    /// A seq as text: strings verbatim, integers (CouchDB 1.x) as digits.
    static func seqText(_ v: Value?) -> String? {
        switch v {
        case let .string(s)?: return s
        case let .int(i)?: return String(i)
        default: return nil
        }
    }
}
