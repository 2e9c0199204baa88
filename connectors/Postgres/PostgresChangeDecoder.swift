import DeltaCore
import DeltaConnector

/// Turns pgoutput row messages of the mapped tables into ``RowChange``s: full images for inserts
/// and updates (unchanged TOAST columns in `unchanged`, never null), key-only deletes, a delete of
/// the old key before an update that changed the key.
///
/// Column types come from the latest Relation message of each table (a new one replaces the
/// cached shape, so schema changes are followed); domains, enums and arrays of them are resolved
/// through Type messages and the catalog. A column of a type the value mapping does not know is
/// read as text, with one warning per column.
///
/// Invariant: used on the stream's worker only.
final class PostgresChangeDecoder: @unchecked Sendable {
    let config: PostgresStoreConfig
    private let specs: [PostgresTableName: CollectionSpec]
    private var plans: [UInt32: Plan] = [:]
    private var warned = Set<String>()

    /// What is known of one relation id.
    struct Plan {
        var spec: CollectionSpec?
        var table: PostgresTableName
        var names: [String]
        var types: [PostgresColumnType]
        /// Every column null: a row image starts as a copy of it and is filled by `positions`
        /// (the storage position of each column's name), so no row hashes a name. Nil when
        /// names repeat.
        var template: [String: Value]?
        var positions: [Dictionary<String, Value>.Index]

        init(spec: CollectionSpec?, table: PostgresTableName, names: [String], types: [PostgresColumnType]) {
            self.spec = spec
            self.table = table
            self.names = names
            self.types = types
            var template = [String: Value](minimumCapacity: names.count)
            for name in names { template[name] = .null }
            positions = names.map { template.index(forKey: $0)! }
            self.template = template.count == names.count ? template : nil
        }
    }

    init(config: PostgresStoreConfig, collections: [CollectionSpec]) {
        self.config = config
        var specs = [PostgresTableName: CollectionSpec]()
        for c in collections { specs[config.table(c.name)] = c }
        self.specs = specs
    }

    /// Takes a Relation message: resolves its column types (with `catalog` on `conn` for types
    /// that are not built in) and replaces the cached plan.
    func relation(_ relation: PgOutputMessage.Relation, types: [UInt32: PgOutputMessage.TypeInfo],
                  catalog: PostgresCatalog, conn: PGConnection?) {
        let table = PostgresTableName(schema: relation.namespace.isEmpty ? "pg_catalog" : relation.namespace, name: relation.name)
        let spec = specs[table]
        var resolved: [PostgresColumnType] = []
        // Tables outside the mapping (a publication may hold more) are not decoded.
        for column in relation.columns where spec != nil {
            let direct = PostgresTypeOID.resolve(column.typeOID, types: types)
            var type: PostgresColumnType
            if PostgresTypeOID.isKnown(direct) {
                type = PostgresColumnType(oid: column.typeOID, typeModifier: column.typeModifier, kind: .mapped(direct),
                                          castName: PostgresCatalog.castName(builtin: direct))
            } else {
                do {
                    type = try catalog.columnType(column.typeOID, typeModifier: column.typeModifier, conn)
                } catch {
                    let name = types[column.typeOID].map { $0.namespace.isEmpty ? $0.name : "\($0.namespace).\($0.name)" } ?? "oid \(column.typeOID)"
                    type = PostgresColumnType(oid: column.typeOID, typeModifier: column.typeModifier, kind: .unknown(name), castName: "text")
                }
            }
            resolved.append(type)
        }
        plans[relation.id] = Plan(spec: spec, table: table, names: relation.columns.map(\.name), types: resolved)
    }

