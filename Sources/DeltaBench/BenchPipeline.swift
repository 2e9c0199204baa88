import DeltaConnector
import DeltaPipeline
import Foundation
import Logging
import MariaDBConnector
import PostgresConnector
import SQLiteConnector

/// The one-way pipeline every store benchmark runs: `source` → `target` (their store YAML, e.g.
/// `{ type: sqlite, path: a.db }`), one collection keyed by `id`, written to `directory` and
/// loaded with every connector this build has. Batches of 4,000 changes: streamed batches of
/// 5,000 PostgreSQL changes peaked at 145–148 MiB, too close to the 150 MiB target. Snapshot
/// chunks are batches too, unless `snapshotBatchSize` sets their own size.
struct BenchPipeline {
    let config: PipelineConfig
    let registry: ConnectorRegistry
    let logger: Logger

    init(directory: String, source: String, target: String, sourceTable: String = "items", targetTable: String = "items",
         key: String = "id", batchSize: Int = 4000, snapshotBatchSize: Int? = nil, verbose: Bool = false) throws {
        let snapshotOption = snapshotBatchSize.map { ", snapshot_batch_size: \($0)" } ?? ""
        let yaml = """
        pipeline: bench
        options: { batch_size: \(batchSize)\(snapshotOption) }
        stores:
          source: \(source)
          target: \(target)
        flows:
          - name: items
            from: source
            to: target
            collections:
              - namespace: items
                stores:
                  source: { table: \(sourceTable), key: \(key) }
                  target: { table: \(targetTable), key: \(key) }
        """
        try yaml.write(toFile: "\(directory)/bench.yaml", atomically: true, encoding: .utf8)
        registry = ConnectorRegistry([SQLiteConnectorFactory(), PostgresConnectorFactory(warn: { print("  warning: \($0)") }),
                                      MariaDBConnectorFactory()])
        config = try PipelineLoader.load(file: "\(directory)/bench.yaml", environment: [:], storeTypes: registry.storeTypes)
        var logger = Logger(label: "bench")
        logger.logLevel = verbose ? .info : .warning
        self.logger = logger
    }

    /// A fresh engine (each phase starts one, as a restarted daemon would).
    func engine() throws -> PipelineEngine {
        try PipelineEngine(config: config, registry: registry, logger: logger)
    }
}
