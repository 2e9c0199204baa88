import Foundation
import SQLiteSupport
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

// Support for the end-to-end tests: they run the real `deltabridge` executable on pipeline files
// in temporary folders, and read and write the stores' SQLite files as an application would.
//
// Waiting is always on a condition (a row arrived, a process exited, the wall clock moved on),
// polled against a deadline that only guards against hanging; never a bare sleep.

// MARK: - The binary

/// The built `deltabridge` executable: beside the test bundle (or one folder up).
let deltabridgePath: String = {
    let bundleDir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    for dir in [bundleDir, bundleDir.deletingLastPathComponent()] {
        let candidate = dir.appendingPathComponent("deltabridge").path
        if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
    }
    return bundleDir.appendingPathComponent("deltabridge").path
}()

/// An error that stops a test: a deadline passed, a process misbehaved.
struct E2EFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

func nowMicros() -> Int64 {
    var ts = timespec()
    clock_gettime(CLOCK_REALTIME, &ts)
    return Int64(ts.tv_sec) * 1_000_000 + Int64(ts.tv_nsec) / 1_000
}

// MARK: - Temporary folders

/// A fresh folder for one test, removed afterwards (kept when `DELTABRIDGE_KEEP_TMP` is set, for
/// looking at a failure).
final class Sandbox: @unchecked Sendable {
    let path: String
    /// Where the outputs of the processes a test starts go (outside the pipeline's own files).
    let logs: String

    init(_ label: String = #function) throws {
        let clean = String(label.prefix(while: { $0 != "(" }).filter { $0.isLetter || $0.isNumber })
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("deltabridge-e2e-\(clean)-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: base, withIntermediateDirectories: true)
        path = base.path
        logs = path + "/logs"
        try FileManager.default.createDirectory(atPath: logs, withIntermediateDirectories: true)
    }

    func file(_ name: String) -> String { path + "/" + name }

    /// Writes `text` to `name` inside the folder and returns its path.
    @discardableResult
    func write(_ name: String, _ text: String) throws -> String {
        let p = file(name)
        try text.write(toFile: p, atomically: true, encoding: .utf8)
        return p
    }

    func exists(_ name: String) -> Bool { FileManager.default.fileExists(atPath: file(name)) }

    deinit {
        if ProcessInfo.processInfo.environment["DELTABRIDGE_KEEP_TMP"] == nil {
            try? FileManager.default.removeItem(atPath: path)
        }
    }
}

// MARK: - Running the binary

/// The `--once` summary line: `NAME: E events, D deltas, W writes, G guarded, L dead letters, R round(s)`.
struct OnceSummary: Equatable, CustomStringConvertible {
    var events = 0
    var deltas = 0
    var writes = 0
    var guarded = 0
    var deadLetters = 0

    var description: String { "\(events) events, \(deltas) deltas, \(writes) writes, \(guarded) guarded, \(deadLetters) dead letters" }

    /// Parses the summary line of `pipeline` from a `--once` run's stderr.
    static func parse(_ stderr: String, pipeline: String) -> OnceSummary? {
        for line in stderr.split(separator: "\n") where line.hasPrefix("\(pipeline): ") && line.contains(" events, ") {
            let numbers = line.dropFirst(pipeline.count + 2).split(separator: ",").map { part in
                Int(part.trimmingCharacters(in: .whitespaces).prefix(while: \.isNumber)) ?? -1
            }
            guard numbers.count >= 5 else { return nil }
            return OnceSummary(events: numbers[0], deltas: numbers[1], writes: numbers[2], guarded: numbers[3], deadLetters: numbers[4])
        }
        return nil
    }
}

/// What one finished `deltabridge` invocation did.
struct RunResult: CustomStringConvertible {
    var arguments: [String]
    var exitCode: Int32
    /// True when it ended by a signal (then `exitCode` is the signal number).
    var signalled: Bool
    var stdout: String
    var stderr: String
    var seconds: Double

    /// Non-empty stderr lines.
    var stderrLines: [String] { stderr.split(separator: "\n", omittingEmptySubsequences: true).map(String.init) }

    func summary(_ pipeline: String) -> OnceSummary? { OnceSummary.parse(stderr, pipeline: pipeline) }

