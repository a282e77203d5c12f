using SeccompEbpf.Bpf.Enforcement;

namespace SeccompEbpf.Daemon;

internal sealed partial class DaemonOptions
{
    public GateSection Gate { get; set; } = new();

    /// <summary>
    /// The fail-closed exec gate: what happens to a container the daemon never admitted (created while it was down,
    /// restarting, or not following the runtime), enforced by pinned BPF state with no daemon running.
    /// </summary>
    internal sealed class GateSection
    {
        /// <summary>off, log (default: the exec runs and is recorded) or deny-exec (the entrypoint never runs).</summary>
        public string Mode { get; set; } = "log";

        /// <summary>
        /// Runtime container cgroup parents, relative to the cgroup2 mount (at most four). Those that exist at start are
        /// used, and the top-level parent of every container the daemon admits is added.
        /// </summary>
        public List<string> ContainerCgroupParents { get; set; } = ["kubepods", "kubepods.slice", "k8s.io"];

        public ExecGateMode ParsedMode => Mode switch
        {
            "deny-exec" => ExecGateMode.DenyExec,
            "log" => ExecGateMode.Log,
            _ => ExecGateMode.Off,
        };

        public IEnumerable<string> Validate()
        {
            if (Mode is not ("off" or "log" or "deny-exec"))
                yield return $"gate.mode: \"{Mode}\" must be off, log or deny-exec";
            if (ContainerCgroupParents.Count > 4)
                yield return $"gate.containerCgroupParents: {ContainerCgroupParents.Count} given, at most 4 are supported";
            foreach (var parent in ContainerCgroupParents.Where(p => p.Length == 0 || p.StartsWith('/') || p.Split('/').Contains("..")))
                yield return $"gate.containerCgroupParents: \"{parent}\" must be a relative path below the cgroup2 mount";
        }
    }
}
