using System.Diagnostics;
using System.Text.RegularExpressions;
using SeccompEbpf.Profiles.Syscalls;

namespace SeccompEbpf.Profiles.Tests;

/// <summary>The committed tables must match this machine's kernel UAPI headers (linux-libc-dev).</summary>
public partial class SyscallTableHeaderTests
{
    private const string X86Headers = "/usr/include/x86_64-linux-gnu/asm";
    private const string GenericHeader = "/usr/include/asm-generic/unistd.h";

    [GeneratedRegex(@"^#define __NR_(\w+)\s+(?:\(__X32_SYSCALL_BIT \+ (\d+)\)|(\d+))\s*$")]
    private static partial Regex X86Define();

    [GeneratedRegex(@"^#define (__NR3264_\w+|__NR_\w+)\s+(.+)$")]
    private static partial Regex GenericDefine();

    private static Dictionary<string, uint> ParseX86(string file)
    {
        string path = Path.Combine(X86Headers, file);
        Assert.True(File.Exists(path), $"{path} is missing: install linux-libc-dev (apt-get install linux-libc-dev)");
        var table = new Dictionary<string, uint>();
        foreach (string line in File.ReadLines(path))
        {
            var m = X86Define().Match(line);
            if (!m.Success) continue;
            table[m.Groups[1].Value] = m.Groups[2].Success ? SyscallTables.X32SyscallBit + uint.Parse(m.Groups[2].Value) : uint.Parse(m.Groups[3].Value);
        }
        return table;
    }

    private static Dictionary<string, uint> ParseAarch64()
    {
        Assert.True(File.Exists(GenericHeader), $"{GenericHeader} is missing: install linux-libc-dev");
        // The same switches arm64's uapi asm/unistd.h sets before including asm-generic/unistd.h.
        var psi = new ProcessStartInfo("cpp") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string arg in new[] { "-dM", "-undef", "-D__BITS_PER_LONG=64", "-D__ARCH_WANT_RENAMEAT", "-D__ARCH_WANT_NEW_STAT",
                     "-D__ARCH_WANT_SET_GET_RLIMIT", "-D__ARCH_WANT_TIME32_SYSCALLS", "-D__ARCH_WANT_SYS_CLONE3", "-D__ARCH_WANT_MEMFD_SECRET", GenericHeader })
            psi.ArgumentList.Add(arg);
        Process process;
        try { process = Process.Start(psi)!; }
        catch (System.ComponentModel.Win32Exception ex) { Assert.Fail($"cpp (the C preprocessor, package cpp) is needed to expand {GenericHeader}: {ex.Message}"); throw; }
        string output = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        Assert.Equal(0, process.ExitCode);
        var raw = new Dictionary<string, string>();
        foreach (string line in output.Split('\n'))
        {
            var m = GenericDefine().Match(line);
            if (m.Success) raw[m.Groups[1].Value] = m.Groups[2].Value.Trim();
        }
        uint? Resolve(string v, int depth)
        {
            v = v.Trim('(', ')', ' ');
            if (uint.TryParse(v, out uint n)) return n;
            return depth < 8 && raw.TryGetValue(v, out string? next) ? Resolve(next, depth + 1) : null;
        }
        var table = new Dictionary<string, uint>();
        foreach (var (key, value) in raw)
            if (key.StartsWith("__NR_", StringComparison.Ordinal) && key != "__NR_syscalls" && Resolve(value, 0) is { } nr)
                table[key["__NR_".Length..]] = nr;
        return table;
    }

    public static TheoryData<SyscallArch> Arches() => [SyscallArch.X86_64, SyscallArch.I386, SyscallArch.X32, SyscallArch.Aarch64];

    [Theory]
    [MemberData(nameof(Arches))]
    public void GeneratedTableMatchesTheHeaders(SyscallArch arch)
    {
        var fromHeaders = arch switch
        {
            SyscallArch.X86_64 => ParseX86("unistd_64.h"),
            SyscallArch.I386 => ParseX86("unistd_32.h"),
            SyscallArch.X32 => ParseX86("unistd_x32.h"),
            _ => ParseAarch64(),
        };
        var committed = SyscallTables.Entries(arch).ToDictionary(e => e.Name, e => e.Nr);
        var missing = fromHeaders.Where(kv => !committed.TryGetValue(kv.Key, out uint nr) || nr != kv.Value).Select(kv => $"{kv.Key}={kv.Value}").ToList();
        var extra = committed.Keys.Except(fromHeaders.Keys).ToList();
        Assert.True(missing.Count == 0 && extra.Count == 0,
            $"{arch}: table differs from the headers (rerun scripts/gen-syscall-tables.py): missing/different {string.Join(", ", missing.Take(10))}; extra {string.Join(", ", extra.Take(10))}");
        Assert.True(committed.Count > 300, $"{arch} has only {committed.Count} syscalls");
    }

    [Fact]
    public void WellKnownNumbers()
    {
        Assert.Equal(39u, SyscallTables.Resolve(SyscallArch.X86_64, "getpid"));
        Assert.Equal(20u, SyscallTables.Resolve(SyscallArch.I386, "getpid"));
        Assert.Equal(0x40000027u, SyscallTables.Resolve(SyscallArch.X32, "getpid"));
        Assert.Equal(172u, SyscallTables.Resolve(SyscallArch.Aarch64, "getpid"));
        Assert.Null(SyscallTables.Resolve(SyscallArch.Aarch64, "open"));
        Assert.Equal((ushort)38, SyscallTables.ErrnoFromName("ENOSYS"));
        Assert.Equal((ushort)11, SyscallTables.ErrnoFromName("EWOULDBLOCK"));
    }
}
