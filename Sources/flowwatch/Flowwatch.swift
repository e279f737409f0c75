import ArgumentParser

@main
struct Flowwatch: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "flowwatch",
        abstract: "Node-local flow observer for Kubernetes networking: Cilium's datapath events on any node.",
        discussion: """
            Attaches a tc/tcx observer program to lxc* and cilium_host (or --device patterns) and \
            prints what it sees the way `cilium monitor` does. Needs root (CAP_BPF, CAP_PERFMON, \
            CAP_NET_ADMIN).
            """,
        version: "0.1.0",
        subcommands: [Observe.self, Record.self, Replay.self, Serve.self, Status.self],
        defaultSubcommand: Observe.self
    )
}
