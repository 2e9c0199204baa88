import DeltaConnector
import DeltaCore

/// Rule 7 for stores that cannot mark the bridge's writes (MongoDB): decides whether an unmarked
/// change only reports what the bridge itself last wrote to that store.
///
/// A change is an echo when every attribute it reports either equals the bridge's last write
/// recorded for that store **and** the ledger's winner is still that very write (same stamp), or
/// simply equals the ledger's current value (nothing new), and at least one attribute matched a
/// write. A later real edit that happens to restore an earlier bridge write is therefore not an
/// echo as soon as any other change of that attribute came in between (the winner's stamp moved).
///
/// Invariant: pure; looks only at the ledger state as the batch has merged it so far.
struct EchoMatcher {
    let normalizer: Normalizer

    func isEcho(_ change: RowChange, state: DocumentState?, written: [AttributeName: AttributeState]?) -> Bool {
        guard let written, !written.isEmpty else { return false }
        let state = state ?? DocumentState()
        let keyNames = Set(normalizer.storeMapping.spec.keyAttributes.map { normalizer.storeMapping.logicalName($0) })
        switch change.operation {
        case .delete:
            guard !state.isAlive, let tombstone = state.tombstone, let w = written[""] else { return false }
            return w.value == nil && w.stamp == tombstone
        case .upsert:
            guard state.isAlive else { return false }
            var matched = false
            func check(_ name: AttributeName, _ value: Value?) -> Bool {
                let current = state.attributes[name]
                if let w = written[name], w.value == value, let current, current.stamp == w.stamp, current.value == value {
                    matched = true
                    return true
                }
                return current?.value == value || (value == nil && current == nil)
            }
            let image = normalizer.logicalImage(of: change)
            for (name, value) in image where !keyNames.contains(name) {
                if !check(name, value) { return false }
            }
            for storeName in change.removed {
                let name = normalizer.storeMapping.logicalName(storeName)
                guard normalizer.mapping.admits(name), image[name] == nil else { continue }
                if !check(name, nil) { return false }
            }
            if change.image == .full {
                for (name, a) in state.attributes where a.value != nil && image[name] == nil && !keyNames.contains(name) && normalizer.mapping.admits(name) {
                    return false
                }
            }
            return matched
        }
    }
}
