/// One message of the `pgoutput` logical decoding plugin (protocol version 1), as carried in an XLogData frame.
///
/// Times are Unix microseconds, converted from PostgreSQL's µs since 2000-01-01. Relation ids are table OIDs;
/// a change refers to the columns of the last Relation message with its id.
public enum PgOutputMessage: Sendable, Equatable {
    case begin(Begin)
    case commit(Commit)
    case origin(Origin)
    case relation(Relation)
    case type(TypeInfo)
    case insert(Insert)
    case update(Update)
    case delete(Delete)
    case truncate(Truncate)
    case message(LogicalMessage)

    /// `B`: a transaction starts; its changes follow, then a ``Commit``.
    public struct Begin: Sendable, Equatable {
        /// The LSN of the commit record (equals ``Commit/commitLSN``).
        public var finalLSN: LSN
        /// The commit time, Unix µs; nil when the server sent 0, which happens for transactions of a session
        /// with a replication origin that never called `pg_replication_origin_xact_setup`.
        public var commitTime: Int64?
        public var xid: UInt32

        public init(finalLSN: LSN, commitTime: Int64?, xid: UInt32) {
            self.finalLSN = finalLSN
            self.commitTime = commitTime
            self.xid = xid
        }
    }

    /// `C`: the transaction committed. Resume after ``endLSN`` to skip it.
    public struct Commit: Sendable, Equatable {
        /// Currently always 0.
        public var flags: UInt8
        public var commitLSN: LSN
        /// The end of the commit record: the position a checkpoint resumes after.
        public var endLSN: LSN
        /// As in ``Begin/commitTime``.
        public var commitTime: Int64?

        public init(flags: UInt8, commitLSN: LSN, endLSN: LSN, commitTime: Int64?) {
            self.flags = flags
            self.commitLSN = commitLSN
            self.endLSN = endLSN
            self.commitTime = commitTime
        }
    }

    /// `O`: the current transaction was replayed by a session with this replication origin (sent after Begin).
    public struct Origin: Sendable, Equatable {
        /// The origin LSN given to `pg_replication_origin_xact_setup` (0/0 when it was not called).
        public var commitLSN: LSN
        public var name: String

        public init(commitLSN: LSN, name: String) {
            self.commitLSN = commitLSN
            self.name = name
        }
    }

    /// `R`: the shape of a table, sent before its first change in a session and again after schema changes,
    /// TRUNCATE and other cache invalidations. Always replace what was known for ``id``.
    public struct Relation: Sendable, Equatable {
        /// `relreplident`: which old values Update and Delete carry.
        public enum ReplicaIdentity: UInt8, Sendable, Equatable {
            /// `d`: the primary key (old key `K` image only when a key column changes, and on Delete).
            case `default` = 100
            /// `n`: nothing (Update/Delete cannot be published).
            case nothing = 110
            /// `f`: every column (old `O` image on Update and Delete).
            case full = 102
            /// `i`: the columns of a chosen unique index.
            case index = 105
        }

        /// One column: `flags` bit 1 marks a replica identity (key) column.
        public struct Column: Sendable, Equatable {
            public var flags: UInt8
            public var name: String
            public var typeOID: UInt32
            /// `atttypmod`: -1 when none; e.g. `varchar(n)` is n + 4, `numeric(p,s)` is `(p << 16 | s) + 4`.
            public var typeModifier: Int32

            public var isKey: Bool { flags & 1 != 0 }

            public init(flags: UInt8, name: String, typeOID: UInt32, typeModifier: Int32) {
                self.flags = flags
                self.name = name
                self.typeOID = typeOID
                self.typeModifier = typeModifier
            }
        }

        public var id: UInt32
        /// The schema; PostgreSQL sends an empty string for `pg_catalog`.
        public var namespace: String
        public var name: String
        public var replicaIdentity: ReplicaIdentity
        public var columns: [Column]

        public init(id: UInt32, namespace: String, name: String, replicaIdentity: ReplicaIdentity, columns: [Column]) {
            self.id = id
            self.namespace = namespace
            self.name = name
            self.replicaIdentity = replicaIdentity
            self.columns = columns
        }
    }

    /// `Y`: a column type that is not built in (enum, domain, array of those, composite...), sent before the
    /// Relation that uses it. For a domain, PostgreSQL sends the name and schema of its BASE type with the
    /// domain's OID (a domain over `int4` arrives as namespace "" and name "int4").
    public struct TypeInfo: Sendable, Equatable {
        public var oid: UInt32
        /// The schema; empty for `pg_catalog`.
        public var namespace: String
        public var name: String

        public init(oid: UInt32, namespace: String, name: String) {
            self.oid = oid
            self.namespace = namespace
            self.name = name
        }
    }

    /// `I`: a new row.
    public struct Insert: Sendable, Equatable {
        public var relationID: UInt32
        public var newTuple: PgTupleData

        public init(relationID: UInt32, newTuple: PgTupleData) {
            self.relationID = relationID
            self.newTuple = newTuple
        }
    }

    /// `U`: a changed row. At most one of ``oldKey`` (`K`: replica identity default/index and a key column
    /// changed) and ``oldTuple`` (`O`: replica identity full) is set. Unchanged TOASTed columns of the new
    /// row are ``PgTupleColumn/unchangedToast``.
    public struct Update: Sendable, Equatable {
        public var relationID: UInt32
        public var oldKey: PgTupleData?
        public var oldTuple: PgTupleData?
        public var newTuple: PgTupleData

        public init(relationID: UInt32, oldKey: PgTupleData? = nil, oldTuple: PgTupleData? = nil, newTuple: PgTupleData) {
            self.relationID = relationID
            self.oldKey = oldKey
            self.oldTuple = oldTuple
            self.newTuple = newTuple
        }
    }

    /// `D`: a deleted row, identified by exactly one of ``oldKey`` (`K`) and ``oldTuple`` (`O`, identity full).
    public struct Delete: Sendable, Equatable {
        public var relationID: UInt32
        public var oldKey: PgTupleData?
        public var oldTuple: PgTupleData?

        public init(relationID: UInt32, oldKey: PgTupleData? = nil, oldTuple: PgTupleData? = nil) {
            self.relationID = relationID
            self.oldKey = oldKey
            self.oldTuple = oldTuple
        }
    }

    /// `T`: one TRUNCATE statement over one or more tables (their Relation messages precede it).
    public struct Truncate: Sendable, Equatable {
        /// Bit 1: CASCADE, bit 2: RESTART IDENTITY.
        public var options: UInt8
        public var relationIDs: [UInt32]

        public var cascade: Bool { options & 1 != 0 }
        public var restartIdentity: Bool { options & 2 != 0 }

        public init(options: UInt8, relationIDs: [UInt32]) {
            self.options = options
            self.relationIDs = relationIDs
        }
    }

    /// `M`: a `pg_logical_emit_message` (only with the `messages 'true'` option). A non-transactional message
    /// arrives on its own, outside any Begin/Commit.
    public struct LogicalMessage: Sendable, Equatable {
        public var transactional: Bool
        public var lsn: LSN
        public var prefix: String
        public var content: [UInt8]

        public init(transactional: Bool, lsn: LSN, prefix: String, content: [UInt8]) {
            self.transactional = transactional
            self.lsn = lsn
            self.prefix = prefix
            self.content = content
        }
    }
}
