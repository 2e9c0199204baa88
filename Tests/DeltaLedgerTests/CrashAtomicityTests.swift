import DeltaCore
import DeltaLedger
import Foundation
import SQLiteSupport
import Testing

/// Kills a child process with SIGKILL while it commits a batch, then checks that the ledger holds
/// exactly the state before the batch or after it — never a part of it.
@Suite("SQLite ledger crash atomicity")
struct CrashAtomicityTests {
    final class Child {
        let process = Process()
        let output = Pipe()
        private var buffer = Data()

        init(ledger: String, perBatch: Int, batches: Int) throws {
            process.executableURL = URL(fileURLWithPath: builtProduct("LedgerCrashChild"))
            process.arguments = [ledger, String(perBatch), String(batches)]
            process.standardOutput = output
            process.standardInput = Pipe()
            try process.run()
        }

        /// Reads the child's output until a line equal to `line` arrives.
        func waitFor(_ line: String) throws {
            while true {
                if let range = buffer.range(of: Data("\n".utf8)) {
                    let got = String(decoding: buffer[..<range.lowerBound], as: UTF8.self)
                    buffer.removeSubrange(..<range.upperBound)
                    if got == line { return }
                    continue
                }
                let chunk = output.fileHandleForReading.availableData
                if chunk.isEmpty { throw LedgerError("child ended before printing \(line)") }
                buffer.append(chunk)
            }
        }

        func kill() {
            Foundation.kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }

    func values(in ledger: SQLiteLedger, documents: Int) throws -> Set<Value?> {
        let keys = (0..<documents).map { DocumentKey(.int(Int64($0))) }
        let states = try ledger.states("crash", keys)
        return Set(keys.map { states[$0]?.attributes["v"]?.value })
    }

    @Test("SIGKILL in the middle of a batch leaves the state before it")
    func killMidBatch() throws {
        let dir = try TemporaryDirectory()
        let path = dir.file("ledger.sqlite")
        let perBatch = 60_000
        let child = try Child(ledger: path, perBatch: perBatch, batches: 2)
        try child.waitFor("committed 1")
        try child.waitFor("writing 2")
        // Wait until the child holds the write lock of batch 2's transaction: a probe connection
        // cannot begin a write transaction then. Killing now interrupts the batch in the middle.
        let probe = try SQLiteDatabase(path: path, busyTimeoutMilliseconds: 0)
        while true {
            do {
                try probe.execute("BEGIN IMMEDIATE")
                try probe.execute("ROLLBACK")
            } catch let error as SQLiteError where error.isTransient {
                break
            }
            #expect(child.process.isRunning)
            if !child.process.isRunning { return }
            usleep(500)
        }
        child.kill()

        let ledger = try SQLiteLedger(path: path)
        #expect(try values(in: ledger, documents: perBatch) == [.int(1)])
        #expect(try ledger.checkpoint(pipeline: "crash", scope: "source")?.position == "1")
    }

    @Test("SIGKILL right after a commit keeps the whole batch")
    func killAfterCommit() throws {
        let dir = try TemporaryDirectory()
        let path = dir.file("ledger.sqlite")
        let perBatch = 20_000
        let child = try Child(ledger: path, perBatch: perBatch, batches: 2)
        try child.waitFor("committed 2")
        child.kill()

        let ledger = try SQLiteLedger(path: path)
        #expect(try values(in: ledger, documents: perBatch) == [.int(2)])
        #expect(try ledger.checkpoint(pipeline: "crash", scope: "source")?.position == "2")
        #expect(try ledger.statistics().attributes == perBatch * 4)
    }
}
