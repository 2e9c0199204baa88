/// A problem in a pipeline file, reported as exactly one line: `FILE:LINE: what is wrong — how to fix it`
/// (just `FILE:` when no line is known, e.g. a missing file).
///
/// Invariant: `message` never contains a line break, so it can be printed or logged as is.
public struct PipelineError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The pipeline file (or folder) as the caller named it.
    public let file: String
    /// 1-based line of the problem, when known.
    public let line: Int?
    /// The whole one-line message.
    public let message: String

    public init(file: String, line: Int?, problem: String, fix: String) {
        self.file = file
        self.line = line
        let place = line.map { "\(file):\($0)" } ?? file
        self.message = PipelineError.oneLine("\(place): \(problem) — \(fix)")
    }

    public var description: String { message }

    static func oneLine(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\n", "\r", "\t", "\u{0B}", "\u{0C}", "\u{85}", "\u{2028}", "\u{2029}": out.unicodeScalars.append(" ")
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }
}
