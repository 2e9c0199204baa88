import ArgumentParser
import DeltaConnector
import DeltaCore
import DeltaLedger
import DeltaPipeline
import Foundation

struct Validate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check a pipeline file and the stores it names; exit 0, or 2 with a one-line error.",
        discussion: """
          deltabridge validate pipelines/quickstart.yaml
        """
    )

    @Argument(help: "A pipeline file, or a folder of them.")
    var path: String

    func run() async throws {
        for config in loadPipelines(path) {
            if let problem = await firstProblem(config, unreachableIsProblem: true) { fail(problem) }
            print("ok: pipeline \(config.name) — \(config.stores.count) stores, \(config.flows.count) flows (\(config.filePath))")
        }
    }
}

/// Checks every store of a pipeline with its connector's prerequisite validation; returns the
/// first problem as one line (`file:line: store ... : problem — fix`), or nil. An unreachable
/// store is a problem only when `unreachableIsProblem` (the daemon retries it instead).
func firstProblem(_ config: PipelineConfig, unreachableIsProblem: Bool) async -> String? {
    let registry = makeRegistry()
    for flow in config.flows {
        for store in flow.direction.stores {
            guard let settings = config.store(store), let factory = registry.factories[settings.type] else { continue }
            let specs = flow.collections.compactMap { $0.mapping(for: store)?.spec }
            let isSource = flow.direction.sources.contains(store)
            let isSink = flow.direction.isTwoWay || !isSource
            do {
                let connector: AnyObject = isSource ? try factory.makeSource(settings) : try factory.makeSink(settings)
                if let validating = connector as? any PrerequisiteValidating {
                    let problems = try await validating.validate(collections: specs, asSource: isSource, asSink: isSink)
                    if let first = problems.first {
                        return "\(settings.location): store '\(store)' in flow '\(flow.name)': \(first)"
                    }
                }
            } catch let error as ConnectorError {
                if error.kind == .transient && !unreachableIsProblem { continue }
                return error.message
            } catch {
                return "\(settings.location): store '\(store)': \(error)"
            }
        }
    }
    return nil
}

struct Lag: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show how far each flow is behind its sources.",
        discussion: """
        Reads the ledger and asks each source for its head, so it works whether or not the daemon
        runs. Seconds behind is now minus the commit time of the last applied change (0 when
        caught up).

          deltabridge lag pipelines/quickstart.yaml
          deltabridge lag pipelines/ --json
          deltabridge lag pipelines/quickstart.yaml --watch
        """
    )

    @Argument(help: "A pipeline file, or a folder of them.")
    var path: String

    @Flag(help: "Print JSON instead of a table.")
    var json = false

    @Flag(help: "Refresh every two seconds until interrupted.")
    var watch = false

    func run() async throws {
        let configs = loadPipelines(path)
        repeat {
            var rows = [LagRow]()
            for config in configs {
                do {
                    rows += try await LagInspector.rows(config: config, registry: makeRegistry(), now: nowMicros())
                } catch {
                    fail("\(config.name): \(error)")
                }
            }
            if json {
                print(LagFormatting.json(rows))
            } else {
                if watch { print("\u{1B}[2J\u{1B}[H", terminator: "") }
                print(LagFormatting.table(rows))
            }
            if watch { try await Task.sleep(nanoseconds: 2_000_000_000) }
        } while watch
    }
}

/// Renders lag rows for people (a table) and programs (JSON).
enum LagFormatting {
    static func table(_ rows: [LagRow]) -> String {
        let header = ["PIPELINE", "FLOW", "SOURCE", "STATE", "HEAD", "APPLIED", "BEHIND", "SECONDS", "EVENTS/S"]
        let body = rows.map { r in
            [r.pipeline, r.flow, r.source, r.state, r.headPosition ?? "-", r.appliedPosition ?? "-",
             r.eventsBehind.map(String.init) ?? "-", r.secondsBehind.map { String(format: "%.1f", $0) } ?? "-",
             String(format: "%.1f", r.eventsPerSecond)]
        }
        let widths = header.indices.map { i in ([header[i]] + body.map { $0[i] }).map(\.count).max()! }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { $1.padding(toLength: widths[$0], withPad: " ", startingAt: 0) }.joined(separator: "  ")
        }
        return ([line(header)] + body.map(line)).joined(separator: "\n")
    }

    static func json(_ rows: [LagRow]) -> String {
        let objects: [[String: Any]] = rows.map { r in
            var o: [String: Any] = ["pipeline": r.pipeline, "flow": r.flow, "source": r.source, "state": r.state,
                                    "events_per_second": r.eventsPerSecond, "applied_events": r.appliedEvents]
            o["head"] = r.headPosition ?? NSNull()
            o["applied"] = r.appliedPosition ?? NSNull()
            o["events_behind"] = r.eventsBehind ?? NSNull()
            o["bytes_behind"] = r.bytesBehind ?? NSNull()
            o["seconds_behind"] = r.secondsBehind ?? NSNull()
            return o
        }
        let data = (try? JSONSerialization.data(withJSONObject: objects, options: [.prettyPrinted, .sortedKeys])) ?? Data()
        return String(decoding: data, as: UTF8.self)
    }
}

