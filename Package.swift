// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "DeltaBridge",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "deltabridge", targets: ["DeltaBridgeCLI"]),
        .executable(name: "deltabridge-bench", targets: ["DeltaBench"]),
        .library(name: "DeltaCore", targets: ["DeltaCore"]),
        .library(name: "DeltaLedger", targets: ["DeltaLedger"]),
    ],
    dependencies: [
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
    ],
    targets: [
        // Pure value model, stamps, clocks, deltas and merge rules. No I/O.
        .target(name: "DeltaCore"),
        // System SQLite (Debian: libsqlite3-dev).
        .systemLibrary(name: "CSQLite", pkgConfig: "sqlite3", providers: [.apt(["libsqlite3-dev"])]),
        // A thin, safe wrapper over the SQLite C API shared by the ledger and the SQLite connector.
        .target(name: "SQLiteSupport", dependencies: ["CSQLite"]),
        // jemalloc (Debian: libjemalloc-dev) as the process's allocator, configured for the engine.
        .systemLibrary(name: "CJemalloc", pkgConfig: "jemalloc", providers: [.apt(["libjemalloc-dev"])]),
        .target(name: "CAllocator", dependencies: ["CJemalloc"]),
        // The Ledger protocol and its SQLite implementation.
        .target(name: "DeltaLedger", dependencies: ["DeltaCore", "SQLiteSupport"]),
        // The seam between engine and stores: RowChange, DocumentPatch and the connector protocols.
        .target(name: "DeltaConnector", dependencies: ["DeltaCore"]),
        // Pipeline files, flows and mappings, and the engine that runs them.
        .target(name: "DeltaPipeline", dependencies: [
            "DeltaCore", "DeltaConnector", "DeltaLedger", "CAllocator",
            .product(name: "Yams", package: "Yams"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        // Connectors: one module per store, each with source, sink, value mapping, validation and lag.
        .target(name: "SQLiteConnector", dependencies: ["DeltaCore", "DeltaConnector", "SQLiteSupport"], path: "connectors/SQLite"),
        // PostgreSQL: libpq (Debian: libpq-dev) and the pgoutput logical replication protocol.
        .systemLibrary(name: "CLibPQ", path: "connectors/CLibPQ", pkgConfig: "libpq", providers: [.apt(["libpq-dev"])]),
        .target(name: "PostgresConnector", dependencies: ["DeltaCore", "DeltaConnector", "CLibPQ"], path: "connectors/Postgres"),
        // MariaDB: Connector/C (Debian: libmariadb-dev), binlog replication with our own row decoder.
        .systemLibrary(name: "CMariaDB", path: "connectors/CMariaDB", pkgConfig: "libmariadb", providers: [.apt(["libmariadb-dev"])]),
        .target(name: "MariaDBConnector", dependencies: ["DeltaCore", "DeltaConnector", "CMariaDB"], path: "connectors/MariaDB"),
        // MongoDB: libmongoc/libbson (Debian: libmongoc-dev), change streams and bulk writes.
        .systemLibrary(name: "CMongoC", path: "connectors/CMongoC", pkgConfig: "libmongoc-1.0", providers: [.apt(["libmongoc-dev"])]),
        .target(name: "MongoDBConnector", dependencies: ["DeltaCore", "DeltaConnector", "CMongoC"], path: "connectors/MongoDB"),
        // CouchDB: the CouchDB 3 HTTP API over libcurl (Debian: libcurl4-openssl-dev).
        .systemLibrary(name: "CCurl", path: "connectors/CCurl", pkgConfig: "libcurl", providers: [.apt(["libcurl4-openssl-dev"])]),
        .target(name: "CouchDBConnector", dependencies: ["DeltaCore", "DeltaConnector", "CCurl"], path: "connectors/CouchDB"),
        // The `deltabridge` command.
        .executableTarget(name: "DeltaBridgeCLI", dependencies: [
            "DeltaCore", "DeltaConnector", "DeltaLedger", "DeltaPipeline",
            "SQLiteConnector", "PostgresConnector", "MariaDBConnector", "MongoDBConnector", "CouchDBConnector",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ]),
        .executableTarget(name: "DeltaBench", dependencies: [
            "DeltaCore", "DeltaLedger", "DeltaConnector", "DeltaPipeline", "SQLiteConnector", "SQLiteSupport",
            "PostgresConnector", "MariaDBConnector", "MongoDBConnector", "CouchDBConnector",
            .product(name: "Logging", package: "swift-log"),
        ]),

        // Helpers every connector's tests share (timeouts, snapshot reading).
        .target(name: "ConnectorTestSupport", dependencies: ["DeltaCore", "DeltaConnector"], path: "Tests/ConnectorTestSupport"),
        .testTarget(name: "DeltaCoreTests", dependencies: ["DeltaCore"]),
        .testTarget(name: "DeltaPipelineTests", dependencies: ["DeltaCore", "DeltaConnector", "DeltaLedger", "DeltaPipeline"]),
        .testTarget(name: "SQLiteConnectorTests", dependencies: ["ConnectorTestSupport", "DeltaCore", "DeltaConnector", "SQLiteSupport", "SQLiteConnector"]),
        .testTarget(name: "PostgresConnectorTests", dependencies: ["ConnectorTestSupport", "DeltaCore", "DeltaConnector", "PostgresConnector", "DeltaPipeline", "DeltaLedger", "SQLiteConnector"],
                    exclude: ["Fixtures/capture.sh"]),
        .testTarget(name: "MariaDBConnectorTests", dependencies: ["ConnectorTestSupport", "DeltaCore", "DeltaConnector", "DeltaPipeline", "MariaDBConnector", "SQLiteConnector", "PostgresConnector"],
                    exclude: ["Fixtures/capture.sh"]),
        .testTarget(name: "MongoDBConnectorTests", dependencies: ["ConnectorTestSupport", "DeltaCore", "DeltaConnector", "DeltaPipeline", "MongoDBConnector", "SQLiteConnector", "PostgresConnector"]),
        .testTarget(name: "CouchDBConnectorTests", dependencies: ["ConnectorTestSupport", "DeltaCore", "DeltaConnector", "DeltaPipeline", "CouchDBConnector", "SQLiteConnector", "PostgresConnector", "SQLiteSupport"]),
        // Runs the built `deltabridge` binary on temporary pipeline files against real stores.
        .testTarget(name: "EndToEndTests", dependencies: ["DeltaBridgeCLI", "SQLiteSupport"]),
        .testTarget(name: "DeltaLedgerTests", dependencies: ["DeltaCore", "DeltaLedger", "SQLiteSupport", "LedgerCrashChild"]),
        // Child process for the ledger's crash-atomicity test: writes one large batch until killed.
        .executableTarget(name: "LedgerCrashChild", dependencies: ["DeltaCore", "DeltaLedger"], path: "Tests/LedgerCrashChild"),
    ],
    swiftLanguageModes: [.v6]
)
