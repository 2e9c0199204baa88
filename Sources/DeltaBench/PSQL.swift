import Foundation

/// Runs SQL through the `psql` client for the benchmarks' set-up and load (the bridge itself is
/// measured through its own connectors); every call fails loudly on the first SQL error.
struct PSQL {
    var url: String

    /// Runs `sql` and returns psql's unaligned, tuples-only output, trimmed.
    @discardableResult
    func run(_ sql: String) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", url, "-c", sql]
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let output = out.fileHandleForReading.readDataToEndOfFile()
        let errors = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw BenchmarkFailure("psql failed on `\(sql.prefix(120))`: \(String(decoding: errors, as: UTF8.self))")
        }
        return String(decoding: output, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    func int(_ sql: String) throws -> Int {
        let text = try run(sql)
        guard let n = Int(text) else { throw BenchmarkFailure("expected a number from `\(sql)`, got `\(text)`") }
        return n
    }

    /// The same server with another database.
    func database(_ name: String) -> PSQL {
        var head = url
        var query = ""
        if let q = head.firstIndex(of: "?") {
            query = String(head[q...])
            head = String(head[..<q])
        }
        let schemeEnd = head.range(of: "://")?.upperBound ?? head.startIndex
        if let slash = head[schemeEnd...].firstIndex(of: "/") { head = String(head[..<slash]) }
        return PSQL(url: head + "/" + name + query)
    }

    /// Drops and re-creates database `name` on this server and returns a client for it.
    func freshDatabase(_ name: String) throws -> PSQL {
        try run("DROP DATABASE IF EXISTS \(name) WITH (FORCE)")
        try run("CREATE DATABASE \(name)")
        return database(name)
    }

    /// A long-running psql that reads statements from a pipe: for paced load (``send(_:)``), and
    /// for polling (``query(_:)``) without starting a process per poll, which would take the CPU
    /// the measured replication needs.
    final class Session {
        let process = Process()
        let input = Pipe()
        let output = Pipe()
        private var buffer = [UInt8]()

        init(url: String) throws {
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = ["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", url]
            process.standardInput = input
            process.standardOutput = output
            try process.run()
        }

        func send(_ sql: String) {
            input.fileHandleForWriting.write(Data((sql + "\n").utf8))
        }

        /// Runs one statement that returns one row of one column and returns it.
        func query(_ sql: String) throws -> String {
            send(sql)
            while true {
                if let newline = buffer.firstIndex(of: 10) {
                    let line = String(decoding: buffer[..<newline], as: UTF8.self)
                    buffer.removeSubrange(...newline)
                    return line
                }
                let chunk = output.fileHandleForReading.availableData
                guard !chunk.isEmpty else { throw BenchmarkFailure("the polling psql session ended (on `\(sql)`)") }
                buffer += chunk
            }
        }

        func finish() throws {
            try input.fileHandleForWriting.close()
            process.waitUntilExit()
            guard process.terminationStatus == 0 else { throw BenchmarkFailure("the load session's psql failed (exit \(process.terminationStatus))") }
        }
    }
}

/// A benchmark that could not run as set up (a server missing, SQL failing).
struct BenchmarkFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