struct History: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show a document's attribute history and its state at a time (needs `history: true`).",
        discussion: """
          deltabridge history pipelines/quickstart.yaml people 1
          deltabridge history pipelines/quickstart.yaml people 1 --at 2026-11-25T12:00:00Z
        Composite keys are written with | between the parts: eu|42.
        """
    )

    @Argument(help: "The pipeline file.")
    var path: String
    @Argument(help: "The namespace (the collection's logical name in the pipeline).")
    var namespace: String
    @Argument(help: "The document key.")
    var key: String
    @Option(help: "Show the document as it was at this ISO-8601 time.")
    var at: String?

    func run() async throws {
        guard let config = loadPipelines(path).first else { fail("\(path): no pipeline found") }
        if !config.options.history {
            fail("\(config.filePath): pipeline \(config.name) keeps no history — set `options: { history: true }` and run it again")
        }
        var cutoff: Int64?
        if let at {
            guard let t = Timestamps.parseISO8601(at) else { fail("--at \(at) is not an ISO-8601 time — write e.g. 2026-11-25T12:00:00Z") }
            cutoff = t
        }
        let ledger: SQLiteLedger
        do {
            // Looked at, never upgraded: the daemon on it may be an older build.
            ledger = try SQLiteLedger(path: config.ledgerPath, options: .init(keepHistory: true, upgradesSchema: false))
        } catch {
            fail("\(error)")
        }
        let deltas = try ledger.history(Namespace(namespace), DocumentKey(canonical: key))
        if deltas.isEmpty { fail("no history for \(namespace)/\(key) in \(config.ledgerPath)", code: 1) }
        var state = DocumentState()
        for d in deltas {
            let mark = cutoff.map { d.stamp.time <= $0 } ?? true
            if mark { Merge.apply(d.change, stamp: d.stamp, to: &state) }
            let what: String
            switch d.change {
            case let .set(a, v): what = "set \(a) = \(v)"
            case let .unset(a): what = "unset \(a)"
            case .tombstone: what = "delete"
            }
            print("\(Timestamps.iso8601(micros: d.stamp.time))  \(d.stamp.origin.name.padding(toLength: 12, withPad: " ", startingAt: 0))  \(what)")
        }
        let label = at.map { "state at \($0)" } ?? "current state"
        if state.isAlive {
            let fields = state.liveValues.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: ", ")
            print("\(label): {\(fields)}")
        } else {
            print("\(label): deleted")
        }
    }
}

struct Resync: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Forget a flow's stream positions so that its next run takes a fresh snapshot.",
        discussion: """
        Use it when a source lost the saved position (slot dropped, binlog purged, oplog rolled
        over). The ledger keeps its state, so the snapshot only writes what differs.

          deltabridge resync pipelines/quickstart.yaml --flow people
        """
    )

    @Argument(help: "The pipeline file.")
    var path: String
    @Option(help: "The flow to resync.")
    var flow: String

    func run() async throws {
        guard let config = loadPipelines(path).first else { fail("\(path): no pipeline found") }
        guard config.flows.contains(where: { $0.name == flow }) else {
            fail("\(config.filePath): pipeline \(config.name) has no flow '\(flow)' — flows: \(config.flows.map(\.name).joined(separator: ", "))")
        }
        // Only checkpoints change: the ledger is upgraded by the next `run`, not here.
        let ledger = try SQLiteLedger(path: config.ledgerPath, options: .init(upgradesSchema: false))
        try ledger.deleteCheckpoints(pipeline: config.name, scopePrefix: flow + "/")
        print("flow \(flow) of pipeline \(config.name) will snapshot on its next run")
    }
}