    /// The changes of one Insert, Update or Delete (empty for tables outside the mapping).
    func changes(_ message: PgOutputMessage, commitTime: Int64?, isEcho: Bool) throws -> [RowChange] {
        switch message {
        case let .insert(insert):
            guard let (plan, spec) = mapped(insert.relationID) else { return [] }
            let (attributes, unchanged) = try image(insert.newTuple, plan)
            return [RowChange(collection: spec.name, operation: .upsert, attributes: attributes, image: .full,
                              unchanged: unchanged, commitTime: commitTime, isEcho: isEcho)]
        case let .update(update):
            guard let (plan, spec) = mapped(update.relationID) else { return [] }
            let (attributes, unchanged) = try image(update.newTuple, plan)
            var out: [RowChange] = []
            if let old = update.oldKey ?? update.oldTuple {
                let oldKey = try keyImage(old, plan, spec)
                let newKey = spec.keyAttributes.reduce(into: [String: Value]()) { $0[$1] = attributes[$1] }
                if !oldKey.isEmpty && oldKey != newKey {
                    out.append(RowChange(collection: spec.name, operation: .delete, attributes: oldKey, image: .full,
                                         commitTime: commitTime, isEcho: isEcho))
                }
            }
            out.append(RowChange(collection: spec.name, operation: .upsert, attributes: attributes, image: .full,
                                 unchanged: unchanged, commitTime: commitTime, isEcho: isEcho))
            return out
        case let .delete(delete):
            guard let (plan, spec) = mapped(delete.relationID), let old = delete.oldKey ?? delete.oldTuple else { return [] }
            return [RowChange(collection: spec.name, operation: .delete, attributes: try keyImage(old, plan, spec), image: .full,
                              commitTime: commitTime, isEcho: isEcho)]
        case let .truncate(truncate):
            let names = truncate.relationIDs.compactMap { id -> String? in
                guard let plan = plans[id], plan.spec != nil else { return nil }
                return plan.table.description
            }
            if !names.isEmpty {
                config.warn("\(config.label): TRUNCATE of \(names.joined(separator: ", ")) is not replicated (it carries no rows to delete) — the other stores keep their rows; run `deltabridge resync <pipeline file> --flow <flow>` if they should be emptied too")
            }
            return []
        default:
            return []
        }
    }

    private func mapped(_ relationID: UInt32) -> (Plan, CollectionSpec)? {
        guard let plan = plans[relationID], let spec = plan.spec else { return nil }
        return (plan, spec)
    }

    private func columns(_ tuple: PgTupleData, _ plan: Plan) throws -> [PgTupleColumn] {
        guard tuple.columns.count == plan.names.count else {
            throw ConnectorError(.transient, "\(config.label): a row of \(plan.table) has \(tuple.columns.count) columns but its Relation message \(plan.names.count) — the stream is out of step; reconnecting")
        }
        return tuple.columns
    }

    /// A row image: column → value, with unchanged TOAST columns listed apart.
    private func image(_ tuple: PgTupleData, _ plan: Plan) throws -> ([String: Value], Set<String>) {
        let columns = try columns(tuple, plan)
        var unchanged = Set<String>()
        if let template = plan.template {
            var attributes = template
            for (i, column) in columns.enumerated() {
                switch column {
                case .null: break
                case .unchangedToast: unchanged.insert(plan.names[i])
                case let .text(bytes): attributes.values[plan.positions[i]] = decode(bytes, plan, i)
                case .binary: throw ConnectorError(.permanent, "\(config.label): binary column data in the stream (the connector asks for text)")
                }
            }
            // Removed last: a removal may move the other names, and positions would no longer hold.
            for name in unchanged { attributes[name] = nil }
            return (attributes, unchanged)
        }
        var attributes = [String: Value](minimumCapacity: plan.names.count)
        for (i, column) in columns.enumerated() {
            let name = plan.names[i]
            switch column {
            case .null: attributes[name] = .null
            case .unchangedToast: unchanged.insert(name)
            case let .text(bytes): attributes[name] = decode(bytes, plan, i)
            case .binary: throw ConnectorError(.permanent, "\(config.label): binary column data in the stream (the connector asks for text)")
            }
        }
        return (attributes, unchanged)
    }

    /// The key attributes of an old-key or old-row image.
    private func keyImage(_ tuple: PgTupleData, _ plan: Plan, _ spec: CollectionSpec) throws -> [String: Value] {
        let cols = try columns(tuple, plan)
        var out = [String: Value]()
        for key in spec.keyAttributes {
            guard let i = plan.names.firstIndex(of: key), case let .text(bytes) = cols[i] else { continue }
            out[key] = decode(bytes, plan, i)
        }
        return out
    }

    private func decode(_ bytes: [UInt8], _ plan: Plan, _ index: Int) -> Value {
        let type = plan.types[index]
        let decoded = bytes.withUnsafeBufferPointer { type.decode(utf8: $0) }
        if decoded.isFallback {
            let column = "\(plan.table).\(plan.names[index])"
            if warned.insert(column).inserted {
                let what: String
                if case let .unknown(name) = type.kind { what = "type \(name) is not mapped" } else { what = "a value did not parse as \(type.displayName)" }
                config.warn("\(config.label): column \(column): \(what); its values are read as text")
            }
        }
        return decoded.value
    }
}
