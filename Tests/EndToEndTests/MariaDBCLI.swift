import Foundation
import Testing

/// The shared test MariaDB (`DELTABRIDGE_MARIADB_URL`, `DELTABRIDGE_MARIADB_DEFAULTS`) reached
/// through the `mariadb` command-line client, as an application or operator would: a database of
/// one test's own, SQL in, tab-separated rows out.
final class MariaDBCLI: @unchecked Sendable {
    let database: String
    let defaults: String
    let url: String

    struct Missing: Error, CustomStringConvertible {
        let variable: String
        var description: String {
            "\(variable) is not set: the MariaDB end-to-end tests need a server — run them through scripts/test.sh, or start one with `scripts/dev-servers.sh /tmp/dev.env mariadb &` and `source /tmp/dev.env`"
        }
    }

    init() throws {
        let env = ProcessInfo.processInfo.environment
        guard let defaults = env["DELTABRIDGE_MARIADB_DEFAULTS"], !defaults.isEmpty else { throw Missing(variable: "DELTABRIDGE_MARIADB_DEFAULTS") }
        guard let base = env["DELTABRIDGE_MARIADB_URL"], !base.isEmpty else { throw Missing(variable: "DELTABRIDGE_MARIADB_URL") }
        self.defaults = defaults
        database = "e2e_" + String(UInt64.random(in: 0...UInt64.max), radix: 36)
        url = (base.hasSuffix("/") ? base : base + "/") + database
        try run(nil, "CREATE DATABASE \(database) CHARACTER SET utf8mb4")
    }

    /// Runs SQL in the test's database.
    func exec(_ sql: String) throws { try run(database, sql) }

    /// Rows of a query, NULL as nil.
    func rows(_ sql: String) throws -> [[String?]] {
        let out = try run(database, sql)
        return out.split(separator: "\n", omittingEmptySubsequences: true).map { line in
            line.split(separator: "\t", omittingEmptySubsequences: false).map { $0 == "NULL" ? nil : String($0) }
        }
    }

    func drop() { _ = try? run(nil, "DROP DATABASE IF EXISTS \(database)") }

    @discardableResult
    private func run(_ database: String?, _ sql: String) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["mariadb", "--defaults-file=\(defaults)", "--default-character-set=utf8mb4", "--batch", "--skip-column-names"]
            + (database.map { [$0] } ?? []) + ["-e", sql]
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        p.standardInput = FileHandle.nullDevice
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        let errors = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else {
            throw E2EFailure("mariadb failed on `\(sql.prefix(200))`: \(String(decoding: errors, as: UTF8.self))")
        }
        return String(decoding: data, as: UTF8.self)
    }
}
