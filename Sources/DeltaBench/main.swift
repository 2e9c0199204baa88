// deltabridge-bench: prints throughput and memory figures against the project's targets.
// No assertion fails on a slow run; the figures are for reading and for the issue notes.
//
//   swift run -c release deltabridge-bench core [--documents N] [--merge-deltas N] [--dir PATH]
#if canImport(Glibc)
import Glibc
#endif

import DeltaPipeline

ProcessMemory.configureAllocator()

let usage = """
usage: deltabridge-bench <suite> [options]

suites:
  core    merge throughput (in memory), SQLite ledger apply throughput (on disk), peak RSS
  sqlite  SQLite→SQLite through the engine: snapshot rows/s, streamed events/s, peak RSS
  postgres PG→PG through the engine and PostgreSQL's own logical replication in the same run:
           snapshot rows/s, streamed events/s, lag p50/p99 at a steady rate, peak RSS, ratios
           (--source-url/--target-url, default DELTABRIDGE_PG_URL; scripts/bench-postgres.sh
           starts two private clusters; --rows --updates --inserts --deletes --rate --lag-seconds
           --snapshot-batch-size, default 8000)
  mariadb  MariaDB→PostgreSQL (needs DELTABRIDGE_MARIADB_URL, DELTABRIDGE_PG_URL)
  mongodb  PG→Mongo and Mongo→PG, with the server-alone rate (needs DELTABRIDGE_MONGO_URL, DELTABRIDGE_PG_URL)
  couchdb  CouchDB→SQLite, with the server's raw _bulk_docs rate (needs DELTABRIDGE_COUCHDB_URL)

options:
  --documents N      documents for the ledger run (default 1000000, × 8 attributes)
  --merge-deltas N   deltas for the merge run (default 8000000)
  --rows N           sqlite: rows in the snapshot (default 1000000)
  --changes N        sqlite: mixed changes streamed (default 300000)
  --dir PATH         folder for temporary files (default /tmp)

example:
  swift run -c release deltabridge-bench core
"""

var args = Array(CommandLine.arguments.dropFirst())
guard let suite = args.first, !suite.hasPrefix("-") else {
    print(usage)
    exit(args.contains("--help") || args.contains("-h") ? 0 : 2)
}
args.removeFirst()
var options = [String: String]()
while let flag = args.first {
    args.removeFirst()
    guard flag.hasPrefix("--"), let value = args.first else {
        print("deltabridge-bench: unexpected argument \(flag)\n\n\(usage)")
        exit(2)
    }
    args.removeFirst()
    options[String(flag.dropFirst(2))] = value
}

@MainActor
func intOption(_ name: String, _ fallback: Int) -> Int {
    guard let text = options[name] else { return fallback }
    guard let n = Int(String(text.filter { $0 != "_" })), n > 0 else {
        print("deltabridge-bench: --\(name) needs a positive whole number, got \(text)")
        exit(2)
    }
    return n
}

print("allocator: \(ProcessMemory.allocator)")
do {
    switch suite {
    case "core":
        var bench = CoreBenchmark()
        bench.documents = intOption("documents", bench.documents)
        bench.mergeDeltas = intOption("merge-deltas", bench.mergeDeltas)
        bench.directory = options["dir"] ?? bench.directory
        let figures = try bench.run()
        print("\nresults (core):")
        figures.forEach { $0.print() }
    case "sqlite":
        var bench = SQLiteBenchmark()
        bench.rows = intOption("rows", bench.rows)
        bench.changes = intOption("changes", bench.changes)
        bench.directory = options["dir"] ?? bench.directory
        let figures = try await bench.run()
        print("\nresults (sqlite):")
        figures.forEach { $0.print() }
    case "postgres":
        let figures = try await PostgresBenchmark(options: options).run()
        print("\nresults (postgres):")
        figures.forEach { $0.print() }
    case "mariadb":
        let figures = try await MariaDBBenchmark(options: options).run()
        print("\nresults (mariadb):")
        figures.forEach { $0.print() }
    case "mongodb":
        let figures = try await MongoDBBenchmark(options: options).run()
        print("\nresults (mongodb):")
        figures.forEach { $0.print() }
    case "couchdb":
        let figures = try await CouchDBBenchmark(options: options).run()
        print("\nresults (couchdb):")
        figures.forEach { $0.print() }
    default:
        print("deltabridge-bench: unknown suite \(suite)\n\n\(usage)")
        exit(2)
    }
} catch {
    print("deltabridge-bench: \(error)")
    exit(1)
}
