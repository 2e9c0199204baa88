// Child process for DeltaLedgerTests' crash-atomicity test.
//
// Usage: LedgerCrashChild <ledger-path> <documents-per-batch> <batches>
// Commits `batches` batches; batch b sets attribute "v" of every document to b and moves the
// checkpoint to "b". Prints "committed b" after each commit and "writing b" before each,
// then waits on stdin (the parent kills it with SIGKILL at a moment of its choosing).
import DeltaCore
import DeltaLedger

#if canImport(Glibc)
import Glibc
#endif

let args = CommandLine.arguments
guard args.count == 4, let perBatch = Int(args[2]), let batches = Int(args[3]) else {
    print("usage: LedgerCrashChild <ledger-path> <documents-per-batch> <batches>")
    exit(2)
}
func say(_ line: String) {
    print(line)
    fflush(nil)
}
let ledger = try SQLiteLedger(path: args[1], options: .init(cacheMegabytes: 2))
let origin = StoreID("crash")
for b in 1...batches {
    var batch = LedgerBatch()
    batch.deltas.reserveCapacity(perBatch * 4)
    for d in 0..<perBatch {
        let key = DocumentKey(.int(Int64(d)))
        let stamp = Stamp(time: Int64(b) * 1_000_000, counter: UInt32(d), origin: origin)
        batch.deltas.append(Delta(namespace: "crash", key: key, change: .set("v", .int(Int64(b))), stamp: stamp))
        for extra in 0..<3 {
            batch.deltas.append(Delta(namespace: "crash", key: key, change: .set("pad\(extra)", .string(String(repeating: "x", count: 64))), stamp: stamp))
        }
    }
    batch.checkpoints = [Checkpoint(pipeline: "crash", scope: "source", position: "\(b)", updatedAt: Int64(b))]
    say("writing \(b)")
    try ledger.commit(batch)
    say("committed \(b)")
}
say("done")
_ = readLine()
