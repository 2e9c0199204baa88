import Testing
import DeltaCore
@testable import PostgresConnector

/// The walsender's CopyData frames captured from a real START_REPLICATION stream, and the status update.
@Suite struct ReplicationFramingTests {
    let frames: [PgReplicationMessage]

    init() throws {
        frames = try CapturedPgOutput.streamFrames.map { try PgOutputDecoder.decodeFrame(bytes(hex: $0)) }
    }

    @Test func xLogDataPayloadsAreExactlyThePeekedMessages() throws {
        let payloads: [[UInt8]] = frames.compactMap {
            if case let .xLogData(_, _, _, payload) = $0 { return payload }
            return nil
        }
        #expect(payloads == CapturedPgOutput.peekV1.map { bytes(hex: $0.hex) })
    }

    @Test func xLogDataPositions() throws {
        var decoder = PgOutputDecoder()
        var peekRows = CapturedPgOutput.peekV1.makeIterator()
        var zeroKinds: [String] = []
        for frame in frames {
            guard case let .xLogData(walStart, walEnd, sendTime, payload) = frame else { continue }
            guard let row = peekRows.next() else {
                Issue.record("more XLogData frames than peeked messages")
                return
            }
            let message = try decoder.decodeMessage(payload)
            #expect(walStart == walEnd)
            #expect(sendTime >= CapturedPgOutput.captureEndMicros)
            if walStart == .invalid {
                // Not the last write of its change: Relation and Type messages, and a Begin followed by Origin.
                switch message {
                case .relation: zeroKinds.append("R")
                case .type: zeroKinds.append("Y")
                case .begin: zeroKinds.append("B")
                default: Issue.record("unexpected 0/0 position on \(message)")
                }
            } else {
                #expect(walStart == LSN(row.lsn), "\(message)")
            }
        }
        #expect(zeroKinds.filter { $0 == "B" }.count == 3)
        #expect(zeroKinds.filter { $0 == "R" }.count == 10)
        #expect(zeroKinds.filter { $0 == "Y" }.count == 6)
    }

    @Test func keepalives() throws {
        let keepalives: [(LSN, Int64, Bool)] = frames.compactMap {
            if case let .keepalive(walEnd, sendTime, reply) = $0 { return (walEnd, sendTime, reply) }
            return nil
        }
        #expect(keepalives.count >= 2)
        // The stream opens with a keepalive at the slot's start, and the capture ended at the first one that
        // asked for a reply (after half of wal_sender_timeout = 2 s without feedback).
        guard case .keepalive(_, _, false) = frames.first, case let .keepalive(end, _, true) = frames.last else {
            Issue.record("stream should start and end with a keepalive")
            return
        }
        #expect(keepalives.dropLast().allSatisfy { !$0.2 })
        #expect(end == LSN(CapturedPgOutput.statusUpdateFlushed))
        #expect(keepalives.map(\.1) == keepalives.map(\.1).sorted())
    }

    @Test func standbyStatusUpdateMatchesWhatTheServerAccepted() throws {
        let flushed = LSN(CapturedPgOutput.statusUpdateFlushed)
        let update = PgStandbyStatusUpdate(written: flushed, flushed: flushed, applied: flushed,
                                           clock: 1_000_000_000_000_000, replyRequested: false)
        let encoded = update.encoded()
        #expect(encoded.count == 34)
        #expect(encoded == bytes(hex: CapturedPgOutput.statusUpdateHex))
        #expect(try PgStandbyStatusUpdate(decoding: encoded) == update)
        // The server moved the slot's confirmed_flush_lsn to the flushed position we sent.
        #expect(LSN(CapturedPgOutput.confirmedFlushAfterStatus) == flushed)
    }

    @Test func standbyStatusUpdateLayout() throws {
        let update = PgStandbyStatusUpdate(written: LSN(0x0102030405060708), flushed: LSN(0x1112131415161718),
                                           applied: LSN(0x2122232425262728),
                                           clock: PostgresTimestamp.postgresEpochOffsetMicros + 0x3132333435363738,
                                           replyRequested: true)
        #expect(update.encoded() == [0x72, 1, 2, 3, 4, 5, 6, 7, 8, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18,
                                     0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x27, 0x28, 0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37, 0x38, 1])
        #expect(try PgStandbyStatusUpdate(decoding: update.encoded()) == update)
        #expect(throws: PgOutputError.self) { try PgStandbyStatusUpdate(decoding: Array(update.encoded().dropLast())) }
        #expect(throws: PgOutputError.self) { try PgStandbyStatusUpdate(decoding: update.encoded() + [0]) }
    }

    @Test func keepaliveReplyFlagAndLayout() throws {
        var k: [UInt8] = [0x6B, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 1]
        #expect(try PgOutputDecoder.decodeFrame(k) == .keepalive(walEnd: LSN(0x1_0000_0002), sendTime: PostgresTimestamp.postgresEpochOffsetMicros, replyRequested: true))
        k[17] = 0
        #expect(try PgOutputDecoder.decodeFrame(k) == .keepalive(walEnd: LSN(0x1_0000_0002), sendTime: PostgresTimestamp.postgresEpochOffsetMicros, replyRequested: false))
        #expect(throws: PgOutputError(.trailingBytes(count: 1), at: 18)) { try PgOutputDecoder.decodeFrame(k + [0]) }
    }

    @Test func xLogDataLayout() throws {
        let w: [UInt8] = [0x77, 0, 0, 0, 0, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0, 10, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x42]
        #expect(try PgOutputDecoder.decodeFrame(w) == .xLogData(walStart: LSN(9), walEnd: LSN(10), sendTime: PostgresTimestamp.postgresEpochOffsetMicros - 1, payload: [0x42]))
        #expect(try PgOutputDecoder.decodeFrame(Array(w.prefix(25))) == .xLogData(walStart: LSN(9), walEnd: LSN(10), sendTime: PostgresTimestamp.postgresEpochOffsetMicros - 1, payload: []))
        #expect(throws: PgOutputError(.unknownFrame(0x72), at: 0)) { try PgOutputDecoder.decodeFrame([0x72] + w.dropFirst()) }
    }
}