    var description: String {
        "deltabridge \(arguments.joined(separator: " ")) → exit \(exitCode)\(signalled ? " (signal)" : "") in \(String(format: "%.2f", seconds)) s\n--- stdout:\n\(stdout)\n--- stderr:\n\(stderr)"
    }
}

/// A started `deltabridge` process with stdout and stderr going to files.
final class ChildProcess: @unchecked Sendable {
    let process = Process()
    let arguments: [String]
    let stdoutPath: String
    let stderrPath: String
    let started = Date()

    init(_ arguments: [String], in directory: String, logs: String, environment: [String: String] = [:], unset: [String] = []) throws {
        self.arguments = arguments
        let id = UUID().uuidString.prefix(8)
        stdoutPath = "\(logs)/\(arguments.first ?? "x")-\(id).out"
        stderrPath = "\(logs)/\(arguments.first ?? "x")-\(id).err"
        _ = FileManager.default.createFile(atPath: stdoutPath, contents: nil)
        _ = FileManager.default.createFile(atPath: stderrPath, contents: nil)
        process.executableURL = URL(fileURLWithPath: deltabridgePath)
        process.arguments = arguments
        process.currentDirectoryURL = URL(fileURLWithPath: directory)
        var env = ProcessInfo.processInfo.environment
        for (k, v) in environment { env[k] = v }
        for k in unset { env[k] = nil }
        process.environment = env
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: stdoutPath))
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: stderrPath))
        guard FileManager.default.isExecutableFile(atPath: deltabridgePath) else {
            throw E2EFailure("the deltabridge executable is not at \(deltabridgePath) — build it (swift build --build-tests)")
        }
        try process.run()
    }

    var pid: Int32 { process.processIdentifier }
    var isRunning: Bool { process.isRunning }
    var stdout: String { (try? String(contentsOfFile: stdoutPath, encoding: .utf8)) ?? "" }
    var stderr: String { (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? "" }

    /// Sends `signal` to this process only (by its id).
    func send(_ signal: Int32) {
        if process.isRunning { kill(process.processIdentifier, signal) }
    }

    /// Waits for the process to end; past `timeout` seconds it is killed and this throws.
    @discardableResult
    func waitForExit(timeout: Double) async throws -> RunResult {
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning {
            if Date() > deadline {
                send(SIGKILL)
                process.waitUntilExit()
                throw E2EFailure("deltabridge \(arguments.joined(separator: " ")) did not exit within \(timeout) s — killed it\n--- stderr:\n\(stderr)")
            }
            try await Task.sleep(for: .milliseconds(5))
        }
        process.waitUntilExit()
        return RunResult(arguments: arguments, exitCode: process.terminationStatus,
                         signalled: process.terminationReason == .uncaughtSignal,
                         stdout: stdout, stderr: stderr, seconds: Date().timeIntervalSince(started))
    }

    /// Never leaves a process behind, whatever happened to the test.
    deinit {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }
}

/// Runs `deltabridge ARGS` in `directory` to completion (killed, and the test failed, after `timeout`).
func deltabridge(_ arguments: [String], in sandbox: Sandbox, environment: [String: String] = [:], unset: [String] = [],
                 timeout: Double = 30) async throws -> RunResult {
    let child = try ChildProcess(arguments, in: sandbox.path, logs: sandbox.logs, environment: environment, unset: unset)
    return try await child.waitForExit(timeout: timeout)
}

/// `deltabridge run FILE --once`, expecting exit 0; returns the summary of `pipeline`.
@discardableResult
func runOnce(_ pipelineFile: String, _ pipeline: String, in sandbox: Sandbox,
             sourceLocation: SourceLocation = #_sourceLocation) async throws -> OnceSummary {
    let r = try await deltabridge(["run", pipelineFile, "--once"], in: sandbox)
    guard r.exitCode == 0, !r.signalled, let s = r.summary(pipeline) else {
        Issue.record("run --once failed: \(r)", sourceLocation: sourceLocation)
        throw E2EFailure("run --once failed")
    }
    return s
}

/// Runs `--once` until a run writes nothing (at most `maxRuns`); returns every summary.
func runOnceUntilQuiet(_ pipelineFile: String, _ pipeline: String, in sandbox: Sandbox, maxRuns: Int = 5,
                       sourceLocation: SourceLocation = #_sourceLocation) async throws -> [OnceSummary] {
    var all = [OnceSummary]()
    for _ in 0..<maxRuns {
        let s = try await runOnce(pipelineFile, pipeline, in: sandbox, sourceLocation: sourceLocation)
        all.append(s)
        if s.writes == 0 { return all }
    }
    Issue.record("still writing after \(maxRuns) runs of --once: \(all)", sourceLocation: sourceLocation)
    return all
}

