import Foundation
import Testing

/// The MongoDB-wire server of the end-to-end tests (`DELTABRIDGE_MONGO_URL`, exported by
/// scripts/test.sh) and an application's client for it: the project's `.venv` Python with pymongo.
enum MongoE2E {
    static func url() throws -> String {
        guard let url = ProcessInfo.processInfo.environment["DELTABRIDGE_MONGO_URL"], !url.isEmpty else {
            throw E2EFailure("DELTABRIDGE_MONGO_URL is not set: the MongoDB end-to-end tests need a MongoDB-wire server — run them through scripts/test.sh, or `scripts/dev-servers.sh /tmp/dev.env mongo &` and `source /tmp/dev.env` first")
        }
        return url
    }

    /// The project's Python with pymongo (scripts/setup.sh creates it).
    static let python: String = {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent(".venv/bin/python").path
    }()

    /// A database name of its own for one test.
    static func database() -> String { "e2e_" + String(UInt64.random(in: 0...UInt64.max), radix: 36) }

    /// Runs a Python snippet with `db` bound to `database` (pymongo) and returns its stdout.
    @discardableResult
    static func run(_ database: String, _ script: String) throws -> String {
        guard FileManager.default.isExecutableFile(atPath: python) else {
            throw E2EFailure("\(python) not found — run scripts/setup.sh (it installs pymongo into .venv)")
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        let prelude = """
            import os, sys, json, time, pymongo
            from bson import ObjectId, Int64, Decimal128
            db = pymongo.MongoClient(os.environ["DELTABRIDGE_MONGO_URL"])[\"\(database)\"]

            """
        process.arguments = ["-c", prelude + script]
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        let errData = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw E2EFailure("python failed: \(String(decoding: errData, as: UTF8.self))")
        }
        return String(decoding: data, as: UTF8.self)
    }

    /// Starts a Python snippet in the background (an application writing while the bridge runs).
    static func start(_ database: String, _ script: String) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = ["-c", """
            import os, time, pymongo
            db = pymongo.MongoClient(os.environ["DELTABRIDGE_MONGO_URL"])[\"\(database)\"]

            """ + script]
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        return process
    }

    static func drop(_ database: String) {
        _ = try? run(database, "db.client.drop_database(db.name)")
    }
}

/// `deltabridge run FILE --once` with room for a slow MongoDB-wire server (120 s), expecting exit 0.
@discardableResult
func mongoRunOnce(_ pipelineFile: String, _ pipeline: String, in sandbox: Sandbox,
                  sourceLocation: SourceLocation = #_sourceLocation) async throws -> OnceSummary {
    let r = try await deltabridge(["run", pipelineFile, "--once"], in: sandbox, timeout: 120)
    guard r.exitCode == 0, !r.signalled, let s = r.summary(pipeline) else {
        Issue.record("run --once failed: \(r)", sourceLocation: sourceLocation)
        throw E2EFailure("run --once failed")
    }
    return s
}

/// Runs `--once` until a run writes nothing (at most 5 runs); returns every summary.
func mongoRunOnceUntilQuiet(_ pipelineFile: String, _ pipeline: String, in sandbox: Sandbox,
                            sourceLocation: SourceLocation = #_sourceLocation) async throws -> [OnceSummary] {
    var all = [OnceSummary]()
    for _ in 0..<5 {
        let s = try await mongoRunOnce(pipelineFile, pipeline, in: sandbox, sourceLocation: sourceLocation)
        all.append(s)
        if s.writes == 0 { return all }
    }
    Issue.record("still writing after 5 runs of --once: \(all)", sourceLocation: sourceLocation)
    return all
}
