/// The canonical binary encoding of a ``DocumentState``: how the ledger stores one document in one row.
///
/// Layout (flags bit 1 set): flags byte (bit 0: has tombstone), the tombstone's stamp number if
/// present, a varint stamp count and the stamps, numbered in order of first use (tombstone, then
/// attributes by name); a varint attribute count, then per attribute in UTF-8 name order: name,
/// flags (bit 0: has value), value (``ValueEncoding``) if present, varint stamp number. A stamp is
/// time (8 bytes big-endian), counter (varint), origin (length-prefixed UTF-8), so a document
/// whose attributes share one stamp holds it once. Equal states encode to equal bytes.
/// ``decode(_:)`` also reads the first layout (flags bit 1 clear), which wrote the whole stamp
/// after each attribute.
public enum DocumentStateEncoding {
    static let hasTombstone: UInt8 = 1
    static let stampTable: UInt8 = 2

    public static func encode(_ state: DocumentState) -> [UInt8] {
        var encoder = Encoder()
        return encoder.encode(state)
    }

    /// Encodes many states, reusing the sorted names of the previous one when a state has the
    /// same names (consecutive rows of one table usually do): looking each name up costs less
    /// than sorting them again. Output is byte-identical to ``encode(_:)``.
    public struct Encoder: Sendable {
        /// The attribute names of the last state encoded.
        private var names = NameOrder()
        /// The stamps of the state being encoded, in order of first use.
        private var stamps: [Stamp] = []
        /// The stamp number of each attribute of the state being encoded, in name order.
        private var stampNumbers: [Int] = []
        /// The whole encoding of the state being encoded.
        private var out: [UInt8] = []
        /// The storage positions of the state's attributes, in UTF-8 name order.
        private var slots: [Dictionary<AttributeName, AttributeState>.Index] = []
        /// The same for a state in its image form: positions of its values.
        private var imageSlots: [Dictionary<AttributeName, Value>.Index] = []
        /// Up to this many attributes, names are matched by comparison rather than hashed.
        static let smallState = 16

        public init() {}

        public mutating func encode(_ state: DocumentState) -> [UInt8] {
            withEncoded(state) { Array($0) }
        }

        /// Calls `use` with the encoding of `state`, held in the encoder's own buffer (valid
        /// only during the call): no array is made per state.
        public mutating func withEncoded<T>(_ state: DocumentState, _ use: (UnsafeBufferPointer<UInt8>) throws -> T) rethrows -> T {
            if let image = state.image { return try withEncoded(image, tombstone: state.tombstone, use) }
            let attributes = state.attributes
            Self.order(attributes, &names, into: &slots)
            // The stamp table comes first, so the stamps are numbered before anything is written.
            stamps.removeAll(keepingCapacity: true)
            stampNumbers.removeAll(keepingCapacity: true)
            let tombstoneIndex = state.tombstone.map { index(of: $0) }
            for position in slots { stampNumbers.append(index(of: attributes.values[position].stamp)) }
            writeHeader(tombstoneIndex, attributeCount: attributes.count)
            for (rank, position) in slots.enumerated() {
                // Each state's own spelling of the name (a canonically equal one may differ in bytes).
                ValueEncoding.appendString(attributes.keys[position], &out)
                if let value = attributes.values[position].value {
                    out.append(1)
                    ValueEncoding.encode(value, into: &out)
                } else {
                    out.append(0)
                }
                ValueEncoding.appendVarint(UInt64(stampNumbers[rank]), &out)
            }
            return try out.withUnsafeBufferPointer(use)
        }

        /// A state in its image form: the bytes of the same state with its attributes built.
        private mutating func withEncoded<T>(_ image: DocumentState.Image, tombstone: Stamp?,
                                             _ use: (UnsafeBufferPointer<UInt8>) throws -> T) rethrows -> T {
            let values = image.values
            Self.order(values, &names, into: &imageSlots)
            stamps.removeAll(keepingCapacity: true)
            let tombstoneIndex = tombstone.map { index(of: $0) }
            let number = values.isEmpty ? 0 : UInt64(index(of: image.stamp))
            writeHeader(tombstoneIndex, attributeCount: values.count)
            for position in imageSlots {
                ValueEncoding.appendString(values.keys[position], &out)
                out.append(1)
                ValueEncoding.encode(values.values[position], into: &out)
                ValueEncoding.appendVarint(number, &out)
            }
            return try out.withUnsafeBufferPointer(use)
        }

