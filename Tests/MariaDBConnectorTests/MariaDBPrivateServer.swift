import Foundation
@testable import MariaDBConnector

#if canImport(Glibc)
import Glibc
#endif

/// A MariaDB server of one test's own, configured like the shared test server (its defaults file,
/// `DELTABRIDGE_MARIADB_DEFAULTS`, with a new data folder and port), so the test may stop,
/// restart or purge it without disturbing other tests. `mariadbd` runs as a direct child process.
final class MariaDBPrivateServer: @unchecked Sendable {
    let directory: String
    let port: UInt32
    let defaults: String
    private var process: Process?

    var url: MariaDBURL { MariaDBURL(user: "root", password: nil, host: "127.0.0.1", port: port, database: nil) }

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    init() throws {
        let shared = try MariaDBTestServer.variable("DELTABRIDGE_MARIADB_DEFAULTS")
        let template = try String(contentsOfFile: shared, encoding: .utf8)
        let sharedDir = (shared as NSString).deletingLastPathComponent
        directory = NSTemporaryDirectory() + "deltabridge-mariaprivate-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: directory + "/tmp", withIntermediateDirectories: true)
        port = Self.freePort()
        var lines: [String] = []
        for line in template.replacingOccurrences(of: sharedDir, with: directory).split(separator: "\n", omittingEmptySubsequences: false) {
            lines.append(line.hasPrefix("port") ? "port = \(port)" : String(line))
        }
        defaults = directory + "/my.cnf"
        try lines.joined(separator: "\n").write(toFile: defaults, atomically: true, encoding: .utf8)
        try Self.run("/usr/bin/env", ["mariadb-install-db", "--defaults-file=\(defaults)", "--auth-root-authentication-method=normal", "--skip-test-db"])
        try start()
    }

    /// Starts `mariadbd` and waits until it accepts connections.
    func start() throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["mariadbd", "--defaults-file=\(defaults)"]
        p.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
        let log = directory + "/server.log"
        FileManager.default.createFile(atPath: log, contents: nil)
        p.standardError = FileHandle(forWritingAtPath: log)
        try p.run()
        process = p
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline {
            if let c = try? MariaDBConnection.connect(url) { c.close(); return }
            guard p.isRunning else { break }
            usleep(100_000)
        }
        throw Failure(description: "the private MariaDB did not start: " + ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").suffix(800))
    }

    /// Stops the server (SIGTERM: a clean shutdown) and waits for the process to end.
    func stop() {
        guard let p = process, p.isRunning else { return }
        kill(p.processIdentifier, SIGTERM)
        p.waitUntilExit()
        process = nil
    }

    func destroy() {
        stop()
        try? FileManager.default.removeItem(atPath: directory)
    }

    private static func run(_ executable: String, _ arguments: [String]) throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executable)
        p.arguments = arguments
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = pipe
        try p.run()
        let output = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else {
            throw Failure(description: "\(arguments.first ?? executable) failed: " + String(decoding: output, as: UTF8.self).suffix(800))
        }
    }

    /// A loopback port that was free a moment ago.
    static func freePort() -> UInt32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = 0
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) } }
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        return UInt32(UInt16(bigEndian: addr.sin_port))
    }
}
