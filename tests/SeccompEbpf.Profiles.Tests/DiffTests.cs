using System.Text.Json;
using SeccompEbpf.Cli;

namespace SeccompEbpf.Profiles.Tests;

public class DiffTests
{
    private static (int Code, string Out, string Err) Run(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int code = ProfileCommand.Run(["diff", .. args], stdout, stderr);
        return (code, stdout.ToString(), stderr.ToString());
    }

    private static string Temp(string json)
    {
        string file = Path.Combine(Path.GetTempPath(), $"diff-{Guid.NewGuid():N}.json");
        File.WriteAllText(file, json);
        return file;
    }

    [Fact]
    public void AProfileEqualsItselfAndAReorderedCopy()
    {
        var (code, output, _) = Run(TestPaths.Fixture("docker-default.json"), TestPaths.Fixture("docker-default.json"));
        Assert.Equal(0, code);
        Assert.Contains("identical verdicts", output);
        // The same verdicts written differently (names split over two entries, in another order) are no difference.
        string a = Temp("""{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["read","write"],"action":"SCMP_ACT_ALLOW"}]}""");
        string b = Temp("""{"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":1,"syscalls":[{"names":["write"],"action":"SCMP_ACT_ALLOW"},{"names":["read"],"action":"SCMP_ACT_ALLOW"}]}""");
        try
        {
            (code, output, _) = Run(a, b);
            Assert.Equal(0, code);
        }
        finally { File.Delete(a); File.Delete(b); }
    }

    [Fact]
    public void DockerAgainstContainersCommonListsEachSideAction()
    {
        var (code, output, _) = Run(TestPaths.Fixture("docker-default.json"), TestPaths.Fixture("containers-common-default.json"));
        Assert.Equal(1, code);
        var lines = output.Split('\n');
        // containers-common allows unshare and mount without CAP_SYS_ADMIN; Docker denies them with EPERM.
        int unshare = Array.FindIndex(lines, l => l.StartsWith("SCMP_ARCH_X86_64 unshare (nr 272):", StringComparison.Ordinal));
        Assert.True(unshare >= 0, output);
        Assert.Equal("  - ERRNO(1 EPERM)", lines[unshare + 1]);
        Assert.Equal("  + Allow", lines[unshare + 2]);
        // Their defaults differ too: EPERM against ENOSYS (defaultErrnoRet 38).
        Assert.Contains("SCMP_ARCH_X86_64 default action: - ERRNO(1 EPERM) + ERRNO(38 ENOSYS)", output);
        // A syscall both allow is not listed.
        Assert.DoesNotContain("SCMP_ARCH_X86_64 read (nr 0):", output);
    }

    [Fact]
    public void ArgumentRulesThatDifferAreShownWithTheirChecks()
    {
        string a = Temp("""{"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_X86_64"],"syscalls":[{"names":["personality"],"action":"SCMP_ACT_ERRNO","args":[{"index":0,"value":8,"op":"SCMP_CMP_NE"}]}]}""");
        string b = Temp("""{"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_X86_64"],"syscalls":[{"names":["personality"],"action":"SCMP_ACT_ERRNO","args":[{"index":0,"value":0,"op":"SCMP_CMP_NE"}]}]}""");
        try
        {
            var (code, output, _) = Run(a, b);
            Assert.Equal(1, code);
            // The rules as compiled (libseccomp splits a 64-bit != into the 32-bit halves), each side on its own line.
            var lines = output.Split('\n');
            int personality = Array.IndexOf(lines, "SCMP_ARCH_X86_64 personality (nr 135):");
            Assert.True(personality >= 0, output);
            Assert.StartsWith("  - if ", lines[personality + 1]);
            Assert.Contains("arg0 != 0x8 then ERRNO(1 EPERM)", lines[personality + 1]);
            Assert.EndsWith("; else Allow", lines[personality + 1]);
            Assert.StartsWith("  + if ", lines[personality + 2]);
            Assert.Contains("arg0 != 0x0 then ERRNO(1 EPERM)", lines[personality + 2]);
            Assert.Contains("1 syscall verdict(s) differ", output);

            (code, output, _) = Run(a, b, "--json");
            Assert.Equal(1, code);
            using var doc = JsonDocument.Parse(output);
            Assert.False(doc.RootElement.GetProperty("identical").GetBoolean());
            var only = Assert.Single(doc.RootElement.GetProperty("syscalls").EnumerateArray());
            Assert.Equal("personality", only.GetProperty("name").GetString());
            Assert.Contains(only.GetProperty("a").GetProperty("rules").EnumerateArray().SelectMany(r => r.GetProperty("checks").EnumerateArray()),
                c => c.GetString() == "arg0 != 0x8");
            Assert.Equal("Allow", only.GetProperty("b").GetProperty("action").GetString());
        }
        finally { File.Delete(a); File.Delete(b); }
    }

    [Fact]
    public void ArchitecturesOneSideDoesNotCoverAreReported()
    {
        // fine-grained covers i386 and x32 as well; the libseccomp example covers the native ABI only.
        var (code, output, _) = Run(TestPaths.Fixture("fine-grained.json"), TestPaths.Fixture("seed-libseccomp-example.json"), "--json");
        Assert.Equal(1, code);
        using var doc = JsonDocument.Parse(output);
        Assert.Contains(doc.RootElement.GetProperty("arches").EnumerateArray(),
            a => a.GetProperty("arch").GetString() == "SCMP_ARCH_X86" && a.GetProperty("what").GetString() == "architecture");
        Assert.Contains(doc.RootElement.GetProperty("syscalls").EnumerateArray(),
            s => s.GetProperty("arch").GetString() == "SCMP_ARCH_X86_64" && s.GetProperty("name").GetString() == "write"
                 && s.GetProperty("a").GetProperty("action").GetString() == "Allow" && s.GetProperty("b").GetProperty("rules").GetArrayLength() > 0);
    }

    [Fact]
    public void BadInputExitsTwoNamingTheProblem()
    {
        var (code, _, err) = Run(TestPaths.Fixture("audit.json"));
        Assert.Equal(2, code);
        Assert.Contains("diff needs exactly two profiles", err);
        (code, _, err) = Run(TestPaths.Fixture("audit.json"), "/nonexistent/profile.json");
        Assert.Equal(2, code);
        Assert.Contains("/nonexistent/profile.json", err);
        string bad = Temp("""{"defaultAction":"SCMP_ACT_BOGUS"}""");
        try
        {
            (code, _, err) = Run(bad, "runtime/default");
            Assert.Equal(2, code);
            Assert.Contains("unknown action", err);
        }
        finally { File.Delete(bad); }
    }
}
