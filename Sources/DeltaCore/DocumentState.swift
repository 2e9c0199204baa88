/// The latest version of one attribute: its value (nil when unset) and the stamp of that version.
public struct AttributeState: Sendable, Hashable {
    /// nil means the attribute was unset (removed) at `stamp`.
    public var value: Value?
    public var stamp: Stamp

    public init(value: Value?, stamp: Stamp) {
        self.value = value
        self.stamp = stamp
    }

    /// True when `self` beats `other` by rule 2: greater stamp, or equal stamp and greater value
    /// (an unset loses to any value). Equal stamp and equal value is not a win (idempotence).
    @inlinable
    public func beats(_ other: AttributeState) -> Bool {
        if stamp != other.stamp { return other.stamp < stamp }
        switch (value, other.value) {
        case (nil, nil): return false
        case (nil, _): return false
        case (_, nil): return true
        case let (a?, b?): return Value.compare(a, b) > 0
        }
    }
}

/// What the ledger knows of one document: the latest state of every attribute ever seen and the
/// newest tombstone (the LATEST partition of DeltaDB).
///
/// Invariant (rule 6): the document is alive exactly when some attribute stamp is newer than the
/// tombstone; an alive document consists of all its attributes that currently hold a value.
public struct DocumentState: Sendable, Hashable {
    public var attributes: [AttributeName: AttributeState]
    public var tombstone: Stamp?

    public init(attributes: [AttributeName: AttributeState] = [:], tombstone: Stamp? = nil) {
        self.attributes = attributes
        self.tombstone = tombstone
    }

    /// An empty state: a document the ledger has never seen.
    public static let unknown = DocumentState()

    public var isEmpty: Bool { attributes.isEmpty && tombstone == nil }

    /// Rule 6: alive when any attribute stamp is newer than the tombstone (or there is no tombstone
    /// and at least one attribute is known).
    public var isAlive: Bool {
        guard let tomb = tombstone else { return !attributes.isEmpty }
        return attributes.values.contains { tomb < $0.stamp }
    }

    /// The document's current content: every attribute that holds a value. Empty when not alive.
    public var liveValues: [AttributeName: Value] {
        guard isAlive else { return [:] }
        var out = [AttributeName: Value](minimumCapacity: attributes.count)
        for (name, state) in attributes { if let v = state.value { out[name] = v } }
        return out
    }

    /// The greatest stamp in the document (attribute or tombstone), nil when empty.
    public var latestStamp: Stamp? {
        var best = tombstone
        for s in attributes.values where best.map({ $0 < s.stamp }) ?? true { best = s.stamp }
        return best
    }
}
