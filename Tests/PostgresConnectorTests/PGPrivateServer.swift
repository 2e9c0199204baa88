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

    /// Runs a program to its end (posix_spawn and waitpid: the server pg_ctl starts outlives it
    /// and must not hold anything the test waits on), output into a file shown on failure.
    private static func run(_ executable: String, _ arguments: [String], in folder: String? = nil) throws {
        let log = NSTemporaryDirectory() + "deltabridge-pgprivate-\(UUID().uuidString).out"
        defer { unlink(log) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, log, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        let command = folder.map { "cd '\($0)' && exec \"$0\" \"$@\"" } ?? "exec \"$0\" \"$@\""
        let argv = ["/bin/sh", "-c", command, executable] + arguments
        var pid: pid_t = 0
        let spawned = withOptionalCStrings(argv.map { Optional($0) } + [nil]) { pointers in
            pointers.withMemoryRebound(to: UnsafeMutablePointer<CChar>?.self, capacity: argv.count + 1) { args in
                posix_spawn(&pid, "/bin/sh", &actions, nil, args, environ)
            }
        }
        guard spawned == 0 else { throw Failure(description: "cannot start \(executable) (error \(spawned))") }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let exited = status & 0x7f == 0
        let code = (status >> 8) & 0xff
        guard exited && code == 0 else {
            let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
            throw Failure(description: "\(executable) \(arguments.joined(separator: " ")) failed (status \(status)): \(text)")
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
