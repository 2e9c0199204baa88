// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "DeltaBridge",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "deltabridge-bench", targets: ["DeltaBench"]),
        .library(name: "DeltaCore", targets: ["DeltaCore"]),
        .library(name: "DeltaLedger", targets: ["DeltaLedger"]),
    ],
    targets: [
        // Pure value model, stamps, clocks, deltas and merge rules. No I/O.
        .target(name: "DeltaCore"),
        // System SQLite (Debian: libsqlite3-dev).
        .systemLibrary(name: "CSQLite", pkgConfig: "sqlite3", providers: [.apt(["libsqlite3-dev"])]),
        // A thin, safe wrapper over the SQLite C API shared by the ledger and the SQLite connector.
        .target(name: "SQLiteSupport", dependencies: ["CSQLite"]),
        // The Ledger protocol and its SQLite implementation.
        .target(name: "DeltaLedger", dependencies: ["DeltaCore", "SQLiteSupport"]),
        .executableTarget(name: "DeltaBench", dependencies: ["DeltaCore", "DeltaLedger"]),

        .testTarget(name: "DeltaCoreTests", dependencies: ["DeltaCore"]),
        .testTarget(name: "DeltaLedgerTests", dependencies: ["DeltaCore", "DeltaLedger", "SQLiteSupport", "LedgerCrashChild"]),
        // Child process for the ledger's crash-atomicity test: writes one large batch until killed.
        .executableTarget(name: "LedgerCrashChild", dependencies: ["DeltaCore", "DeltaLedger"], path: "Tests/LedgerCrashChild"),
    ],
    swiftLanguageModes: [.v6]
)
