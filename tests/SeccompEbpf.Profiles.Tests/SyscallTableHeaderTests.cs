using System.Text.RegularExpressions;
using SeccompEbpf.Profiles.Syscalls;

namespace SeccompEbpf.Profiles.Tests;

/// <summary>
/// The committed tables (generated from the newest UAPI headers Debian serves) must hold every syscall of this
/// machine's kernel headers and of trixie's, under the same number.
/// </summary>
public partial class SyscallTableHeaderTests
{
    private const string MachineHeaders = "/usr/include";

    /// <summary>test.sh unpacks trixie's linux-libc-dev (scripts/install-uapi-headers.sh) and exports its include dir.</summary>
    private static string TrixieHeaders()
    {
        string? dir = Environment.GetEnvironmentVariable("SECCOMP_EBPF_UAPI_INCLUDE");
        Assert.False(string.IsNullOrEmpty(dir),
            "SECCOMP_EBPF_UAPI_INCLUDE is not set: run the tests through ./test.sh, or export SECCOMP_EBPF_UAPI_INCLUDE=$(scripts/install-uapi-headers.sh)");
        return dir!;
    }

    [GeneratedRegex(@"^#define __NR_(\w+)\s+(?:\(__X32_SYSCALL_BIT \+ (\d+)\)|(\d+))\s*$")]
    private static partial Regex NrDefine();

    private static Dictionary<string, uint> Parse(string include, SyscallArch arch)
    {
        string file = arch switch
        {
            SyscallArch.X86_64 => "x86_64-linux-gnu/asm/unistd_64.h",
            SyscallArch.I386 => "x86_64-linux-gnu/asm/unistd_32.h",
            SyscallArch.X32 => "x86_64-linux-gnu/asm/unistd_x32.h",
            _ => "aarch64-linux-gnu/asm/unistd_64.h",
        };
        string path = Path.Combine(include, file);
        Assert.True(File.Exists(path), $"{path} is missing (linux-libc-dev)");
        var table = new Dictionary<string, uint>();
        foreach (string line in File.ReadLines(path))
        {
            var m = NrDefine().Match(line);
            if (!m.Success) continue;
            table[m.Groups[1].Value] = m.Groups[2].Success ? SyscallTables.X32SyscallBit + uint.Parse(m.Groups[2].Value) : uint.Parse(m.Groups[3].Value);
        }
        Assert.True(table.Count > 300, $"{path} defines only {table.Count} syscalls");
        return table;
    }

    public static TheoryData<SyscallArch> Arches() => [SyscallArch.X86_64, SyscallArch.I386, SyscallArch.X32, SyscallArch.Aarch64];

    private static void AssertTableHolds(string include, SyscallArch arch)
    {
        var committed = SyscallTables.Entries(arch).ToDictionary(e => e.Name, e => e.Nr);
        var wrong = Parse(include, arch)
            .Where(kv => !committed.TryGetValue(kv.Key, out uint nr) || nr != kv.Value)
            .Select(kv => committed.TryGetValue(kv.Key, out uint nr) ? $"{kv.Key}={kv.Value} (table {nr})" : $"{kv.Key}={kv.Value} (missing)")
            .ToList();
        Assert.True(wrong.Count == 0,
            $"{arch}: {include} has syscalls the table lacks or numbers differently (regenerate: SYSCALL_INCLUDE_DIR=$(scripts/install-uapi-headers.sh sid) python3 scripts/gen-syscall-tables.py): {string.Join(", ", wrong.Take(10))}");
    }

    [Theory]
    [MemberData(nameof(Arches))]
    public void TableHoldsTrixiesHeaders(SyscallArch arch) => AssertTableHolds(TrixieHeaders(), arch);

    /// <summary>Debian's amd64 linux-libc-dev before trixie carries x86 headers only, so aarch64 is checked against trixie's.</summary>
    [Theory]
    [InlineData(SyscallArch.X86_64)]
    [InlineData(SyscallArch.I386)]
    [InlineData(SyscallArch.X32)]
    public void TableHoldsThisMachinesHeaders(SyscallArch arch) => AssertTableHolds(MachineHeaders, arch);

    [Fact]
    public void WellKnownNumbers()
    {
        Assert.Equal(39u, SyscallTables.Resolve(SyscallArch.X86_64, "getpid"));
        Assert.Equal(20u, SyscallTables.Resolve(SyscallArch.I386, "getpid"));
        Assert.Equal(0x40000027u, SyscallTables.Resolve(SyscallArch.X32, "getpid"));
        Assert.Equal(172u, SyscallTables.Resolve(SyscallArch.Aarch64, "getpid"));
        Assert.Null(SyscallTables.Resolve(SyscallArch.Aarch64, "open"));
        // arm64 is a 64-bit ABI: its mmap, fstat and lseek are the 64-bit calls, not the 32-bit ABI's mmap2/fstat64/llseek.
        Assert.Equal(222u, SyscallTables.Resolve(SyscallArch.Aarch64, "mmap"));
        Assert.Equal(79u, SyscallTables.Resolve(SyscallArch.Aarch64, "newfstatat"));
        Assert.Null(SyscallTables.Resolve(SyscallArch.Aarch64, "mmap2"));
        Assert.Null(SyscallTables.Resolve(SyscallArch.Aarch64, "clock_gettime64"));
        // Newer than bookworm's headers: named, so profiles that allow them (containerd's RuntimeDefault does) are honoured.
        Assert.Equal(452u, SyscallTables.Resolve(SyscallArch.X86_64, "fchmodat2"));
        Assert.Equal(451u, SyscallTables.Resolve(SyscallArch.Aarch64, "cachestat"));
        Assert.Equal((ushort)38, SyscallTables.ErrnoFromName("ENOSYS"));
        Assert.Equal((ushort)11, SyscallTables.ErrnoFromName("EWOULDBLOCK"));
    }
}
