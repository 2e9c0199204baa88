import DeltaPipeline
import Foundation
import Testing

@Suite struct FlowStatusTests {
    @Test func statusRoundTripsThroughItsJSON() throws {
        var statuses: [FlowStatus] = [FlowStatus()]
        var retrying = FlowStatus()
        retrying.phase = .streaming
        retrying.state = .retrying
        retrying.reason = "store \"pg\" down:\n\tconnection refused — é 😀 \\ \u{1}"
        retrying.eventsPerSecond = 1234.56
        statuses.append(retrying)
        var snapshotting = FlowStatus()
        snapshotting.snapshotDone = 42
        snapshotting.snapshotTotal = 9_000_000_000
        snapshotting.eventsPerSecond = 12
        statuses.append(snapshotting)
        for status in statuses {
            let json = status.json
            var expected = status
            expected.eventsPerSecond = (status.eventsPerSecond * 10).rounded() / 10
            #expect(FlowStatus(json: json) == expected, "\(json)")
            // Any JSON reader takes it, and its keys are sorted.
            let object = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
            #expect(object["phase"] as? String == status.phase.rawValue)
            let offsets = object.keys.sorted().map { json.range(of: "\"\($0)\":")!.lowerBound }
            #expect(offsets == offsets.sorted())
        }
        #expect(statuses[1].json.contains("\"events_per_second\":1234.6"))
        #expect(statuses[2].json == #"{"events_per_second":12,"phase":"snapshot","snapshot_done":42,"snapshot_total":9000000000,"state":"running"}"#)
    }
}
