using System.Collections.Frozen;

namespace SeccompEbpf.Profiles.Syscalls;

/// <summary>A syscall ABI the engine has a number table for.</summary>
public enum SyscallArch
{
    /// <summary>x86_64 (SCMP_ARCH_X86_64, AUDIT_ARCH_X86_64).</summary>
    X86_64,
    /// <summary>i386 (SCMP_ARCH_X86, AUDIT_ARCH_I386).</summary>
    I386,
    /// <summary>x32 (SCMP_ARCH_X32); numbers carry 0x40000000 and the audit arch is x86_64's.</summary>
    X32,
    /// <summary>aarch64 (SCMP_ARCH_AARCH64).</summary>
    Aarch64,
}

/// <summary>Syscall name/number tables generated from the kernel UAPI headers (see scripts/gen-syscall-tables.py).</summary>
public static partial class SyscallTables
{
    /// <summary>AUDIT_ARCH_X86_64.</summary>
    public const uint AuditArchX86_64 = 0xC000003E;
    /// <summary>AUDIT_ARCH_I386.</summary>
    public const uint AuditArchI386 = 0x40000003;
    /// <summary>AUDIT_ARCH_AARCH64.</summary>
    public const uint AuditArchAarch64 = 0xC00000B7;
    /// <summary>__X32_SYSCALL_BIT.</summary>
    public const uint X32SyscallBit = 0x40000000;

    // Nested so the generated arrays (in the other part of this partial class) exist before the indexes are built.
    private static class Index
    {
        public static readonly FrozenDictionary<string, uint>[] ByName =
            [Freeze(X86_64), Freeze(I386), Freeze(X32), Freeze(Aarch64)];
        public static readonly FrozenDictionary<uint, string>[] ByNr =
            [FreezeNr(X86_64), FreezeNr(I386), FreezeNr(X32), FreezeNr(Aarch64)];
        public static readonly FrozenDictionary<string, ushort> ErrnoByName =
            ErrnoNames.ToFrozenDictionary(e => e.Name, e => e.Errno, StringComparer.Ordinal);
        public static readonly FrozenDictionary<ushort, string> ErrnoByNumber =
            ErrnoNames.GroupBy(e => e.Errno).ToFrozenDictionary(g => g.Key, g => g.First().Name);

        private static FrozenDictionary<string, uint> Freeze((string Name, uint Nr)[] t) => t.ToFrozenDictionary(e => e.Name, e => e.Nr, StringComparer.Ordinal);
        private static FrozenDictionary<uint, string> FreezeNr((string Name, uint Nr)[] t) => t.GroupBy(e => e.Nr).ToFrozenDictionary(g => g.Key, g => g.First().Name);
    }

    /// <summary>The number of <paramref name="name"/> on <paramref name="arch"/>, or null when that ABI has no such syscall.</summary>
    public static uint? Resolve(SyscallArch arch, string name) => Index.ByName[(int)arch].TryGetValue(name, out var nr) ? nr : null;

    /// <summary>The name of syscall <paramref name="nr"/> on <paramref name="arch"/>, or null.</summary>
    public static string? NameOf(SyscallArch arch, uint nr) => Index.ByNr[(int)arch].TryGetValue(nr, out var name) ? name : null;

    /// <summary>True when any table knows the name.</summary>
    public static bool IsKnownAnywhere(string name) => Index.ByName.Any(t => t.ContainsKey(name));

    /// <summary>All (name, number) pairs of one ABI.</summary>
    public static IReadOnlyList<(string Name, uint Nr)> Entries(SyscallArch arch) => arch switch
    {
        SyscallArch.X86_64 => X86_64,
        SyscallArch.I386 => I386,
        SyscallArch.X32 => X32,
        _ => Aarch64,
    };

    /// <summary>The AUDIT_ARCH value seccomp reports for tasks of this ABI.</summary>
    public static uint AuditArchOf(SyscallArch arch) => arch switch
    {
        SyscallArch.X86_64 or SyscallArch.X32 => AuditArchX86_64,
        SyscallArch.I386 => AuditArchI386,
        _ => AuditArchAarch64,
    };

    /// <summary>True for ABIs where libseccomp compares only the low 32 bits of arguments (i386, x32).</summary>
    public static bool Is32Bit(SyscallArch arch) => arch is SyscallArch.I386 or SyscallArch.X32;

    /// <summary>Errno number by Linux name (EPERM → 1).</summary>
    public static ushort? ErrnoFromName(string name) => Index.ErrnoByName.TryGetValue(name, out var e) ? e : null;

    /// <summary>Linux name of an errno, or null.</summary>
    public static string? ErrnoName(ushort errno) => Index.ErrnoByNumber.TryGetValue(errno, out var n) ? n : null;

    /// <summary>Maps SCMP_ARCH_* (and the Go/uname spellings) to an ABI with a table; null for ABIs without one.</summary>
    public static SyscallArch? FromName(string name) => name switch
    {
        "SCMP_ARCH_X86_64" or "x86_64" or "amd64" => SyscallArch.X86_64,
        "SCMP_ARCH_X86" or "x86" or "i386" or "386" => SyscallArch.I386,
        "SCMP_ARCH_X32" or "x32" => SyscallArch.X32,
        "SCMP_ARCH_AARCH64" or "aarch64" or "arm64" => SyscallArch.Aarch64,
        _ => null,
    };

    /// <summary>The SCMP_ARCH_* spelling of an ABI.</summary>
    public static string ScmpName(SyscallArch arch) => arch switch
    {
        SyscallArch.X86_64 => "SCMP_ARCH_X86_64",
        SyscallArch.I386 => "SCMP_ARCH_X86",
        SyscallArch.X32 => "SCMP_ARCH_X32",
        _ => "SCMP_ARCH_AARCH64",
    };

    /// <summary>The Go (runtime.GOARCH) spelling Docker's includes/excludes.arches use.</summary>
    public static string GoArchName(SyscallArch arch) => arch switch
    {
        SyscallArch.X86_64 => "amd64",
        SyscallArch.I386 => "386",
        SyscallArch.X32 => "x32",
        _ => "arm64",
    };
}
