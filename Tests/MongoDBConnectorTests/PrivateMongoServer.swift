import Foundation
@testable import MongoDBConnector

#if canImport(Glibc)
import Glibc
#endif

/// A SecantusDB server of one test's own (a direct child process on a free loopback port, its data
/// in a temporary folder), for tests that restart or reconfigure the server; stopped by its own PID.
final class PrivateMongoServer: @unchecked Sendable {
    let port: Int
    let directory: MongoTemporaryDirectory
    let flags: [String]
    private var process: Process?

    var url: String { "mongodb://127.0.0.1:\(port)/?directConnection=true" }

    /// The project's SecantusDB launcher (scripts/setup.sh installs it into .venv).
    static let launcher: String = {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent(".venv/bin/secantusd-py").path
    }()

    init(flags: [String] = []) throws {
        guard FileManager.default.isExecutableFile(atPath: Self.launcher) else {
            throw MongoTestFailure("\(Self.launcher) not found — run scripts/setup.sh (it installs SecantusDB into .venv)")
        }
        directory = try MongoTemporaryDirectory()
        port = try Self.freePort()
        self.flags = flags
        _ = FileManager.default.createFile(atPath: directory.file("secantusd.toml"), contents: Data())
        try start()
    }

    deinit { stop() }

    /// Starts the server (again, on the same port and data) and waits until it answers.
    func start(extra: [String] = []) throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: Self.launcher)
        p.arguments = ["--config", directory.file("secantusd.toml"), "--host", "127.0.0.1", "--port", String(port),
                       "--storage-path", directory.file("data")] + flags + extra
        p.standardInput = FileHandle.nullDevice
        p.standardOutput = FileHandle.nullDevice
        _ = FileManager.default.createFile(atPath: directory.file("server.log"), contents: nil)
        p.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: directory.file("server.log")))
        try p.run()
        process = p
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline {
            guard p.isRunning else { throw MongoTestFailure("secantusd-py exited: \(log)") }
            if Self.accepts(port) { return }
            usleep(100_000)
        }
        throw MongoTestFailure("secantusd-py did not listen on port \(port) within 60 s: \(log)")
    }

    /// SIGTERM to this server's own PID, then waits for it to exit (SIGKILL after 20 s).
    func stop() {
        guard let p = process else { return }
        process = nil
        guard p.isRunning else { return }
        kill(p.processIdentifier, SIGTERM)
        let deadline = Date().addingTimeInterval(20)
        while p.isRunning && Date() < deadline { usleep(50_000) }
        if p.isRunning { kill(p.processIdentifier, SIGKILL) }
        p.waitUntilExit()
    }

    var log: String { (try? String(contentsOfFile: directory.file("server.log"), encoding: .utf8)) ?? "" }

    private static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw MongoTestFailure("socket() failed") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        guard bound else { throw MongoTestFailure("bind() failed") }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    private static func accepts(_ port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = UInt16(port).bigEndian
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
    }
}
