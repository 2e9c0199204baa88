import ArgumentParser
import DeltaConnector
import DeltaLedger
import DeltaPipeline
import Foundation
import Logging
import CouchDBConnector
import MariaDBConnector
import MongoDBConnector
import PostgresConnector
import SQLiteConnector

/// Every store type this build of `deltabridge` knows.
func makeRegistry() -> ConnectorRegistry {
    ConnectorRegistry([
        SQLiteConnectorFactory(), PostgresConnectorFactory(warn: { Logger(label: "deltabridge.postgres").warning("\($0)") }), MariaDBConnectorFactory(), MongoDBConnectorFactory(), CouchDBConnectorFactory(),
    ])
}

/// Prints a one-line error to stderr and exits with `code` (2: bad input, 1: failure at run time).
func fail(_ message: String, code: Int32 = 2) -> Never {
    FileHandle.standardError.write(Data(("deltabridge: " + message + "\n").utf8))
    exit(code)
}

/// Loads the pipelines at `path` (a file or a folder), turning any error into a one-line exit 2.
func loadPipelines(_ path: String) -> [PipelineConfig] {
    do {
        return try PipelineLoader.loadAll(path: path, environment: ProcessInfo.processInfo.environment, storeTypes: makeRegistry().storeTypes)
    } catch let error as PipelineError {
        fail(error.message)
    } catch {
        fail("\(path): \(error)")
    }
}

func bootstrapLogging(_ level: Logger.Level) {
    LoggingSystem.bootstrap { label in
        var handler = StreamLogHandler.standardError(label: label)
        handler.logLevel = level
        return handler
    }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}

func nowMicros() -> Int64 {
    Int64(Date().timeIntervalSince1970 * 1_000_000)
}
