import DeltaCore
import DeltaLedger
#if canImport(Glibc)
import Glibc
#endif

/// `deltabridge-bench core`: in-memory merge throughput, SQLite ledger apply throughput on disk,
/// and peak RSS of the ledger run (issue 2's targets).
struct CoreBenchmark {
    var documents = 1_000_000
    var attributesPerDocument = 8
    var mergeDeltas = 8_000_000
    var directory = "/tmp"

    func run() throws -> [Figure] {
        print("core benchmark: ledger \(format(Double(documents))) documents × \(attributesPerDocument) attributes, merge \(format(Double(mergeDeltas))) deltas")
        let (ledgerRate, ledgerRSS) = try ledgerApply()
        let mergeRate = merge()
        return [
            Figure(name: "merge (in memory)", value: mergeRate, unit: "deltas/s", target: "≥ 1,000,000", met: mergeRate >= 1_000_000),
            Figure(name: "ledger apply (SQLite on disk)", value: ledgerRate, unit: "deltas/s", target: "≥ 200,000", met: ledgerRate >= 200_000),
            Figure(name: "peak RSS, ledger run", value: ledgerRSS, unit: "MiB", target: "≤ 100", met: ledgerRSS <= 100),
        ]
    }

    /// Merges random deltas from three origins into the in-memory states of 10,000 documents (the
    /// working set of a busy engine); every attribute is written many times, so both winning and
    /// losing comparisons are measured.
    func merge() -> Double {
        let docs = 10_000
        let names = (0..<attributesPerDocument).map { "attr\($0)" }
        let keys = (0..<docs).map { DocumentKey(.int(Int64($0))) }
        let origins: [StoreID] = ["pg", "mongo", "couch"]
        var states = [DocumentState](repeating: DocumentState(), count: docs)
        var rng = SplitMix64(state: 42)
        let chunk = 200_000
        var done = 0
        var elapsed = 0.0
        var changes = [(Int, Delta.Change, Stamp)]()
        changes.reserveCapacity(chunk)
        while done < mergeDeltas {
            changes.removeAll(keepingCapacity: true)
            for _ in 0..<min(chunk, mergeDeltas - done) {
                let doc = Int(rng.next() % UInt64(docs))
                let stamp = Stamp(time: Int64(rng.next() % 1_000_000), counter: 0, origin: origins[Int(rng.next() % 3)])
                let change: Delta.Change = rng.next() % 64 == 0 ? .tombstone : .set(names[Int(rng.next() % UInt64(names.count))], .int(Int64(rng.next() % 1000)))
                changes.append((doc, change, stamp))
            }
            let start = now()
            for (doc, change, stamp) in changes {
                Merge.apply(change, stamp: stamp, to: &states[doc])
            }
            elapsed += now() - start
            done += changes.count
        }
        precondition(states.contains { $0.isAlive } && keys.count == docs)
        let rate = Double(done) / elapsed
        print("  merged \(format(Double(done))) deltas into \(format(Double(docs))) documents in \(format3(elapsed)) s")
        return rate
    }

    /// Commits `documents` × `attributesPerDocument` deltas to a fresh ledger file in batches of 2,000 documents.
    func ledgerApply() throws -> (Double, Double) {
        let path = "\(directory)/deltabridge-bench-ledger-\(getpid()).sqlite"
        defer { for suffix in ["", "-wal", "-shm"] { unlink(path + suffix) } }
        resetPeakRSS()
        let ledger = try SQLiteLedger(path: path)
        let names = (0..<attributesPerDocument).map { "attr\($0)" }
        let perBatch = 2_000
        let origin = StoreID("pg")
        var elapsed = 0.0
        var batch = LedgerBatch()
        batch.deltas.reserveCapacity(perBatch * attributesPerDocument)
        var doc = 0
        var lastReport = now()
        while doc < documents {
            batch.deltas.removeAll(keepingCapacity: true)
            let end = min(doc + perBatch, documents)
            for d in doc..<end {
                let key = DocumentKey(.int(Int64(d)))
                let stamp = Stamp(time: 1_700_000_000_000_000 + Int64(d), origin: origin)
                for (i, name) in names.enumerated() {
                    let value: Value = i % 2 == 0 ? .int(Int64(d &* 31 &+ i)) : .string("value-\(d)-\(i)")
                    batch.deltas.append(Delta(namespace: "bench", key: key, change: .set(name, value), stamp: stamp))
                }
            }
            batch.checkpoints = [Checkpoint(pipeline: "bench", scope: "source", position: String(end), updatedAt: Int64(end))]
            let start = now()
            try ledger.commit(batch)
            elapsed += now() - start
            doc = end
            if now() - lastReport > 5 {
                lastReport = now()
                print("  ledger: \(format(Double(doc))) / \(format(Double(documents))) documents")
            }
        }
        let deltas = Double(documents * attributesPerDocument)
        print("  committed \(format(deltas)) deltas in \(format3(elapsed)) s")
        return (deltas / elapsed, peakRSSMiB())
    }
}

func format3(_ x: Double) -> String {
    let scaled = Int((x * 1000).rounded())
    let frac = String(scaled % 1000)
    return "\(scaled / 1000).\(String(repeating: "0", count: 3 - frac.count))\(frac)"
}
