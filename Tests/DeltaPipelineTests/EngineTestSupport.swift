import DeltaConnector
import DeltaLedger
@testable import DeltaPipeline
import Foundation

/// A folder of its own for one engine test, removed by ``remove()``.
struct EngineTestFolder {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("engine-\(UUID().uuidString)").path

    init() throws { try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true) }

    func remove() { try? FileManager.default.removeItem(atPath: path) }

    /// Loads a pipeline of two stores `src` and `dst` of `storeType` with one flow `f` (`flow`:
    /// its direction, e.g. `from: src\n    to: dst`) of the collection `items` keyed by `id`.
    func pipeline(_ name: String, storeType: String, flow: String, options: String? = nil,
                  registry: ConnectorRegistry) throws -> PipelineConfig {
        let yaml = """
        pipeline: \(name)
        \(options.map { "options: \($0)" } ?? "")
        stores:
          src: { type: \(storeType) }
          dst: { type: \(storeType) }
        flows:
          - name: f
            \(flow)
            collections:
              - namespace: items
                stores:
                  src: { table: items, key: id }
                  dst: { table: items, key: id }
        """
        let file = path + "/p.yaml"
        try yaml.write(toFile: file, atomically: true, encoding: .utf8)
        return try PipelineLoader.load(file: file, environment: [:], storeTypes: registry.storeTypes)
    }
}
