using System.Collections.Frozen;

namespace SeccompEbpf.Bpf.Enforcement;

/// <summary>Syscall numbers per AUDIT_ARCH (x86 family); i386 numbers are never confused with x86_64's.</summary>
internal static partial class SyscallTable
{
    internal const uint AuditArchX86_64 = 0xC000003E;
    internal const uint AuditArchI386 = 0x40000003;
    internal const uint AuditArchAarch64 = 0xC00000B7;
    internal const uint X32Bit = 0x40000000;

    // built on first use: the generated tables live in another part of this class, and static field initializers across parts run in no promised order
    private static FrozenDictionary<uint, string> X86_64Names => s_x86_64Names ??= X86_64.ToFrozenDictionary(kv => kv.Value, kv => kv.Key);
    private static FrozenDictionary<uint, string> I386Names => s_i386Names ??= I386.ToFrozenDictionary(kv => kv.Value, kv => kv.Key);
    private static FrozenDictionary<uint, string> X32Names => s_x32Names ??= X32.ToFrozenDictionary(kv => kv.Value, kv => kv.Key);
    private static FrozenDictionary<uint, string>? s_x86_64Names, s_i386Names, s_x32Names;

    internal static string? NameOf(uint auditArch, uint nr) => auditArch switch
    {
        AuditArchX86_64 when (nr & X32Bit) != 0 => X32Names.GetValueOrDefault(nr & ~X32Bit) is { } name ? $"{name}(x32)" : null,
        AuditArchX86_64 => X86_64Names.GetValueOrDefault(nr),
        AuditArchI386 => I386Names.GetValueOrDefault(nr),
        _ => null,
    };

    /// <summary>The numbers seccomp sees for a syscall name under this arch (x86_64 includes the x32 number).</summary>
    internal static IEnumerable<uint> NumbersOf(uint auditArch, string name)
    {
        switch (auditArch)
        {
            case AuditArchX86_64:
                if (X86_64.TryGetValue(name, out uint nr64))
                    yield return nr64;
                if (X32.TryGetValue(name, out uint nrX32))
                    yield return nrX32 | X32Bit;
                break;
            case AuditArchI386:
                if (I386.TryGetValue(name, out uint nr32))
                    yield return nr32;
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