/// A `deltabridge run FILE` daemon, stopped (SIGKILL) when the test lets go of it.
final class Daemon: @unchecked Sendable {
    let child: ChildProcess

    init(_ pipelineFile: String, in sandbox: Sandbox, extra: [String] = []) throws {
        child = try ChildProcess(["run", pipelineFile] + extra, in: sandbox.path, logs: sandbox.logs)
    }

    var stderr: String { child.stderr }
    var isRunning: Bool { child.isRunning }

    /// SIGTERM and wait (the daemon should finish its batch and exit 0).
    func terminate(timeout: Double = 10) async throws -> RunResult {
        child.send(SIGTERM)
        return try await child.waitForExit(timeout: timeout)
    }

    /// `kill -9`: no chance to finish anything.
    func crash() async throws -> RunResult {
        child.send(SIGKILL)
        return try await child.waitForExit(timeout: 10)
    }
}

// MARK: - Waiting for conditions

/// Polls `condition` until it holds; after `timeout` seconds records an issue naming `what` (and
/// `detail`, the state that was seen instead) and throws.
func eventually(_ what: @autoclosure () -> String, timeout: Double = 20, poll: Double = 0.02,
                detail: () -> String = { "" },
                sourceLocation: SourceLocation = #_sourceLocation,
                _ condition: () async throws -> Bool) async throws {
    let deadline = Date().addingTimeInterval(timeout)
    while true {
        if try await condition() { return }
        if Date() > deadline {
            let seen = detail()
            let message = "timed out after \(timeout) s waiting for: \(what())" + (seen.isEmpty ? "" : "\n\(seen)")
            Issue.record(Comment(rawValue: message), sourceLocation: sourceLocation)
            throw E2EFailure(message)
        }
        try await Task.sleep(for: .milliseconds(Int(poll * 1000)))
    }
}

/// Waits until the wall clock has moved at least 3 ms past the moment of the call, so that the
/// next change gets a later commit time (SQLite change-log times have millisecond precision) —
/// this orders writes; it synchronises nothing.
func advanceClock() async throws {
    let start = nowMicros()
    try await eventually("the clock to advance", timeout: 5, poll: 0.001) { nowMicros() > start + 3_000 }
}

// MARK: - SQLite, as an application uses it

typealias SQLValue = SQLiteStatement.Binding
typealias Row = [SQLValue]

enum DB {
    /// Runs SQL statements on `path`, creating the file when `create` (default true).
    static func exec(_ path: String, _ sql: String, create: Bool = true) throws {
        let db = try SQLiteDatabase(path: path, mode: .init(readOnly: false, create: create), busyTimeoutMilliseconds: 10_000)
        try db.execute(sql)
    }

    /// Runs one statement with bound values.
    static func run(_ path: String, _ sql: String, _ values: [SQLValue]) throws {
        let db = try SQLiteDatabase(path: path, mode: .init(readOnly: false, create: false), busyTimeoutMilliseconds: 10_000)
        try db.prepare(sql).run(values)
    }

    /// Runs `body` in one transaction on one connection.
    static func transaction(_ path: String, _ body: (SQLiteDatabase) throws -> Void) throws {
        let db = try SQLiteDatabase(path: path, mode: .init(readOnly: false, create: false), busyTimeoutMilliseconds: 10_000)
        try db.transaction { try body(db) }
    }

    /// Every row of a query; never creates the file.
    static func rows(_ path: String, _ sql: String, _ values: [SQLValue] = []) throws -> [Row] {
        let db = try SQLiteDatabase(path: path, mode: .init(readOnly: false, create: false), busyTimeoutMilliseconds: 10_000)
        let s = try db.prepare(sql)
        try s.bind(values)
        var out = [Row]()
        while try s.step() {
            out.append((0..<s.columnCount).map { s.value($0) })
        }
        return out
    }

    /// The whole table ordered by `orderBy` (default the first column).
    static func table(_ path: String, _ table: String, orderBy: String = "1") throws -> [Row] {
        try rows(path, "SELECT * FROM \(SQLiteDatabase.quoteIdentifier(table)) ORDER BY \(orderBy)")
    }

