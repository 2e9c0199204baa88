/// An error of libmongoc or the server: its domain and code (see `mongoc-error.h` and the server's
/// error codes), the message, and the server's reply when there was one.
///
/// Invariant: `message` is one line.
struct MongoServerError: Error, Sendable, CustomStringConvertible {
    var domain: UInt32
    var code: UInt32
    var message: String
    var reply: BSONDocument?

    /// libmongoc's error domains that mean "could not talk to the server".
    static let streamDomain: UInt32 = 2
    static let protocolDomain: UInt32 = 3
    static let serverSelectionDomain: UInt32 = 15
    static let saslDomain: UInt32 = 7
    static let scramDomain: UInt32 = 14
    static let clientDomain: UInt32 = 1
    /// MONGOC_ERROR_CLIENT_AUTHENTICATE in the client domain.
    static let clientAuthenticate: UInt32 = 11

    /// Server error codes the connector acts on.
    enum Code {
        static let unauthorized: UInt32 = 13
        static let authenticationFailed: UInt32 = 18
        static let duplicateKey: UInt32 = 11000
        static let changeStreamFatal: UInt32 = 280
        static let changeStreamHistoryLost: UInt32 = 286
        static let cappedPositionLost: UInt32 = 136
        static let commandNotFound: UInt32 = 59
        static let notWritablePrimary: UInt32 = 10107
        static let interrupted: Set<UInt32> = [11600, 11602, 91, 189, 10107, 13435, 13436, 6, 7, 89, 9001, 262, 63, 150, 234, 133]
    }

    var description: String { message }

    /// The server could not be reached or the connection broke: retrying later can help.
    var isConnectionProblem: Bool {
        domain == Self.streamDomain || domain == Self.serverSelectionDomain || domain == Self.protocolDomain
            || Code.interrupted.contains(code)
    }

    var isAuthentication: Bool {
        code == Code.authenticationFailed || domain == Self.saslDomain || domain == Self.scramDomain
            || (domain == Self.clientDomain && code == Self.clientAuthenticate) || message.contains("Authentication failed")
    }

    var isUnauthorized: Bool { code == Code.unauthorized || message.contains("not authorized") }

    var isHistoryLost: Bool {
        code == Code.changeStreamHistoryLost || code == Code.cappedPositionLost
            || message.contains("resume point may no longer be in the oplog") || message.contains("ChangeStreamHistoryLost")
    }
}
