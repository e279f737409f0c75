import ArgumentParser

@main
struct Flowwatch: ParsableCommand {
    static let subcommands: [any ParsableCommand.Type] = [Observe.self, Record.self, Replay.self, Serve.self, Status.self]

    static let configuration = CommandConfiguration(
        commandName: "flowwatch",
        abstract: "Node-local flow observer for Kubernetes networking: Cilium's datapath events on any node.",
        discussion: """
            Attaches a tc/tcx observer program to lxc* and cilium_host (or --device patterns) and \
            prints what it sees the way `cilium monitor` does. Needs root (CAP_BPF, CAP_PERFMON, \
            CAP_NET_ADMIN).
            """,
        version: "0.1.0",
        subcommands: subcommands,
        // Only when no subcommand is named: ArgumentParser builds the default subcommand's whole
        // argument set before it looks at a named one (every option of `observe`, each a dynamic
        // cast that scans the binary's conformance records on first use: about 20M
        // instructions of a replay's start). `observe` has no positional argument, so a first
        // argument that names a subcommand always means that subcommand.
        defaultSubcommand: namesSubcommand(CommandLine.arguments.dropFirst().first) ? nil : Observe.self
    )

    /// Whether `argument` is a subcommand's name. The names are explicit in each configuration:
    /// one derived from the type name costs `String(describing:)` and its conformance scans.
    static func namesSubcommand(_ argument: String?) -> Bool {
        guard let argument else { return false }
        return subcommands.contains { $0.configuration.commandName == argument }
    }
}
