import DeltaPipeline
import Foundation
import Testing

/// Shared helpers of the Config* test suites: temp folders, writing files, asserting one-line errors.
enum ConfigTestSupport {
    /// Store types as the engine would register them: type → accepted setting keys.
    static let storeTypes: [String: Set<String>] = [
        "sqlite": ["path", "journal"],
        "postgres": ["url", "password", "slot", "publication"],
    ]

    /// A fresh, empty folder under the temporary directory.
    static func makeFolder() throws -> String {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("deltabridge-config-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return URL(fileURLWithPath: url.path).standardizedFileURL.path
    }

    @discardableResult
    static func write(_ text: String, to folder: String, name: String = "pipeline.yaml") throws -> String {
        let path = folder + "/" + name
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    static func remove(_ folder: String) {
        try? FileManager.default.removeItem(atPath: folder)
    }

    /// Writes `yaml` to a temp file, loads it and returns the config (the folder is removed).
    static func load(_ yaml: String, environment: [String: String] = [:]) throws -> (PipelineConfig, folder: String) {
        let folder = try makeFolder()
        let file = try write(yaml, to: folder)
        return (try PipelineLoader.load(file: file, environment: environment, storeTypes: storeTypes), folder)
    }

    /// Loads `yaml` expecting a failure, and checks the message is one line `FILE:LINE: what — fix`
    /// containing every fragment.
    static func expectError(_ yaml: String, line: Int?, _ fragments: [String], environment: [String: String] = [:],
                            sourceLocation: SourceLocation = #_sourceLocation) throws {
        let folder = try makeFolder()
        defer { remove(folder) }
        let file = try write(yaml, to: folder)
        do {
            let config = try PipelineLoader.load(file: file, environment: environment, storeTypes: storeTypes)
            Issue.record("expected an error, loaded pipeline '\(config.name)'", sourceLocation: sourceLocation)
        } catch let error as PipelineError {
            checkOneLine(error, file: file, line: line, fragments, sourceLocation: sourceLocation)
        }
    }

    static func checkOneLine(_ error: PipelineError, file: String, line: Int?, _ fragments: [String],
                             sourceLocation: SourceLocation = #_sourceLocation) {
        let message = error.message
        let prefix = line.map { "\(file):\($0): " } ?? "\(file): "
        #expect(message.hasPrefix(prefix), "expected prefix '\(prefix)' in: \(message)", sourceLocation: sourceLocation)
        #expect(!message.contains("\n") && !message.contains("\r"), "not one line: \(message)", sourceLocation: sourceLocation)
        #expect(message.contains(" — "), "no '— fix' part: \(message)", sourceLocation: sourceLocation)
        #expect(error.description == message, sourceLocation: sourceLocation)
        #expect(error.file == file && error.line == line, "file/line \(error.file):\(String(describing: error.line))", sourceLocation: sourceLocation)
        for fragment in fragments {
            #expect(message.contains(fragment), "missing '\(fragment)' in: \(message)", sourceLocation: sourceLocation)
        }
    }

    /// A minimal valid pipeline (12 lines); `variant` replaces whole lines (1-based) with other text,
    /// which may span several lines or be empty to drop the line.
    static let baseLines = [
        "pipeline: t",                                  // 1
        "stores:",                                      // 2
        "  left: { type: sqlite, path: l.db }",         // 3
        "  right: { type: sqlite, path: r.db }",        // 4
        "flows:",                                       // 5
        "  - name: people",                             // 6
        "    two_way: [left, right]",                   // 7
        "    collections:",                             // 8
        "      - namespace: people",                    // 9
        "        stores:",                              // 10
        "          left: { table: people, key: id }",   // 11
        "          right: { table: people, key: id }",  // 12
    ]

    static func variant(_ replacements: [Int: String] = [:], appending extra: [String] = []) -> String {
        var lines = [String]()
        for (index, line) in baseLines.enumerated() {
            if let replacement = replacements[index + 1] {
                if !replacement.isEmpty { lines.append(replacement) }
            } else {
                lines.append(line)
            }
        }
        return (lines + extra).joined(separator: "\n") + "\n"
    }
}
