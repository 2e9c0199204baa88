/// The last-write-wins merge of deltas into document states: reconciliation rules 1, 2, 6 and 9.
///
/// Merging is a join per attribute (keep the greater `(stamp, value)`) plus a join of tombstones
/// (keep the greater stamp), so it is commutative, associative and idempotent: any delivery order,
/// with duplicates and replays, reaches the same state (rule 10).
public enum Merge {
    /// Merges one change; returns true when the state changed.
    @inlinable
    @discardableResult
    public static func apply(_ change: Delta.Change, stamp: Stamp, to state: inout DocumentState) -> Bool {
        switch change {
        case .tombstone:
            if let current = state.tombstone, !(current < stamp) { return false }
            state.tombstone = stamp
            return true
        case let .set(name, value):
            return applyAttribute(name, AttributeState(value: value, stamp: stamp), to: &state)
        case let .unset(name):
            return applyAttribute(name, AttributeState(value: nil, stamp: stamp), to: &state)
        }
    }

    @inlinable
    static func applyAttribute(_ name: AttributeName, _ incoming: AttributeState, to state: inout DocumentState) -> Bool {
        if let index = state.attributes.index(forKey: name) {
            guard incoming.beats(state.attributes.values[index]) else { return false }
            state.attributes.values[index] = incoming
        } else {
            state.attributes[name] = incoming
        }
        return true
    }

    /// Merges `deltas` (all of one document) into `state` and reports what changed.
    public static func merge<S: Sequence<Delta>>(_ deltas: S, into state: inout DocumentState) -> Outcome {
        let before = state
        var touched = [AttributeName]()
        var tombstoneChanged = false
        for delta in deltas where apply(delta.change, stamp: delta.stamp, to: &state) {
            if let name = delta.change.attribute { touched.append(name) } else { tombstoneChanged = true }
        }
        return Outcome(before: before, after: state, touched: touched, tombstoneChanged: tombstoneChanged)
    }

    /// The effect of a merge on one document, as the planner needs it.
    public struct Outcome: Sendable {
        /// Attributes whose latest state changed, in first-change order, each once.
        public let changedAttributes: [AttributeName]
        public let tombstoneChanged: Bool
        public let wasAlive: Bool
        public let isAlive: Bool

        init(before: DocumentState, after: DocumentState, touched: [AttributeName], tombstoneChanged: Bool) {
            var seen = Set<AttributeName>()
            var changed = [AttributeName]()
            for name in touched where seen.insert(name).inserted && before.attributes[name] != after.attributes[name] {
                changed.append(name)
            }
            self.changedAttributes = changed
            self.tombstoneChanged = tombstoneChanged
            self.wasAlive = before.isAlive
            self.isAlive = after.isAlive
        }

        /// Nothing a target needs to hear about.
        public var isNoop: Bool { changedAttributes.isEmpty && wasAlive == isAlive }

        /// What the targets must do to follow this merge.
        public var effect: Effect {
            switch (wasAlive, isAlive) {
            case (false, true): return .create
            case (true, false): return .delete
            case (true, true): return changedAttributes.isEmpty ? .none : .update(changedAttributes)
            case (false, false): return .none
            }
        }
    }

    /// The action on target stores implied by a merge.
    public enum Effect: Sendable, Equatable {
        case none
        /// Write the listed attributes (set those with a value, unset the others).
        case update([AttributeName])
        /// The document came to life (new, or restored by rule 6): write it whole.
        case create
        case delete
    }
}
