import Testing
@testable import PostgresConnector

/// Malformed input: every failure is a thrown PgOutputError with an offset inside the input, never a trap.
@Suite struct DecoderErrorTests {
    static let messages: [[UInt8]] = CapturedPgOutput.peekV1.map { bytes(hex: $0.hex) }

    @Test func everyPrefixOfEveryCapturedMessageThrowsTruncated() {
        for message in Self.messages {
            for length in 0..<message.count {
                var decoder = PgOutputDecoder()
                do {
                    let m = try decoder.decodeMessage(Array(message[..<length]))
                    Issue.record("prefix \(length)/\(message.count) of \(message.first.map { Character(Unicode.Scalar($0)) } ?? "?") decoded as \(m)")
                } catch {
                    guard case .truncated = error.reason, error.offset <= length else {
                        Issue.record("prefix \(length)/\(message.count): \(error)")
                        continue
                    }
                }
            }
        }
    }

    @Test func everyPrefixOfEveryCapturedFrameThrows() {
        for hex in CapturedPgOutput.streamFrames {
            let frame = bytes(hex: hex)
            for length in 0..<frame.count {
                let prefix = Array(frame[..<length])
                do {
                    // A truncated XLogData frame is a valid frame with a shorter payload: then the payload throws.
                    guard case let .xLogData(_, _, _, payload) = try PgOutputDecoder.decodeFrame(prefix) else {
                        Issue.record("keepalive prefix \(length) decoded")
                        continue
                    }
                    var decoder = PgOutputDecoder()
                    _ = try decoder.decodeMessage(payload)
                    Issue.record("payload of frame prefix \(length)/\(frame.count) decoded")
                } catch {
                    if case .truncated = error.reason { continue }
                    Issue.record("frame prefix \(length): \(error)")
                }
            }
        }
    }

    @Test func unknownAndMalformedInput() {
        func fails(_ bytes: [UInt8], _ reason: PgOutputError.Reason, at offset: Int, sourceLocation: SourceLocation = #_sourceLocation) {
            var decoder = PgOutputDecoder()
            #expect(throws: PgOutputError(reason, at: offset), sourceLocation: sourceLocation) { try decoder.decodeMessage(bytes) }
        }
        fails([0x5A], .unknownMessage(0x5A), at: 0)
        fails([0x53, 0, 0, 0, 1, 1], .streamingMessage(0x53), at: 0)
        fails([0x63], .streamingMessage(0x63), at: 0)
        // Relation with an unknown replica identity.
        fails([0x52, 0, 0, 0, 1, 0x70, 0, 0x74, 0, 0x78, 0, 0], .unknownReplicaIdentity(0x78), at: 9)
        // Relation whose name has no NUL (yet).
        fails([0x52, 0, 0, 0, 1, 0x70, 0, 0x74], .truncated(needed: 1), at: 8)
        // Relation with a negative column count.
        fails([0x52, 0, 0, 0, 1, 0, 0, 0x64, 0xFF, 0xFF], .negativeLength(-1), at: 8)
        // Insert with a bad tuple marker, a bad column kind, a negative length.
        fails([0x49, 0, 0, 0, 1, 0x4B, 0, 0], .unexpectedTupleMarker(0x4B), at: 5)
        fails([0x49, 0, 0, 0, 1, 0x4E, 0, 1, 0x78], .unknownColumnKind(0x78), at: 8)
        fails([0x49, 0, 0, 0, 1, 0x4E, 0, 1, 0x74, 0xFF, 0xFF, 0xFF, 0xFE], .negativeLength(-2), at: 9)
        // A length larger than the buffer is truncation, not an allocation.
        fails([0x49, 0, 0, 0, 1, 0x4E, 0, 1, 0x74, 0x7F, 0xFF, 0xFF, 0xFF], .truncated(needed: 0x7FFF_FFFF), at: 13)
        // Update: after an old tuple only N may follow; Delete needs K or O.
        fails([0x55, 0, 0, 0, 1, 0x4B, 0, 0, 0x4B, 0, 0], .unexpectedTupleMarker(0x4B), at: 8)
        fails([0x44, 0, 0, 0, 1, 0x4E, 0, 0], .unexpectedTupleMarker(0x4E), at: 5)
        // Truncate with a negative relation count; Message with a negative length.
        fails([0x54, 0xFF, 0xFF, 0xFF, 0xFF, 0], .negativeLength(-1), at: 1)
        fails([0x4D, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0x70, 0, 0x80, 0, 0, 0], .negativeLength(Int32.min), at: 12)
        // Trailing bytes after a complete message.
        fails([0x4F, 0, 0, 0, 0, 0, 0, 0, 1, 0x6F, 0, 0x21], .trailingBytes(count: 1), at: 11)
        fails([0x42, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7, 0], .trailingBytes(count: 1), at: 21)
        // A commit time that cannot be a Unix µs Int64.
        fails([0x42, 0, 0, 0, 0, 0, 0, 0, 1, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 7], .timestampOutOfRange(Int64.max), at: 9)
        #expect(throws: PgOutputError(.unknownFrame(0x64), at: 0)) { try PgOutputDecoder.decodeFrame([0x64]) }
        #expect(throws: PgOutputError(.truncated(needed: 1), at: 0)) { try PgOutputDecoder.decodeFrame([]) }
    }

    @Test func errorsLeaveTheDecoderStateUnchanged() throws {
        var decoder = PgOutputDecoder()
        for message in Self.messages.prefix(5) { _ = try decoder.decodeMessage(message) }
        let before = decoder
        #expect(before.relations.count == 1)
        #expect(before.types.count == 3)
        #expect(before.transaction != nil)
        let relation = Self.messages[4]
        #expect(throws: PgOutputError.self) { try decoder.decodeMessage(Array(relation.dropLast())) }
        #expect(throws: PgOutputError.self) { try decoder.decodeMessage([0x43]) }
        #expect(decoder.relations == before.relations)
        #expect(decoder.types == before.types)
        #expect(decoder.transaction == before.transaction)
        decoder.reset()
        #expect(decoder.relations.isEmpty && decoder.types.isEmpty && decoder.transaction == nil)
    }

    @Test func randomMutationsNeverTrap() {
        var rng = SplitMix(seed: 0x5EED)
        var decoded = 0
        for round in 0..<4000 {
            var message = Self.messages[Int(rng.next() % UInt64(Self.messages.count))]
            if message.count > 400 { message = Array(message.prefix(400)) }
            for _ in 0...(rng.next() % 4) {
                guard !message.isEmpty else { break }
                let at = Int(rng.next() % UInt64(message.count))
                switch rng.next() % 3 {
                case 0: message[at] = UInt8(truncatingIfNeeded: rng.next())
                case 1: message.remove(at: at)
                default: message.insert(UInt8(truncatingIfNeeded: rng.next()), at: at)
                }
            }
            if round % 10 == 0 { message = (0..<(rng.next() % 40)).map { _ in UInt8(truncatingIfNeeded: rng.next()) } }
            var decoder = PgOutputDecoder()
            do {
                _ = try decoder.decodeMessage(message)
                decoded += 1
            } catch {
                #expect(error.offset >= 0 && error.offset <= message.count)
            }
            _ = try? PgOutputDecoder.decodeFrame(message)
        }
        #expect(decoded > 0)
    }
}