    static func int(_ path: String, _ sql: String) throws -> Int64? {
        try rows(path, sql).first?.first.flatMap { if case let .int(i) = $0 { i } else { nil } }
    }

    static func tableNames(_ path: String) throws -> [String] {
        try rows(path, "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").compactMap {
            if case let .text(t) = $0[0] { t } else { nil }
        }
    }

    /// The whole table, or nil when the file or table cannot be read (for polling).
    static func tableIfReadable(_ path: String, _ table: String, orderBy: String = "1") -> [Row]? {
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        return try? self.table(path, table, orderBy: orderBy)
    }
}

/// Shorthands for writing expected rows.
func i(_ v: Int64) -> SQLValue { .int(v) }
func t(_ v: String) -> SQLValue { .text(v) }
let null = SQLValue.null

/// The ledger of a pipeline with the default state dir: `<dir>/.deltabridge/<pipeline>.ledger.sqlite`.
func ledgerPath(_ sandbox: Sandbox, _ pipeline: String) -> String {
    sandbox.file(".deltabridge/\(pipeline).ledger.sqlite")
}

// MARK: - lag --json

/// One object of `deltabridge lag --json`.
struct JSONObject {
    let fields: [String: Any]
    func string(_ key: String) -> String? { fields[key] as? String }
    func int(_ key: String) -> Int? { (fields[key] as? NSNumber)?.intValue ?? fields[key] as? Int }
    func double(_ key: String) -> Double? { (fields[key] as? NSNumber)?.doubleValue ?? fields[key] as? Double }
    func isNull(_ key: String) -> Bool { fields[key] is NSNull }
    var keys: Set<String> { Set(fields.keys) }
}

/// Runs `deltabridge lag FILE --json` (expecting exit 0) and parses its output.
func lagRows(_ pipelineFile: String, in sandbox: Sandbox, sourceLocation: SourceLocation = #_sourceLocation) async throws -> (rows: [JSONObject], text: String) {
    let r = try await deltabridge(["lag", pipelineFile, "--json"], in: sandbox)
    guard r.exitCode == 0 else {
        Issue.record("lag --json failed: \(r)", sourceLocation: sourceLocation)
        throw E2EFailure("lag --json failed")
    }
    guard let array = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [[String: Any]] else {
        Issue.record("lag --json printed no JSON array: \(r)", sourceLocation: sourceLocation)
        throw E2EFailure("lag --json printed no JSON array")
    }
    return (array.map(JSONObject.init), r.stdout)
}

// MARK: - Showing rows in messages

func show(_ value: SQLValue) -> String {
    switch value {
    case .null: "NULL"
    case let .int(v): String(v)
    case let .double(v): "\(v)r"
    case let .text(v): "'\(v)'"
    case let .blob(v): "x'" + v.map { String(format: "%02x", $0) }.joined() + "'"
    }
}

/// Rows one per line, values separated by `|`; "(unreadable)" for nil.
func show(_ rows: [Row]?) -> String {
    guard let rows else { return "(unreadable)" }
    if rows.isEmpty { return "(no rows)" }
    return rows.map { $0.map(show).joined(separator: " | ") }.joined(separator: "\n")
}

// MARK: - An application writing in the background

/// Runs `pass` again and again (at most `maxPasses` times) on a thread of its own, so that its
/// blocking SQLite calls stay off the test's executors, until ``stop()``, which waits for the pass
/// in progress to finish.
final class BackgroundWriter: @unchecked Sendable {
    private let lock = NSLock()
    private var stopRequested = false
    private var finished = false
    private var passes = 0
    private var failure: (any Error)?

    init(maxPasses: Int, _ pass: @escaping @Sendable () throws -> Void) {
        let thread = Thread { [self] in
            while !lock.withLock({ stopRequested || passes >= maxPasses }) {
                do {
                    try pass()
                } catch {
                    lock.withLock { failure = error }
                    break
                }
                lock.withLock { passes += 1 }
            }
            lock.withLock { finished = true }
        }
        thread.start()
    }

    var completedPasses: Int { lock.withLock { passes } }

    /// Asks the writer to stop after its current pass and waits for it; returns the number of
    /// complete passes, or throws what a pass threw.
    func stop() async throws -> Int {
        lock.withLock { stopRequested = true }
        try await eventually("the background writer to stop", timeout: 30, poll: 0.01) { lock.withLock { finished } }
        if let failure = lock.withLock({ failure }) { throw failure }
        return completedPasses
    }
}
