using SeccompEbpf.Profiles.Compilation;
using SeccompEbpf.Profiles.Parsing;
using SeccompEbpf.Profiles.Syscalls;

namespace SeccompEbpf.Daemon;

/// <summary>What profiles are compiled against on this node.</summary>
internal static class ContainerDefaults
{
    // NRI does not expose a container's capabilities: includes/excludes are judged against the bounding set that
    // containerd and Docker give a non-privileged container by default.
    public static readonly IReadOnlySet<string> BoundingCaps = new HashSet<string>(StringComparer.Ordinal)
    {
        "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW", "CAP_SETGID",
        "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
    };

    public static CompileContext CompileContext()
    {
        var release = File.Exists("/proc/sys/kernel/osrelease") ? File.ReadAllText("/proc/sys/kernel/osrelease").Trim() : "";
        var native = System.Runtime.InteropServices.RuntimeInformation.OSArchitecture == System.Runtime.InteropServices.Architecture.Arm64
            ? SyscallArch.Aarch64
            : SyscallArch.X86_64;
        return new CompileContext(native, BoundingCaps, KernelVersion.TryParse(release));
    }
}
