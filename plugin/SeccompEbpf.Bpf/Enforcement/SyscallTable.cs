using SeccompEbpf.Profiles.Syscalls;

namespace SeccompEbpf.Bpf.Enforcement;

/// <summary>
/// Syscall names and numbers keyed the way the BPF side sees them: by AUDIT_ARCH, with x32 numbers carrying
/// 0x40000000 under x86_64's audit arch. A view over the profile engine's tables, so both sides share one source.
/// </summary>
internal static class SyscallTable
{
    internal const uint AuditArchX86_64 = SyscallTables.AuditArchX86_64;
    internal const uint AuditArchI386 = SyscallTables.AuditArchI386;
    internal const uint AuditArchAarch64 = SyscallTables.AuditArchAarch64;
    internal const uint X32Bit = SyscallTables.X32SyscallBit;

    internal static string? NameOf(uint auditArch, uint nr) => auditArch switch
    {
        AuditArchX86_64 when (nr & X32Bit) != 0 => SyscallTables.NameOf(SyscallArch.X32, nr) is { } name ? $"{name}(x32)" : null,
        AuditArchX86_64 => SyscallTables.NameOf(SyscallArch.X86_64, nr),
        AuditArchI386 => SyscallTables.NameOf(SyscallArch.I386, nr),
        AuditArchAarch64 => SyscallTables.NameOf(SyscallArch.Aarch64, nr),
        _ => null,
    };

    /// <summary>The numbers seccomp sees for a syscall name under this arch (x86_64 includes the x32 number).</summary>
    internal static IEnumerable<uint> NumbersOf(uint auditArch, string name)
    {
        switch (auditArch)
        {
            case AuditArchX86_64:
                if (SyscallTables.Resolve(SyscallArch.X86_64, name) is { } nr64)
                    yield return nr64;
                if (SyscallTables.Resolve(SyscallArch.X32, name) is { } nrX32)
                    yield return nrX32 | X32Bit;
                break;
            case AuditArchI386:
                if (SyscallTables.Resolve(SyscallArch.I386, name) is { } nr32)
                    yield return nr32;
                break;
            case AuditArchAarch64:
                if (SyscallTables.Resolve(SyscallArch.Aarch64, name) is { } nrArm)
                    yield return nrArm;
                break;
        }
    }

    internal static string ArchName(uint auditArch) => auditArch switch
    {
        AuditArchX86_64 => "x86_64",
        AuditArchI386 => "i386",
        AuditArchAarch64 => "aarch64",
        _ => $"arch 0x{auditArch:X8}",
    };

    internal static string Describe(uint auditArch, uint nr)
        => NameOf(auditArch, nr) is { } name ? $"{name} ({ArchName(auditArch)})" : $"syscall {nr} ({ArchName(auditArch)})";
}
