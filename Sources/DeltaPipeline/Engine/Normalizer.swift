import DeltaConnector
import DeltaCore

/// Turns one store's ``RowChange``s into attribute deltas by diffing them against the ledger's
/// state: a row image with one changed column yields one delta, an identical image none.
///
/// Invariants: attribute names leave it logical (renamed, filtered by include/exclude); every
/// delta of one change carries the same stamp; attributes known unchanged (TOAST) never change.
final class Normalizer: Sendable {
    let mapping: CollectionMapping
    let storeMapping: StoreMapping
    /// Read for every change, so kept apart from the mappings (reading them copies them whole).
    private let keyAttributes: [String]
    private let keepsNames: Bool
    private let passesImagesThrough: Bool
    private let timeAttribute: String?

    init(mapping: CollectionMapping, storeMapping: StoreMapping) {
        self.mapping = mapping
        self.storeMapping = storeMapping
        keyAttributes = storeMapping.spec.keyAttributes
        keepsNames = storeMapping.keepsNames
        passesImagesThrough = mapping.admitsEverything && storeMapping.keepsNames
        timeAttribute = storeMapping.timeAttribute
    }

    /// The document key of a change, from the store's key attributes; nil when one is missing.
    func key(of change: RowChange) -> DocumentKey? { key(of: change.attributes) }

    /// The document key of a change's attributes (the caller passes only them: no copy of the
    /// whole change).
    func key(of attributes: [String: Value]) -> DocumentKey? {
        if keyAttributes.count == 1 {
            guard let v = attributes[keyAttributes[0]], v != .null else { return nil }
            return DocumentKey(v)
        }
        var parts = [Value]()
        parts.reserveCapacity(keyAttributes.count)
        for name in keyAttributes {
            guard let v = attributes[name], v != .null else { return nil }
            parts.append(v)
        }
        return DocumentKey(parts)
    }

    /// The change's attributes in logical names, without those the mapping excludes.
    func logicalImage(of change: RowChange) -> [AttributeName: Value] {
        if passesImagesThrough { return change.attributes }
        var out = [AttributeName: Value](minimumCapacity: change.attributes.count)
        for (name, value) in change.attributes {
            let logical = storeMapping.logicalName(name)
            if mapping.admits(logical) { out[logical] = value }
        }
        return out
    }

    /// The source time of a change: the mapping's time attribute when it has a usable value,
    /// else the store's commit time (nil: the engine uses the time of observation).
    func sourceTime(of change: RowChange) -> Int64? {
        if let attribute = timeAttribute, let v = change.attributes[attribute], let t = Normalizer.micros(from: v) {
            return t
        }
        return change.commitTime
    }

    /// Reads a time from a value: timestamps as they are, ISO-8601 text, and numbers as Unix
    /// seconds, milliseconds or microseconds by magnitude.
    static func micros(from value: Value) -> Int64? {
        switch value {
        case let .timestamp(t): return t
        case let .string(s): return Timestamps.parseISO8601(s)
        case let .int(i):
            let magnitude = i.magnitude
            if magnitude < 100_000_000_000 { return i &* 1_000_000 }
            if magnitude < 100_000_000_000_000 { return i &* 1_000 }
            return i
        case let .double(d) where d.isFinite && abs(d) < 1e11: return Int64(d * 1_000_000)
        default: return nil
        }
    }

    /// The deltas that bring `state` to what `change` reports, all stamped `stamp`.
    ///
    /// `baseline` is what this store last reported of the document (see ``DeltaLedger/StoreImage``):
    /// an attribute equal to its baseline was not changed at this store — its value may merely be
    /// stale — so it yields no delta. Without a baseline the ledger's state is the reference.
    func deltas(for change: RowChange, namespace: Namespace, key: DocumentKey, state: DocumentState,
                baseline: [AttributeName: Value]? = nil, stamp: Stamp) -> [Delta] {
        var out = [Delta]()
        appendDeltas(for: change, namespace: namespace, key: key, state: state, baseline: baseline, stamp: stamp, to: &out)
        return out
    }

    /// ``deltas(for:namespace:key:state:baseline:stamp:)`` appended to `out` (the engine's batch
    /// list, without a list per change).
    func appendDeltas(for change: RowChange, namespace: Namespace, key: DocumentKey, state: DocumentState,
                      baseline: [AttributeName: Value]?, stamp: Stamp, to out: inout [Delta]) {
        var changes = [Delta.Change]()
        appendChanges(for: change, state: state, baseline: baseline, to: &changes)
        for c in changes { out.append(Delta(namespace: namespace, key: key, change: c, stamp: stamp)) }
    }

    /// What the deltas of ``deltas(for:namespace:key:state:baseline:stamp:)`` do, appended to
    /// `out`: the engine merges them under one stamp and makes deltas of them only for history.
    func appendChanges(for change: RowChange, state: DocumentState, baseline: [AttributeName: Value]?,
                       to out: inout [Delta.Change]) {
        switch change.operation {
        case .delete:
            if state.tombstone != nil && !state.isAlive { return }
            out.append(.tombstone)
        case .upsert:
            let alive = state.isAlive
            let image = logicalImage(of: change)
            for (name, value) in image {
                if let before = baseline?[name], before == value { continue }
                if !alive || state.attributes[name]?.value != value { out.append(.set(name, value)) }
            }
            guard alive || state.tombstone != nil || !change.removed.isEmpty else { return }
            let unchanged = keepsNames ? change.unchanged : Set(change.unchanged.map(storeMapping.logicalName))
            switch change.image {
            case .full:
                for (name, attribute) in state.attributes where attribute.value != nil && image[name] == nil && !unchanged.contains(name) {
                    if let baseline, baseline[name] == nil { continue }
                    out.append(.unset(name))
                }
            case .partial:
                for storeName in change.removed {
                    let name = storeMapping.logicalName(storeName)
                    guard mapping.admits(name), image[name] == nil else { continue }
                    if state.attributes[name]?.value != nil || !alive { out.append(.unset(name)) }
                }
            }
        }
    }

    /// The store's image of the document after `change`, given the one before it.
    func image(after change: RowChange, previous: [AttributeName: Value]?) -> [AttributeName: Value]? {
        switch change.operation {
        case .delete: return nil
        case .upsert:
            var image = logicalImage(of: change)
            if change.image == .partial || !change.unchanged.isEmpty, let previous {
                var merged = previous
                for name in change.removed { merged[storeMapping.logicalName(name)] = nil }
                for (k, v) in image { merged[k] = v }
                image = merged
            }
            return image
        }
    }
}
