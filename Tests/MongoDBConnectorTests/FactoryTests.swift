import DeltaConnector
import MongoDBConnector
import Testing

@Suite struct MongoDBFactoryTests {
    func settings(_ values: [String: String]) -> StoreSettings {
        StoreSettings(name: "m", type: "mongodb", values: values, baseDirectory: "/tmp", location: "p.yaml:3")
    }

    @Test func theSourceStreamsInBatchesOfThePipelinesSize() throws {
        var sized = settings(["url": "mongodb://h:27017/app?replicaSet=rs0"])
        sized.batchSize = 250
        #expect(try #require(try MongoDBConnectorFactory().makeSource(sized) as? MongoSource).batchLimit == 250)
    }

    @Test func theStoreTypeIsNamed() {
        #expect(MongoDBConnectorFactory().type == "mongodb")
        #expect(MongoDBConnectorFactory().settingKeys == ["url", "database", "nested", "max_downtime"])
    }

    @Test func theDatabaseComesFromTheURLOrTheSetting() throws {
        let factory = MongoDBConnectorFactory()
        let fromURL = try factory.config(settings(["url": "mongodb://h:27017/app?replicaSet=rs0"]))
        #expect(fromURL.database == "app")
        #expect(fromURL.nesting == .top)
        #expect(fromURL.maxDowntimeSeconds == 3600)
        let set = try factory.config(settings(["url": "mongodb://h:27017/app", "database": "other", "nested": "paths", "max_downtime": "6h"]))
        #expect(set.database == "other")
        #expect(set.nesting == .paths)
        #expect(set.maxDowntimeSeconds == 6 * 3600)
    }

    @Test func badSettingsAreOneLineWithTheFix() {
        let factory = MongoDBConnectorFactory()
        let cases: [([String: String], String)] = [
            ([:], "needs 'url'"),
            (["url": "http://nope"], "not a valid MongoDB connection string"),
            (["url": "mongodb://h:27017/"], "needs a database"),
            (["url": "mongodb://h/app", "nested": "deep"], "nested: top"),
            (["url": "mongodb://h/app", "max_downtime": "soon"], "max_downtime: 6h"),
        ]
        for (values, expected) in cases {
            #expect {
                _ = try factory.makeSource(settings(values))
            } throws: { error in
                let text = "\(error)"
                return text.contains(expected) && text.hasPrefix("p.yaml:3") && !text.contains("\n")
            }
        }
    }
}
