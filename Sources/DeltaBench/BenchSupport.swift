#if canImport(Glibc)
import Glibc
#endif

import DeltaConnector

/// Monotonic time in seconds.
func now() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

/// CPU time (user + system) this process has used, in seconds: steadier than wall time on a
/// shared machine, for comparing one build with another.
func processCPUSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

/// Peak resident set size of this process in MiB (VmHWM), since start or the last ``resetPeakRSS()``.
func peakRSSMiB() -> Double {
    guard let f = fopen("/proc/self/status", "r") else { return 0 }
    defer { fclose(f) }
    var line = [CChar](repeating: 0, count: 256)
    while fgets(&line, 256, f) != nil {
        let s = String(decoding: line.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        if s.hasPrefix("VmHWM:") {
            let kb = s.dropFirst(6).split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" }).first.flatMap { Double($0) } ?? 0
            return kb / 1024
        }
    }
    return 0
}

/// Resets the kernel's peak-RSS counter so the next phase is measured on its own.
func resetPeakRSS() {
    guard let f = fopen("/proc/self/clear_refs", "w") else { return }
    fputs("5", f)
    fclose(f)
}

/// A fast deterministic generator for benchmark data.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

func format(_ value: Double) -> String {
    let rounded = Int(value.rounded())
    var digits = String(rounded)
    var out = ""
    while digits.count > 3 {
        out = "," + digits.suffix(3) + out
        digits.removeLast(3)
    }
    return digits + out
}

/// One printed figure against its target.
struct Figure {
    let name: String
    let value: Double
    let unit: String
    let target: String
    let met: Bool

    func print() {
        let mark = met ? "meets" : "MISSES"
        Swift.print("  \(name.rightPad(34)) \(format(value).leftPad(14)) \(unit.rightPad(10)) target \(target) — \(mark)")
    }
}

extension String {
    func leftPad(_ n: Int) -> String { String(repeating: " ", count: max(0, n - count)) + self }
    func rightPad(_ n: Int) -> String { self + String(repeating: " ", count: max(0, n - count)) }
}

/// A suite that cannot run in this build.
struct BenchmarkUnavailable: Error, CustomStringConvertible {
    var suite: String
    var description: String { "the \(suite) suite is not built yet" }
}

/// A connector's snapshot read alone (no engine, no target): every row of `collection` in chunks
/// of `limit`; returns how many rows it read and the snapshot's stream position.
func readWholeSnapshot(_ source: any SourceConnector, _ collection: CollectionSpec, limit: Int = 5000) async throws -> (rows: Int, position: String) {
    let reader = try await source.beginSnapshot(of: [collection])
    var cursor: String?
    var rows = 0
    repeat {
        let chunk = try await reader.read(collection, after: cursor, limit: limit)
        rows += chunk.rows.count
        cursor = chunk.cursor
    } while cursor != nil
    await reader.close()
    return (rows, reader.position)
}
