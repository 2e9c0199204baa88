import DeltaCore
import Foundation

/// The state of one source of a flow as the daemon last saw it; kept in the checkpoint's `extra`
/// JSON so that `deltabridge lag` can show it whether or not the daemon runs.
public struct FlowStatus: Sendable, Equatable {
    public enum Phase: String, Sendable { case snapshot, streaming }
    public enum State: String, Sendable { case running, retrying, stopped, idle }

    public var phase: Phase = .snapshot
    public var state: State = .running
    /// Why the flow is retrying or stopped.
    public var reason: String?
    public var snapshotDone: Int64 = 0
    public var snapshotTotal: Int64?
    /// Events applied per second over the last measurement window.
    public var eventsPerSecond: Double = 0

    public init() {}

    /// The status as a JSON object with sorted keys. Written by hand: the engine writes it with
    /// every batch's checkpoint, where Foundation's serializer cost more than the rest of the
    /// checkpoint.
    public var json: String {
        let rate = (eventsPerSecond * 10).rounded() / 10
        var out = "{\"events_per_second\":"
        out += rate.isFinite ? (rate == rate.rounded() && abs(rate) < 1e15 ? String(Int64(rate)) : "\(rate)") : "0"
        out += ",\"phase\":"
        JSONText.quote(phase.rawValue, into: &out)
        if let reason {
            out += ",\"reason\":"
            JSONText.quote(reason, into: &out)
        }
        out += ",\"snapshot_done\":\(snapshotDone)"
        if let snapshotTotal { out += ",\"snapshot_total\":\(snapshotTotal)" }
        out += ",\"state\":"
        JSONText.quote(state.rawValue, into: &out)
        out += "}"
        return out
    }

    public init(json: String?) {
        guard let json, let data = json.data(using: .utf8),
              let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else { return }
        phase = (object["phase"] as? String).flatMap(Phase.init(rawValue:)) ?? .snapshot
        state = (object["state"] as? String).flatMap(State.init(rawValue:)) ?? .running
        reason = object["reason"] as? String
        snapshotDone = (object["snapshot_done"] as? NSNumber)?.int64Value ?? 0
        snapshotTotal = (object["snapshot_total"] as? NSNumber)?.int64Value
        eventsPerSecond = (object["events_per_second"] as? NSNumber)?.doubleValue ?? 0
    }

    /// `snapshotting 42%`, `streaming`, `retrying: store down`, `stopped: ...`.
    public var summary: String {
        switch state {
        case .retrying: return "retrying: \(reason ?? "unknown error")"
        case .stopped: return "stopped: \(reason ?? "stopped")"
        case .running, .idle:
            if phase == .snapshot {
                if let total = snapshotTotal, total > 0 {
                    return "snapshotting \(min(100, snapshotDone * 100 / total))%"
                }
                return "snapshotting \(snapshotDone) rows"
            }
            return "streaming"
        }
    }
}
