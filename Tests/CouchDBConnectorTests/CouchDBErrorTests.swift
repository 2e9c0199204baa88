import DeltaConnector
import DeltaCore
import Foundation
import Testing
@testable import CouchDBConnector

/// Bad input gives one clear line naming the fix: wrong credentials, an unreachable server, a
/// missing database, bad settings.
@Suite struct CouchDBErrorTests {
    @Test func wrongCredentialsAreAPermanentErrorNamingTheFix() async throws {
        let db = try CouchDBTestDatabase()
        defer { db.drop() }
        var server = db.client.config.server
        server.user = "nobody_\(db.suffix)"
        server.password = "wrong"
        let config = CouchDBStoreConfig(store: "bad", server: server)
        let source = CouchDBSource(config: config)
        await #expect {
            _ = try await source.beginSnapshot(of: [db.spec])
        } throws: { error in
            guard let e = error as? ConnectorError else { return false }
            return e.kind == .permanent && e.message.contains("401") && e.message.contains("fix the user and password") && !e.message.contains("\n")
        }
        let problems = try await source.validate(collections: [db.spec], asSource: true, asSink: true)
        #expect(problems.count == 1)
        #expect(problems.first?.fix.hasPrefix("correct the user and password") == true)
        // The same with cookie authentication.
        server.auth = .cookie
        let cookie = CouchDBSink(config: CouchDBStoreConfig(store: "bad", server: server))
        await #expect {
            _ = try await cookie.apply([DocumentPatch(collection: db.name, key: ["_id": .string("x")], action: .delete)])
        } throws: { error in
            (error as? ConnectorError)?.message.contains("fix the user and password") == true
        }
    }

    @Test func aUserWithoutAccessToTheDatabaseIsToldWhatIsMissing() async throws {
        let db = try CouchDBTestDatabase()
        defer { db.drop() }
        try db.client.send("PUT", "/\(db.name)/_security", body: .object(["members": .object(["names": .array([.string("someone_else")])])]),
                           doing: "restricting the test database")
        var server = db.client.config.server
        server.user = nil
        server.password = nil
        let source = CouchDBSource(config: CouchDBStoreConfig(store: "anon", server: server))
        await #expect {
            _ = try await source.beginSnapshot(of: [db.spec])
        } throws: { error in
            guard let e = error as? ConnectorError else { return false }
            return e.kind == .permanent && e.message.contains("anonymous access") && e.message.contains("— fix")
        }
        let problems = try await source.validate(collections: [db.spec], asSource: true, asSink: true)
        #expect(problems.count == 1, "\(problems)")
    }

    @Test func cookieAuthenticationWorks() async throws {
        let db = try CouchDBTestDatabase()
        defer { db.drop() }
        var server = db.client.config.server
        server.auth = .cookie
        let sink = CouchDBSink(config: CouchDBStoreConfig(store: "cookie", server: server))
        #expect(try await sink.apply([DocumentPatch(collection: db.name, key: ["_id": .string("c")], action: .replace(["v": .int(1)]))]) == [.applied])
        #expect(try db.content("c") == ["v": .int(1)])
    }

    @Test func anUnreachableServerIsTransientAndNamesTheURL() async throws {
        let port = try freeLoopbackPort()
        guard case let .success(server) = CouchDBServer.parse("http://admin:secret@127.0.0.1:\(port)") else { Issue.record("parse"); return }
        let source = CouchDBSource(config: CouchDBStoreConfig(store: "down", server: server))
        await #expect {
            _ = try await source.beginSnapshot(of: [CollectionSpec(name: "x", keyAttributes: ["_id"])])
        } throws: { error in
            guard let e = error as? ConnectorError else { return false }
            return e.kind == .transient && e.message.contains("cannot reach http://127.0.0.1:\(port)") && !e.message.contains("secret")
        }
        let problems = try await source.validate(collections: [CollectionSpec(name: "x", keyAttributes: ["_id"])], asSource: true, asSink: false)
        #expect(problems.first?.problem.contains("cannot reach") == true)
    }

    @Test func validationNamesAMissingDatabaseAndACompositeKey() async throws {
        let db = try CouchDBTestDatabase()
        defer { db.drop() }
        let source = CouchDBSource(config: try db.config())
        let problems = try await source.validate(collections: [CollectionSpec(name: db.name + "_nope", keyAttributes: ["_id"]),
                                                               CollectionSpec(name: db.name, keyAttributes: ["a", "b"]),
                                                               db.spec], asSource: true, asSink: true)
        #expect(problems.count == 2)
        #expect(problems.contains { $0.problem.contains("does not exist") && $0.fix.contains("create: true") })
        #expect(problems.contains { $0.problem.contains("composite key") })
    }

    @Test func factorySettingsAreChecked() throws {
        let factory = CouchDBConnectorFactory()
        func settings(_ values: [String: String]) -> StoreSettings {
            StoreSettings(name: "c", type: "couchdb", values: values, baseDirectory: "/tmp", location: "p.yaml:3")
        }
        let good = try factory.config(settings(["url": "https://u%40x:p%3Aw@db.example.org:6984/couch/", "create": "yes", "auth": "cookie"]))
        #expect(good.server.baseURL == "https://db.example.org:6984/couch")
        #expect(good.server.user == "u@x")
        #expect(good.server.password == "p:w")
        #expect(good.server.auth == .cookie)
        #expect(good.create)
        #expect(good.resolveConflicts)
        let overridden = try factory.config(settings(["url": "http://localhost:5984", "user": "bridge", "password": "s"]))
        #expect(overridden.server.user == "bridge" && overridden.server.password == "s")
        for (values, fragment) in [(["url": "localhost:5984"], "http://"), ([:], "needs 'url'"), (["url": "http://h", "create": "maybe"], "true or false"),
                                   (["url": "http://h", "auth": "jwt"], "basic or cookie"), (["url": "http://h", "auth": "cookie"], "needs a user")] {
            #expect {
                _ = try factory.config(settings(values))
            } throws: { error in
                let m = (error as? ConnectorError)?.message ?? ""
                return m.contains(fragment) && m.hasPrefix("p.yaml:3")
            }
        }
    }
}

/// A loopback port nothing listens on (bound and released).
func freeLoopbackPort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    addr.sin_port = 0
    var len = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) } }
    _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
    return Int(UInt16(bigEndian: addr.sin_port))
}
