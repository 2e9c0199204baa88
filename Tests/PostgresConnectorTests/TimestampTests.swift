import Testing
import DeltaCore
@testable import PostgresConnector

@Suite struct TimestampTests {
    private func iso(_ s: String) -> Int64 { Timestamps.parseISO8601(s)! }

    @Test func parsesServerOutputWithOffsets() {
        let noon = iso("2024-06-01T12:00:00Z")
        #expect(PostgresTimestamp.parse("2024-06-01 12:00:00+00") == noon)
        #expect(PostgresTimestamp.parse("2024-06-01 17:30:00+05:30") == noon)
        #expect(PostgresTimestamp.parse("2024-06-01 08:30:00-03:30") == noon)
        #expect(PostgresTimestamp.parse("2024-06-02 02:00:00+14") == noon)
        #expect(PostgresTimestamp.parse("2024-06-01 00:00:00-12") == noon)
        #expect(PostgresTimestamp.parse("1900-01-01 05:21:10+05:21:10") == iso("1900-01-01T00:00:00Z"))
        #expect(PostgresTimestamp.parse("1900-01-01 00:00:00-00:17:30") == iso("1900-01-01T00:17:30Z"))
        #expect(PostgresTimestamp.parse("2024-06-01 17:30:00+0530") == noon)
        #expect(PostgresTimestamp.parse("2024-06-01T12:00:00Z") == noon)
        #expect(PostgresTimestamp.parse("2024-06-01 12:00:00") == noon)
        #expect(PostgresTimestamp.parse("2024-06-01 12:00") == noon)
        #expect(PostgresTimestamp.parse("2024-06-01") == iso("2024-06-01T00:00:00Z"))
    }

    @Test func fractionalSeconds() {
        let base = iso("2024-02-29T23:59:59Z")
        #expect(PostgresTimestamp.parse("2024-02-29 23:59:59.5+00") == base + 500_000)
        #expect(PostgresTimestamp.parse("2024-02-29 23:59:59.123+00") == base + 123_000)
        #expect(PostgresTimestamp.parse("2024-02-29 23:59:59.123456+00") == base + 123_456)
        #expect(PostgresTimestamp.parse("2024-02-29 23:59:59.000001-01") == base + 3_600_000_001)
        #expect(PostgresTimestamp.parse("2024-02-29 23:59:59.1234569") == base + 123_456)
        #expect(PostgresTimestamp.parse("1969-12-31 23:59:59.999999+00") == -1)
    }

    @Test func erasAndSpecialValues() {
        #expect(PostgresTimestamp.parse("infinity") == Int64.max)
        #expect(PostgresTimestamp.parse("-infinity") == Int64.min)
        #expect(PostgresTimestamp.parse("0001-01-01 00:00:00+00") == -62_135_596_800_000_000)
        // 1 BC is astronomical year 0, a leap year.
        #expect(PostgresTimestamp.parse("0001-12-31 00:00:00+00 BC") == -62_135_596_800_000_000 - 86_400_000_000)
        #expect(PostgresTimestamp.parse("0001-02-29 00:00:00 BC") != nil)
        #expect(PostgresTimestamp.parse("4714-11-24 00:00:00+00 BC") == PostgresTimestamp.minimumMicros)
        #expect(PostgresTimestamp.parse("10000-01-01 00:00:00+00") == 253_402_300_800_000_000)
        #expect(PostgresTimestamp.parse("294247-01-10 04:00:54.775806+00") == Int64.max - 1)
        // PostgreSQL goes on to 294276 AD, past what Int64 Unix microseconds can hold.
        #expect(PostgresTimestamp.parse("294247-01-10 04:00:54.775807+00") == nil)
        #expect(PostgresTimestamp.parse("294276-12-31 23:59:59.999999+00") == nil)
    }

    @Test func rejectsInvalidText() {
        for bad in ["", "2024", "2024-1-01", "2024-13-01", "2024-00-10", "2023-02-29", "2024-04-31", "2024-06-01 25:00:00",
                    "2024-06-01 12:60:00", "2024-06-01 12:00:00.", "2024-06-01 12:00:00+5", "2024-06-01 12:00:00+16",
                    "2024-06-01 12:00:00+05:", "2024-06-01 12:00:00 +00", "2024-06-01 12:00:00+00 AD", "0000-01-01 00:00:00 BC",
                    "Infinity", "2024-06-01  12:00", "2024-06-01 12:00:00Z+00", "1234567890-01-01"] {
            #expect(PostgresTimestamp.parse(bad) == nil, "\(bad)")
        }
    }

    @Test func formatsLikePostgreSQL() {
        #expect(PostgresTimestamp.format(iso("2024-02-29T23:59:59.123456Z")) == "2024-02-29 23:59:59.123456+00")
        #expect(PostgresTimestamp.format(iso("2024-02-29T23:59:59.5Z")) == "2024-02-29 23:59:59.5+00")
        #expect(PostgresTimestamp.format(0, withOffset: false) == "1970-01-01 00:00:00")
        #expect(PostgresTimestamp.format(-1) == "1969-12-31 23:59:59.999999+00")
        #expect(PostgresTimestamp.format(-62_135_596_800_000_000 - 86_400_000_000) == "0001-12-31 00:00:00+00 BC")
        #expect(PostgresTimestamp.format(253_402_300_800_000_000) == "10000-01-01 00:00:00+00")
        #expect(PostgresTimestamp.format(Int64.max) == "infinity")
        #expect(PostgresTimestamp.format(Int64.min) == "-infinity")
        #expect(PostgresTimestamp.formatDate(iso("2024-02-29T23:59:59Z")) == "2024-02-29")
        #expect(PostgresTimestamp.formatDate(iso("-0043-03-15T00:00:00Z")) == "0044-03-15 BC")
    }

    @Test func formatParseRoundTrip() {
        var rng = SplitMix(seed: 2000)
        let span = UInt64(9_000_000_000_000_000_000 as Int64 - PostgresTimestamp.minimumMicros)
        for _ in 0..<5000 {
            let t = PostgresTimestamp.minimumMicros + Int64(bitPattern: rng.next() % span)
            #expect(PostgresTimestamp.parse(PostgresTimestamp.format(t)) == t)
            #expect(PostgresTimestamp.parse(PostgresTimestamp.format(t, withOffset: false)) == t)
        }
    }

    @Test func postgresEpoch() {
        #expect(PostgresTimestamp.unixMicros(fromPostgres: 0) == iso("2000-01-01T00:00:00Z"))
        #expect(PostgresTimestamp.unixMicros(fromPostgres: -PostgresTimestamp.postgresEpochOffsetMicros) == 0)
        #expect(PostgresTimestamp.unixMicros(fromPostgres: Int64.max) == nil)
    }
}
