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
        /// <summary>
        /// off, log (default: the exec runs and is recorded), deny-exec (the entrypoint never runs) or profile (the kernel
        /// binds the container to <see cref="Profile"/> before its entrypoint runs).
        /// </summary>
        public string Mode { get; set; } = "log";

        /// <summary>The fallback profile reference (as in the profile annotation) of mode profile.</summary>
        public string? Profile { get; set; }

        /// <summary>
        /// Runtime container cgroup parents, relative to the cgroup2 mount (at most four). Those that exist at start are
        /// used, and the top-level parent of every container the daemon admits is added.
        /// </summary>
        public List<string> ContainerCgroupParents { get; set; } = ["kubepods", "kubepods.slice", "k8s.io"];

        public ExecGateMode ParsedMode => Mode switch
        {
            "deny-exec" => ExecGateMode.DenyExec,
            "log" => ExecGateMode.Log,
            "profile" => ExecGateMode.Profile,
            _ => ExecGateMode.Off,
        };

        public IEnumerable<string> Validate()
        {
            if (Mode is not ("off" or "log" or "deny-exec" or "profile"))
                yield return $"gate.mode: \"{Mode}\" must be off, log, deny-exec or profile";
            else if (Mode == "profile" && string.IsNullOrWhiteSpace(Profile))
                yield return "gate.profile: gate.mode \"profile\" needs the fallback profile's reference (for example \"runtime/default\")";
            else if (Mode != "profile" && Profile is not null)
                yield return $"gate.profile: only used with gate.mode \"profile\", not \"{Mode}\"";
            if (Profile is { } reference && (reference == "unconfined" || reference.Length > 256))
                yield return $"gate.profile: \"{(reference.Length > 256 ? reference[..256] + "..." : reference)}\" is not a profile the gate can bind";
            if (ContainerCgroupParents.Count > 4)
                yield return $"gate.containerCgroupParents: {ContainerCgroupParents.Count} given, at most 4 are supported";
            foreach (var parent in ContainerCgroupParents.Where(p => p.Length == 0 || p.StartsWith('/') || p.Split('/').Contains("..")))
                yield return $"gate.containerCgroupParents: \"{parent}\" must be a relative path below the cgroup2 mount";
        }
    }
}
