import Foundation
@testable import PostgresConnector

#if canImport(Glibc)
import Glibc
#endif

/// A PostgreSQL cluster of one test's own (initdb in a temporary folder, a free loopback port),
/// so that the test may stop and restart it without disturbing the shared test server. Runs the
/// server binaries of `DELTABRIDGE_PG_BIN` (default /usr/lib/postgresql/15/bin), as user
/// `postgres` when the tests run as root (initdb refuses root).
final class PGPrivateServer: @unchecked Sendable {
    let directory: String
    let port: Int
    let bin: String
    private let asPostgres: Bool

    var url: String { "postgresql://postgres@127.0.0.1:\(port)/postgres" }
    var data: String { directory + "/data" }

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    init() throws {
        _ = try PGTestServer.url()  // the same prerequisite as the other integration tests
        bin = ProcessInfo.processInfo.environment["DELTABRIDGE_PG_BIN"] ?? "/usr/lib/postgresql/15/bin"
        directory = NSTemporaryDirectory() + "deltabridge-pgprivate-" + UUID().uuidString
        asPostgres = getuid() == 0
        try FileManager.default.createDirectory(atPath: directory + "/sock", withIntermediateDirectories: true)
        if asPostgres { try Self.run("/bin/chown", ["-R", "postgres:postgres", directory]) }
        port = Self.freePort()
        try tool("initdb", ["-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"])
        let conf = """

            listen_addresses = '127.0.0.1'
            port = \(port)
            unix_socket_directories = '\(directory)/sock'
            wal_level = logical
            max_replication_slots = 4
            max_wal_senders = 4
            fsync = off
            """
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: data + "/postgresql.conf"))
        handle.seekToEndOfFile()
        handle.write(Data(conf.utf8))
        try handle.close()
        try start()
    }

    func start() throws {
        try tool("pg_ctl", ["-D", data, "-w", "-t", "60", "-l", directory + "/server.log", "start"])
    }

    /// Stops with `mode` (`fast`: disconnects clients, waits for walsenders to finish).
    func stop(mode: String = "fast") throws {
        try tool("pg_ctl", ["-D", data, "-w", "-t", "60", "-m", mode, "stop"])
    }

    /// Stops the server at once and removes its folder.
    func destroy() {
        try? stop(mode: "immediate")
        try? FileManager.default.removeItem(atPath: directory)
    }

    private func tool(_ name: String, _ arguments: [String]) throws {
        if asPostgres {
            try Self.run("/usr/bin/setpriv", ["--reuid=postgres", "--regid=postgres", "--init-groups", "--", bin + "/" + name] + arguments,
                         in: directory)
        } else {
            try Self.run(bin + "/" + name, arguments, in: directory)
        }
    }

    private static func run(_ executable: String, _ arguments: [String], in folder: String? = nil) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if let folder { process.currentDirectoryURL = URL(fileURLWithPath: folder) }
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let text = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw Failure(description: "\(executable) \(arguments.joined(separator: " ")) failed: \(String(decoding: text, as: UTF8.self))")
        }
    }

    private static func freePort() -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
        }
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}
