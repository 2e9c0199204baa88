import DeltaConnector
import MariaDBConnector
import Testing

@Suite struct MariaDBFactoryTests {
    @Test func theStoreTypeIsNamed() {
        #expect(MariaDBConnectorFactory().type == "mariadb")
    }

    @Test func theSourceStreamsInBatchesOfThePipelinesSize() throws {
        let settings = StoreSettings(name: "m", type: "mariadb", values: ["url": "mysql://bridge@db:3306/app"], baseDirectory: "/tmp",
                                     location: "p.yaml:3", batchSize: 250)
        #expect(try #require(try MariaDBConnectorFactory().makeSource(settings) as? MariaDBSource).batchLimit == 250)
    }
}
