import DeltaConnector
import CouchDBConnector
import Testing

@Suite struct CouchDBFactoryTests {
    @Test func theStoreTypeIsNamed() {
        #expect(CouchDBConnectorFactory().type == "couchdb")
    }

    @Test func theSourceReadsInBatchesOfThePipelinesSize() throws {
        let settings = StoreSettings(name: "c", type: "couchdb", values: ["url": "http://db:5984/app"], baseDirectory: "/tmp",
                                     location: "p.yaml:3", batchSize: 250)
        #expect(try #require(try CouchDBConnectorFactory().makeSource(settings) as? CouchDBSource).batchLimit == 250)
    }
}
