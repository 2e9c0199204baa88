import DeltaCore
import DeltaLedger
import Foundation

/// A fresh temporary folder for one test, removed when the test's scope ends.
final class TemporaryDirectory {
    let path: String

    init() throws {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("deltabridge-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: base, withIntermediateDirectories: true)
        path = base.path
    }

    func file(_ name: String) -> String { path + "/" + name }

    deinit { try? FileManager.default.removeItem(atPath: path) }
}

/// Where the package's built executables live: beside the test bundle.
func builtProduct(_ name: String) -> String {
    let bundleDir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    for dir in [bundleDir, bundleDir.deletingLastPathComponent()] {
        let candidate = dir.appendingPathComponent(name).path
        if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
    }
    return bundleDir.appendingPathComponent(name).path
}

func set(_ ns: Namespace, _ key: Int, _ attr: String, _ value: Value, time: Int64, counter: UInt32 = 0, origin: StoreID = "a") -> Delta {
    Delta(namespace: ns, key: DocumentKey(.int(Int64(key))), change: .set(attr, value), stamp: Stamp(time: time, counter: counter, origin: origin))
}

func tombstone(_ ns: Namespace, _ key: Int, time: Int64, origin: StoreID = "a") -> Delta {
    Delta(namespace: ns, key: DocumentKey(.int(Int64(key))), change: .tombstone, stamp: Stamp(time: time, origin: origin))
}
