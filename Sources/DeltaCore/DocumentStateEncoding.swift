/// The canonical binary encoding of a ``DocumentState``: how the ledger stores one document in one row.
///
/// Layout: flags byte (bit 0: has tombstone), the tombstone stamp if present, a varint attribute
/// count, then per attribute in UTF-8 name order: name, flags (bit 0: has value), value
/// (``ValueEncoding``) if present, stamp. A stamp is time (8 bytes big-endian), counter (varint),
/// origin (length-prefixed UTF-8). Equal states encode to equal bytes.
public enum DocumentStateEncoding {
    public static func encode(_ state: DocumentState) -> [UInt8] {
        var encoder = Encoder()
        return encoder.encode(state)
    }

    /// Encodes many states, reusing the sorted names of the previous one when a state has the
    /// same names (consecutive rows of one table usually do): looking each name up costs less
    /// than sorting them again. Output is byte-identical to ``encode(_:)``.
    public struct Encoder: Sendable {
        /// The attribute names of the last state encoded, in UTF-8 order.
        private var sortedNames: [String] = []

        public init() {}

        public mutating func encode(_ state: DocumentState) -> [UInt8] {
            var out = [UInt8]()
            out.reserveCapacity(32 + state.attributes.count * 32)
            if let tomb = state.tombstone {
                out.append(1)
                appendStamp(tomb, &out)
            } else {
                out.append(0)
            }
            let attributes = state.attributes
            ValueEncoding.appendVarint(UInt64(attributes.count), &out)
            let header = out.count
            if attributes.count == sortedNames.count {
                // Same count and every name present: the same names, already in order.
                var same = true
                for name in sortedNames {
                    guard let attribute = attributes[name] else {
                        same = false
                        break
                    }
                    Self.append(name, attribute, &out)
                }
                if same { return out }
                out.removeSubrange(header...)
            }
            // Positions are sorted, not (name, state) pairs: moving an index retains nothing.
            var order = Array(attributes.indices)
            order.sort { utf8Less(attributes[$0].key, attributes[$1].key) }
            sortedNames.removeAll(keepingCapacity: true)
            for position in order {
                let (name, attribute) = attributes[position]
                sortedNames.append(name)
                Self.append(name, attribute, &out)
            }
            return out
        }

        private static func append(_ name: String, _ attribute: AttributeState, _ out: inout [UInt8]) {
            ValueEncoding.appendString(name, &out)
            if let value = attribute.value {
                out.append(1)
                ValueEncoding.encode(value, into: &out)
            } else {
                out.append(0)
            }
            appendStamp(attribute.stamp, &out)
        }
    }

    public static func decode(_ bytes: [UInt8]) throws(ValueEncoding.DecodingError) -> DocumentState {
        var i = 0
        guard !bytes.isEmpty else { throw ValueEncoding.DecodingError(offset: 0, reason: "empty document state") }
        var state = DocumentState()
        let flags = bytes[i]
        i += 1
        if flags & 1 != 0 { state.tombstone = try readStamp(bytes, &i) }
        let count = try ValueEncoding.readVarint(bytes, &i)
        guard count <= UInt64(bytes.count) else { throw ValueEncoding.DecodingError(offset: i, reason: "attribute count \(count) too large") }
        state.attributes.reserveCapacity(Int(count))
        for _ in 0..<count {
            let name = String(decoding: try ValueEncoding.readBytes(bytes, &i), as: UTF8.self)
            guard i < bytes.count else { throw ValueEncoding.DecodingError(offset: i, reason: "truncated attribute") }
            let hasValue = bytes[i] & 1 != 0
            i += 1
            let value: Value? = hasValue ? try ValueEncoding.decodeValue(bytes, &i) : nil
            state.attributes[name] = AttributeState(value: value, stamp: try readStamp(bytes, &i))
        }
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
