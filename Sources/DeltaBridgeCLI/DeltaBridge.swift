import ArgumentParser

/// The `deltabridge` command: run pipelines and inspect their state.
@main
struct DeltaBridge: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "deltabridge",
        abstract: "Keep databases in sync: attribute-level deltas, last write wins per attribute.",
        discussion: """
        Pipelines are YAML files (see pipelines/quickstart.yaml). A typical session:

          deltabridge validate pipelines/quickstart.yaml      # check the file and the stores
          deltabridge run pipelines/quickstart.yaml --once    # catch up once and exit
          deltabridge run pipelines/                          # run every pipeline as a daemon
          deltabridge lag pipelines/quickstart.yaml           # how far behind each flow is
          deltabridge history pipelines/quickstart.yaml people 1

        Exit codes: 0 success, 1 a flow failed while running, 2 bad input (file, settings, store).
        """,
        version: "0.1.0",
        subcommands: [Run.self, Validate.self, Lag.self, History.self, Resync.self]
    )
}
