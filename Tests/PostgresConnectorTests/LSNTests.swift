import Testing
@testable import PostgresConnector

@Suite struct LSNTests {
    @Test func parsesAndFormatsLikePostgreSQL() {
        #expect(LSN("0/16B3748")?.value == 0x16B3748)
        #expect(LSN("0/16b3748")?.value == 0x16B3748)
        #expect(LSN("1/0")?.value == 1 << 32)
        #expect(LSN("FFFFFFFF/FFFFFFFF")?.value == UInt64.max)
        #expect(LSN(0x16B3748).description == "0/16B3748")
        #expect(LSN(0).description == "0/0")
        #expect(LSN(UInt64.max).description == "FFFFFFFF/FFFFFFFF")
        #expect(LSN(0xAB_0000_00CD).description == "AB/CD")
        #expect(LSN.invalid.value == 0)
    }

    @Test func roundTrips() {
        var x: UInt64 = 0x9E37_79B9_7F4A_7C15
        for shift in 0..<64 {
            for v in [x, x >> UInt64(shift), UInt64(1) << UInt64(shift), (UInt64(1) << UInt64(shift)) &- 1] {
                #expect(LSN(LSN(v).description) == LSN(v))
            }
            x = x &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        }
    }

    @Test func rejectsMalformedText() {
        for bad in ["", "0", "/", "/1", "1/", "G/1", "1/G", "123456789/0", "0/123456789", "0/0/0", " 0/1", "0/1 ",
                    "+1/1", "-1/1", "0x1/1", "1:1", "１/1"] {
            #expect(LSN(bad) == nil, "\(bad)")
        }
    }

    @Test func ordersAsUnsignedNumbers() {
        #expect(LSN("0/FFFFFFFF")! < LSN("1/0")!)
        #expect(LSN("FFFFFFFF/0")! > LSN("7FFFFFFF/FFFFFFFF")!)
        #expect([LSN(3), LSN(1), LSN(2)].sorted() == [LSN(1), LSN(2), LSN(3)])
    }
}
