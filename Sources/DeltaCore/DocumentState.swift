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
///
/// A state made from one image (``init(image:stamp:)``, every attribute set with one stamp) keeps
/// that image as it is until its attributes are first changed: a snapshot's documents are never
/// built twice. Both forms of the same state are equal and hash alike.
public struct DocumentState: Sendable, Hashable {
    /// The attributes, unless the state is still in its image form (then empty).
    @usableFromInline var stored: [AttributeName: AttributeState]
    /// The values of the image the state was made from, while none of its attributes has
    /// changed, and the stamp they were set with (meaningless without them).
    @usableFromInline var imageValues: [AttributeName: Value]?
    @usableFromInline var imageStamp: Stamp
    public var tombstone: Stamp?

    /// The image the state was made from, while none of its attributes has changed.
    public var image: Image? { imageValues.map { Image(values: $0, stamp: imageStamp) } }

    /// Every attribute set to its value with one stamp: how a state made from one image is kept.
    public struct Image: Sendable {
        public let values: [AttributeName: Value]
        public let stamp: Stamp
    }

    public init(attributes: [AttributeName: AttributeState] = [:], tombstone: Stamp? = nil) {
        self.stored = attributes
        self.imageValues = nil
        self.imageStamp = Stamp(time: 0, origin: StoreID(""))
        self.tombstone = tombstone
    }

    /// The state of a document whose every attribute in `image` was set with `stamp`.
    public init(image: [AttributeName: Value], stamp: Stamp) {
        self.stored = [:]
        self.imageValues = image
        self.imageStamp = stamp
    }

    /// Every attribute's latest version (built from the image the first time it is read or
    /// changed, for a state still in its image form).
    public var attributes: [AttributeName: AttributeState] {
        get {
            guard let values = imageValues else { return stored }
            return Self.attributes(values, imageStamp)
        }
        set {
            stored = newValue
            imageValues = nil
        }
        _modify {
            if let values = imageValues {
                stored = Self.attributes(values, imageStamp)
                imageValues = nil
            }
            yield &stored
        }
    }

    private static func attributes(_ values: [AttributeName: Value], _ stamp: Stamp) -> [AttributeName: AttributeState] {
        values.mapValues { AttributeState(value: $0, stamp: stamp) }
    }

    /// How many attributes the state knows (set or unset).
    @inlinable public var attributeCount: Int { imageValues?.count ?? stored.count }

    /// An empty state: a document the ledger has never seen.
    public static let unknown = DocumentState()

    @inlinable public var isEmpty: Bool { attributeCount == 0 && tombstone == nil }

    /// Rule 6: alive when any attribute stamp is newer than the tombstone (or there is no tombstone
    /// and at least one attribute is known).
    @inlinable public var isAlive: Bool {
        guard let tomb = tombstone else { return attributeCount > 0 }
        if let values = imageValues { return !values.isEmpty && tomb < imageStamp }
        return stored.values.contains { tomb < $0.stamp }
    }

    /// The document's current content: every attribute that holds a value. Empty when not alive.
    public var liveValues: [AttributeName: Value] {
        guard isAlive else { return [:] }
        if let values = imageValues { return values }
        var out = [AttributeName: Value](minimumCapacity: stored.count)
        for (name, state) in stored { if let v = state.value { out[name] = v } }
        return out
    }

    /// The greatest stamp in the document (attribute or tombstone), nil when empty.
    public var latestStamp: Stamp? {
        var best = tombstone
        if let values = imageValues {
            if !values.isEmpty, best.map({ $0 < imageStamp }) ?? true { best = imageStamp }
            return best
        }
        for s in stored.values where best.map({ $0 < s.stamp }) ?? true { best = s.stamp }
        return best
    }

    public static func == (a: DocumentState, b: DocumentState) -> Bool {
        guard a.tombstone == b.tombstone else { return false }
        if a.imageValues == nil, b.imageValues == nil { return a.stored == b.stored }
        return a.attributes == b.attributes
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(attributes)
        hasher.combine(tombstone)
    }
}
