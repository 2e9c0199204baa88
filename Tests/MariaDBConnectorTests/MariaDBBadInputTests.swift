import DeltaConnector
import DeltaCore
import Foundation
import Testing
@testable import MariaDBConnector

/// Bad settings and missing prerequisites: one-line errors that name the fix.
@Suite struct MariaDBBadInputTests {
    @Test func urlsParseOrSayWhy() {
        guard case let .success(u) = MariaDBURL.parse("mysql://bri%40dge:p%3Ass@db.example:3307/app") else { Issue.record("no parse"); return }
        #expect(u == MariaDBURL(user: "bri@dge", password: "p:ss", host: "db.example", port: 3307, database: "app"))
        guard case let .success(v) = MariaDBURL.parse("mariadb://[::1]/") else { Issue.record("no parse"); return }
        #expect(v.host == "::1" && v.port == 3306 && v.database == nil && v.user == "root")
        for bad in ["postgresql://x/y", "mysql://host:99999/x", "mysql:///db", "host:3306"] {
            guard case .failure = MariaDBURL.parse(bad) else { Issue.record("\(bad) parsed"); continue }
        }
    }

    @Test func factorySettingsAreChecked() throws {
        let f = MariaDBConnectorFactory()
        func settings(_ values: [String: String]) -> StoreSettings {
            StoreSettings(name: "m", type: "mariadb", values: values, baseDirectory: "/tmp", location: "p.yaml:3")
        }
        #expect(throws: ConnectorError.self) { _ = try f.config(settings([:])) }
        do {
            _ = try f.config(settings(["url": "http://x"]))
            Issue.record("accepted http://")
        } catch {
            #expect("\(error)".hasPrefix("p.yaml:3: store 'm' (mariadb): 'url' is not a MariaDB URL"))
        }
        #expect(throws: ConnectorError.self) { _ = try f.config(settings(["url": "mysql://h/db", "server_id": "0"])) }
        let c = try f.config(settings(["url": "mysql://h/db", "server_id": "77", "time_column": "updated_at"]))
        #expect(c.serverID == 77 && c.timeColumn == "updated_at")
        let d = try f.config(settings(["url": "mysql://h/db"]))
        let spec = CollectionSpec(name: "t", keyAttributes: ["id"])
        #expect(d.replicaServerID(for: [spec]) >= 1_000_000)
        #expect(d.replicaServerID(for: [spec]) != d.replicaServerID(for: [CollectionSpec(name: "u", keyAttributes: ["id"])]))
    }

    @Test func anUnreachableServerIsATransientErrorNamingHostAndPort() async throws {
        _ = try MariaDBTestServer.url()
        let config = MariaDBStoreConfig(store: "m", url: MariaDBURL(user: "root", password: nil, host: "127.0.0.1", port: 1, database: "x"))
        let source = MariaDBSource(config: config)
        do {
            _ = try await source.beginSnapshot(of: [CollectionSpec(name: "t", keyAttributes: ["id"])])
            Issue.record("connected to port 1")
        } catch let e as ConnectorError {
            #expect(e.kind == .transient)
            #expect(e.message.contains("127.0.0.1:1") && e.message.contains("check that MariaDB is running"))
            #expect(!e.message.contains("\n"))
        }
    }

    @Test func wrongCredentialsAndMissingPrivilegesNameTheFix() async throws {
        let db = try MariaDBTestDatabase()
        defer { db.drop() }
        try db.exec("CREATE TABLE items (id INT PRIMARY KEY)")
        let user = "u_" + db.suffix
        try db.exec("CREATE USER '\(user)'@'%' IDENTIFIED BY 'pw'")
        defer { _ = try? db.exec("DROP USER '\(user)'@'%'") }
        try db.exec("GRANT SELECT ON \(db.name).* TO '\(user)'@'%'")
        var url = db.url
        url.user = user
        url.password = "wrong"
        let spec = CollectionSpec(name: "items", keyAttributes: ["id"])
        let bad = MariaDBSource(config: MariaDBStoreConfig(store: "m", url: url))
        let problems = try await bad.validate(collections: [spec], asSource: true, asSink: false)
        #expect(problems.count == 1)
        #expect(problems.first?.fix.contains("fix the user or password") == true)
        #expect(problems.first?.problem.contains("refused user") == true)
        url.password = "pw"
        let weak = MariaDBSource(config: MariaDBStoreConfig(store: "m", url: url))
        let missing = try await weak.validate(collections: [spec, CollectionSpec(name: "absent", keyAttributes: ["id"])], asSource: true, asSink: true)
        let text = missing.map(\.description).joined(separator: "\n")
        #expect(text.contains("GRANT REPLICATION SLAVE ON *.*"))
        #expect(text.contains("GRANT BINLOG MONITOR ON *.*"))
        #expect(text.contains("lacks INSERT, UPDATE, DELETE"))
        #expect(text.contains("absent does not exist"))
        let root = MariaDBSource(config: db.config())
        #expect(try await root.validate(collections: [spec], asSource: true, asSink: true).isEmpty)
    }
}
