import DeltaConnector
import DeltaCore
import DeltaLedger
import Foundation

/// One row of `deltabridge lag`: how far one source of a flow is behind.
public struct LagRow: Sendable, Equatable {
    public var pipeline: String
    public var flow: String
    public var source: String
    public var state: String
    public var headPosition: String?
    public var appliedPosition: String?
    public var eventsBehind: Int64?
    public var bytesBehind: Int64?
    public var secondsBehind: Double?
    public var eventsPerSecond: Double
    public var appliedEvents: Int64
}

/// Computes lag from the ledger's checkpoints and the sources' heads; works whether or not the
/// daemon is running, and reports an unreachable source in its row instead of failing.
public enum LagInspector {
    public static func rows(config: PipelineConfig, registry: ConnectorRegistry, now: Int64) async throws -> [LagRow] {
        var rows = [LagRow]()
        guard FileManager.default.fileExists(atPath: config.ledgerPath) else {
            for flow in config.flows {
                for store in flow.direction.sources {
                    rows.append(LagRow(pipeline: config.name, flow: flow.name, source: store.name, state: "not started", headPosition: nil,
                                       appliedPosition: nil, eventsBehind: nil, bytesBehind: nil, secondsBehind: nil, eventsPerSecond: 0, appliedEvents: 0))
                }
            }
            return rows
        }
        // Looked at, never upgraded: the daemon on it may be an older build.
        let ledger = try SQLiteLedger(path: config.ledgerPath, options: .init(keepHistory: config.options.history, upgradesSchema: false))
        for flow in config.flows {
            for store in flow.direction.sources {
                let scope = "\(flow.name)/\(store.name)"
                let checkpoint = try ledger.checkpoint(pipeline: config.name, scope: scope)
                let status = FlowStatus(json: checkpoint?.extra)
                var row = LagRow(pipeline: config.name, flow: flow.name, source: store.name,
                                 state: checkpoint == nil ? "not started" : status.summary,
                                 headPosition: nil, appliedPosition: checkpoint.flatMap { $0.position.isEmpty ? nil : $0.position },
                                 eventsBehind: nil, bytesBehind: nil, secondsBehind: nil,
                                 eventsPerSecond: status.eventsPerSecond, appliedEvents: checkpoint?.appliedEvents ?? 0)
                if let settings = config.store(store) {
                    do {
                        let source = try registry.factory(for: settings).makeSource(settings)
                        if let reporting = source as? any LagReporting {
                            let specs = flow.collections.compactMap { $0.mapping(for: store)?.spec }
                            let lag = try await reporting.lag(of: specs, after: row.appliedPosition)
                            row.headPosition = lag.head
                            row.eventsBehind = lag.eventsBehind
                            row.bytesBehind = lag.bytesBehind
                        }
                    } catch {
                        row.state += " (head unknown: \(error))"
                    }
                }
                if let behind = row.eventsBehind, behind == 0 {
                    row.secondsBehind = 0
                } else if let t = checkpoint?.appliedCommitTime {
                    row.secondsBehind = max(0, Double(now - t) / 1e6)
                }
                rows.append(row)
            }
        }
        return rows
    }
}