        /// Starts `out` with the flags, the stamp table and the attribute count.
        private mutating func writeHeader(_ tombstoneIndex: Int?, attributeCount: Int) {
            out.removeAll(keepingCapacity: true)
            if let tombstoneIndex {
                out.append(stampTable | hasTombstone)
                ValueEncoding.appendVarint(UInt64(tombstoneIndex), &out)
            } else {
                out.append(stampTable)
            }
            ValueEncoding.appendVarint(UInt64(stamps.count), &out)
            for stamp in stamps { appendStamp(stamp, &out) }
            ValueEncoding.appendVarint(UInt64(attributeCount), &out)
        }

        /// The names of the state encoded last: in UTF-8 order, and (for a small state) in its
        /// dictionary's storage order with each one's rank in UTF-8 order.
        private struct NameOrder {
            var sorted: [String] = []
            var stored: [String] = []
            var rankOfStored: [Int] = []
            /// States in a row whose storage order was not the remembered one. Dictionaries made
            /// one by one (states read back from the ledger) rarely share an order: the order is
            /// then remembered again only after 1, 2, 4, 8… such states, not after each.
            var misses = 0

            /// Whether to remember the storage order of a state that missed it.
            mutating func shouldRemember() -> Bool {
                misses += 1
                return misses & (misses - 1) == 0
            }

            mutating func remember<V>(storageOrderOf attributes: [AttributeName: V], _ slots: [Dictionary<AttributeName, V>.Index]) {
                stored.removeAll(keepingCapacity: true)
                rankOfStored.removeAll(keepingCapacity: true)
                guard attributes.count <= Encoder.smallState else { return }
                var position = attributes.startIndex
                while position != attributes.endIndex {
                    stored.append(attributes.keys[position])
                    rankOfStored.append(slots.firstIndex(of: position)!)
                    attributes.formIndex(after: &position)
                }
            }
        }

        /// Fills `slots` with the attributes' storage positions in UTF-8 name order, reusing the
        /// previous state's order when the names are the same (consecutive rows of one table
        /// usually have the same names).
        private static func order<V>(_ attributes: [AttributeName: V], _ names: inout NameOrder, into slots: inout [Dictionary<AttributeName, V>.Index]) {
            slots.removeAll(keepingCapacity: true)
            let count = attributes.count
            if count == names.sorted.count {
                if count <= Self.smallState {
                    slots.append(contentsOf: repeatElement(attributes.endIndex, count: count))
                    // Dictionaries copied from one another (the rows of one table often are) keep
                    // one storage order: each name is then where the previous state had it, which
                    // one comparison of equal strings confirms.
                    var k = 0
                    var position = attributes.startIndex
                    while position != attributes.endIndex, k < names.stored.count, attributes.keys[position] == names.stored[k] {
                        slots[names.rankOfStored[k]] = position
                        k += 1
                        attributes.formIndex(after: &position)
                    }
                    if k == count {
                        names.misses = 0
                        return
                    }
                    // Otherwise each name is found in the previous order by comparing (no
                    // hashing); the same count and every name found means the same names.
                    position = attributes.startIndex
                    var same = true
                    while position != attributes.endIndex {
                        let name = attributes.keys[position]
                        guard let rank = names.sorted.firstIndex(of: name) else {
                            same = false
                            break
                        }
                        slots[rank] = position
                        attributes.formIndex(after: &position)
                    }
                    if same {
                        if names.shouldRemember() { names.remember(storageOrderOf: attributes, slots) }
                        return
                    }
                } else {
                    // Same count and every name present: the same names, already in order.
                    var same = true
                    for name in names.sorted {
                        guard let position = attributes.index(forKey: name) else {
                            same = false
                            break
                        }
                        slots.append(position)
                    }
                    if same { return }
                }
                slots.removeAll(keepingCapacity: true)
            }
            // Positions are sorted, not (name, state) pairs: moving an index retains nothing.
            slots.append(contentsOf: attributes.indices)
            slots.sort { utf8Less(attributes.keys[$0], attributes.keys[$1]) }
            names.sorted.removeAll(keepingCapacity: true)
            for position in slots { names.sorted.append(attributes.keys[position]) }
            names.remember(storageOrderOf: attributes, slots)
        }

