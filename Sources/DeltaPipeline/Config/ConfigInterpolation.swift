/// `${VAR}` / `${VAR:-default}` interpolation of pipeline-file scalars; `$$` is a literal `$`.
///
/// A `$` followed by anything else is kept as is. `${VAR:-default}` uses the default when VAR is
/// unset or empty (as in POSIX shells); the default may itself contain `${...}` and is only
/// evaluated when used.
enum ConfigInterpolation {
    enum Failure: Error, Equatable {
        /// A variable without default is not set.
        case unset(String)
        /// `${` without a valid name, an unknown operator or no closing brace; carries the text.
        case malformed(String)
    }

    static func apply(_ text: String, environment: [String: String]) throws(Failure) -> String {
        guard text.contains("$") else { return text }
        let chars = Array(text.unicodeScalars)
        var out = String.UnicodeScalarView()
        var i = 0
        while i < chars.count {
            let c = chars[i]
            guard c == "$", i + 1 < chars.count else {
                out.append(c)
                i += 1
                continue
            }
            if chars[i + 1] == "$" {
                out.append("$")
                i += 2
                continue
            }
            guard chars[i + 1] == "{" else {
                out.append(c)
                i += 1
                continue
            }
            // Find the matching closing brace, skipping `$$` and nested `${...}`.
            var depth = 1
            var j = i + 2
            while j < chars.count {
                if chars[j] == "$", j + 1 < chars.count, chars[j + 1] == "$" { j += 2; continue }
                if chars[j] == "$", j + 1 < chars.count, chars[j + 1] == "{" { depth += 1; j += 2; continue }
                if chars[j] == "}" {
                    depth -= 1
                    if depth == 0 { break }
                }
                j += 1
            }
            guard j < chars.count else {
                throw .malformed(String(String.UnicodeScalarView(chars[i...])))
            }
            let inner = chars[(i + 2)..<j]
            var nameEnd = inner.startIndex
            while nameEnd < inner.endIndex, isNameScalar(inner[nameEnd], first: nameEnd == inner.startIndex) { nameEnd += 1 }
            let name = String(String.UnicodeScalarView(inner[inner.startIndex..<nameEnd]))
            let rest = inner[nameEnd...]
            let whole = String(String.UnicodeScalarView(chars[i...j]))
            guard !name.isEmpty else { throw .malformed(whole) }
            if rest.isEmpty {
                guard let value = environment[name] else { throw .unset(name) }
                out.append(contentsOf: value.unicodeScalars)
            } else if rest.count >= 2, rest[rest.startIndex] == ":", rest[rest.startIndex + 1] == "-" {
                if let value = environment[name], !value.isEmpty {
                    out.append(contentsOf: value.unicodeScalars)
                } else {
                    let fallback = String(String.UnicodeScalarView(rest.dropFirst(2)))
                    out.append(contentsOf: try apply(fallback, environment: environment).unicodeScalars)
                }
            } else {
                throw .malformed(whole)
            }
            i = j + 1
        }
        return String(out)
    }

    private static func isNameScalar(_ s: Unicode.Scalar, first: Bool) -> Bool {
        switch s {
        case "A"..."Z", "a"..."z", "_": return true
        case "0"..."9": return !first
        default: return false
        }
    }
}

/// Spelling suggestions for unknown keys, types and names.
enum ConfigSuggestion {
    /// The candidate closest to `word` (optimal string alignment distance, case-insensitive) when
    /// it is close enough to be a likely typo; ties go to the earlier candidate.
    static func closest(to word: String, in candidates: [String]) -> String? {
        let w = Array(word.lowercased())
        var best: (String, Int)?
        for candidate in candidates {
            let d = distance(w, Array(candidate.lowercased()))
            let limit = min(2, max(1, candidate.count / 3))
            guard d <= limit, d < candidate.count else { continue }
            if best == nil || d < best!.1 { best = (candidate, d) }
        }
        return best?.0
    }

    /// Levenshtein distance with adjacent transpositions counting as one edit.
    static func distance(_ a: [Character], _ b: [Character]) -> Int {
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var d = Array(repeating: Array(repeating: 0, count: b.count + 1), count: a.count + 1)
        for i in 0...a.count { d[i][0] = i }
        for j in 0...b.count { d[0][j] = j }
        for i in 1...a.count {
            for j in 1...b.count {
                let cost = a[i - 1] == b[j - 1] ? 0 : 1
                d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost)
                if i > 1, j > 1, a[i - 1] == b[j - 2], a[i - 2] == b[j - 1] {
                    d[i][j] = min(d[i][j], d[i - 2][j - 2] + 1)
                }
            }
        }
        return d[a.count][b.count]
    }
}
