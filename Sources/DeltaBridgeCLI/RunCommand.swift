import ArgumentParser
import DeltaConnector
import DeltaPipeline
import Foundation
import Logging
import ServiceLifecycle

struct Run: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run pipelines: snapshot each flow once, then stream changes.",
        discussion: """
        Runs every pipeline in FILE (or every *.yaml in a folder) until SIGINT or SIGTERM, which
        finish the batch in flight, commit its checkpoint and exit 0. Logs go to stderr.

          deltabridge run pipelines/quickstart.yaml            # daemon
          deltabridge run pipelines/quickstart.yaml --once     # catch up, then exit (batch jobs, tests)
          deltabridge run pipelines/ --log-level debug
        """
    )

    @Argument(help: "A pipeline file, or a folder of them.")
    var path: String

    @Flag(help: "Snapshot or catch up every flow, repeat until nothing is left to write, then exit.")
    var once = false

    @Option(help: "trace, debug, info, notice, warning, error or critical.")
    var logLevel: Logger.Level = .info

    func run() async throws {
        ProcessMemory.configureAllocator()
        bootstrapLogging(logLevel)
        Logger(label: "deltabridge").debug("allocator: \(ProcessMemory.allocator)")
        let configs = loadPipelines(path)
        let registry = makeRegistry()
        // Bad configuration stops here, before anything is installed or written (exit 2); a store
        // that is merely unreachable is left to the engine, which retries it.
        for config in configs {
            if let problem = await firstProblem(config, unreachableIsProblem: false) { fail(problem) }
        }
        var engines = [PipelineEngine]()
        for config in configs {
            do {
                engines.append(try PipelineEngine(config: config, registry: registry, logger: Logger(label: "deltabridge.\(config.name)")))
            } catch {
                fail("\(config.name): \(error)")
            }
        }
        if once {
            var failed = false
            for engine in engines {
                let s = try await engine.runOnce()
                let line = "\(engine.config.name): \(s.events) events, \(s.deltas) deltas, \(s.patchesApplied) writes, \(s.guardsFailed) guarded, \(s.deadLetters) dead letters, \(s.rounds) round(s)"
                FileHandle.standardError.write(Data((line + "\n").utf8))
                for reason in s.stoppedFlows {
                    FileHandle.standardError.write(Data(("deltabridge: \(engine.config.name): flow \(reason)\n").utf8))
                    failed = true
                }
            }
            if failed { throw ExitCode(1) }
            return
        }
        let logger = Logger(label: "deltabridge")
        let group = ServiceGroup(services: engines.map(EngineService.init), gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        try await group.run()
    }
}

/// Adapts a ``PipelineEngine`` to swift-service-lifecycle: graceful shutdown cancels the sources,
/// whose batch in flight still completes and checkpoints.
struct EngineService: Service {
    let engine: PipelineEngine

    func run() async throws {
        try await cancelWhenGracefulShutdown {
            try await engine.run()
        }
    }
}