        /// The stamp's number in the table, adding it on first use (searching from the newest:
        /// attributes written together share the stamp added last).
        private mutating func index(of stamp: Stamp) -> Int {
            var i = stamps.count - 1
            while i >= 0, stamps[i] != stamp { i -= 1 }
            if i < 0 {
                i = stamps.count
                stamps.append(stamp)
            }
            return i
        }
    }

    public static func decode(_ bytes: [UInt8]) throws(ValueEncoding.DecodingError) -> DocumentState {
        guard let flags = bytes.first else { throw ValueEncoding.DecodingError(offset: 0, reason: "empty document state") }
        guard flags & ~(hasTombstone | stampTable) == 0 else { throw ValueEncoding.DecodingError(offset: 0, reason: "unknown flags \(flags)") }
        var i = 1
        var state = DocumentState()
        // The stamp table; nil in the first layout, where each stamp is written where it is used.
        var stamps: [Stamp]?
        func stamp(_ index: UInt64) throws(ValueEncoding.DecodingError) -> Stamp {
            guard let stamps, index < UInt64(stamps.count) else {
                throw ValueEncoding.DecodingError(offset: i, reason: "stamp number \(index) out of range")
            }
            return stamps[Int(index)]
        }
        if flags & stampTable != 0 {
            let tombstoneIndex: UInt64? = flags & hasTombstone != 0 ? try ValueEncoding.readVarint(bytes, &i) : nil
            let stampCount = try ValueEncoding.readVarint(bytes, &i)
            guard stampCount <= UInt64(bytes.count) else { throw ValueEncoding.DecodingError(offset: i, reason: "stamp count \(stampCount) too large") }
            var table = [Stamp]()
            table.reserveCapacity(Int(stampCount))
            for _ in 0..<stampCount { table.append(try readStamp(bytes, &i)) }
            stamps = table
            if let tombstoneIndex { state.tombstone = try stamp(tombstoneIndex) }
        } else if flags & hasTombstone != 0 {
            state.tombstone = try readStamp(bytes, &i)
        }
        let count = try ValueEncoding.readVarint(bytes, &i)
        guard count <= UInt64(bytes.count) else { throw ValueEncoding.DecodingError(offset: i, reason: "attribute count \(count) too large") }
        // Made at its size (reserving on the state's empty dictionary would grow it instead).
        var attributes = [AttributeName: AttributeState](minimumCapacity: Int(count))
        for _ in 0..<count {
            let name = String(decoding: try ValueEncoding.readBytes(bytes, &i), as: UTF8.self)
            guard i < bytes.count else { throw ValueEncoding.DecodingError(offset: i, reason: "truncated attribute") }
            let hasValue = bytes[i] & 1 != 0
            i += 1
            let value: Value? = hasValue ? try ValueEncoding.decodeValue(bytes, &i) : nil
            let attributeStamp = stamps == nil ? try readStamp(bytes, &i) : try stamp(try ValueEncoding.readVarint(bytes, &i))
            attributes[name] = AttributeState(value: value, stamp: attributeStamp)
        }
        state.attributes = attributes
        guard i == bytes.count else { throw ValueEncoding.DecodingError(offset: i, reason: "trailing bytes") }
        return state
    }

    static func appendStamp(_ stamp: Stamp, _ out: inout [UInt8]) {
        ValueEncoding.appendUInt64(UInt64(bitPattern: stamp.time), &out)
        ValueEncoding.appendVarint(UInt64(stamp.counter), &out)
        ValueEncoding.appendString(stamp.origin.name, &out)
    }

    static func readStamp(_ b: [UInt8], _ i: inout Int) throws(ValueEncoding.DecodingError) -> Stamp {
        let time = Int64(bitPattern: try ValueEncoding.readUInt64(b, &i))
        let counter = try ValueEncoding.readVarint(b, &i)
        guard counter <= UInt64(UInt32.max) else { throw ValueEncoding.DecodingError(offset: i, reason: "counter out of range") }
        let origin = String(decoding: try ValueEncoding.readBytes(b, &i), as: UTF8.self)
        return Stamp(time: time, counter: UInt32(counter), origin: StoreID(origin))
    }
}
