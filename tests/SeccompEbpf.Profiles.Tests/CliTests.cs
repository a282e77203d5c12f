using SeccompEbpf.Cli;

namespace SeccompEbpf.Profiles.Tests;

public class CliTests
{
    private static (int Code, string Out, string Err) Run(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int code = ProfileCommand.Run(args, stdout, stderr);
        return (code, stdout.ToString(), stderr.ToString());
    }

    [Fact]
    public void ValidateAcceptsFixturesAndBuiltIns()
    {
        var (code, output, _) = Run("validate", TestPaths.Fixture("seed-libseccomp-example.json"), TestPaths.Fixture("fine-grained.json"), "runtime/default", "strict");
        Assert.Equal(0, code);
        Assert.Contains("seed-libseccomp-example.json: ok", output);
    }

    [Fact]
    public void ValidateReportsEveryProblemAsFileLinePathMessage()
    {
        string file = Path.Combine(Path.GetTempPath(), $"bad-{Guid.NewGuid():N}.json");
        File.WriteAllText(file, "{\n  \"defaultAction\": \"SCMP_ACT_BOGUS\",\n  \"syscalls\": [{\"names\": [\"read\"], \"action\": \"SCMP_ACT_ALLOW\", \"args\": [{\"index\": 9, \"value\": 1, \"op\": \"SCMP_CMP_EQ\"}]}]\n}\n");
        try
        {
            var (code, output, _) = Run("validate", file);
            Assert.Equal(1, code);
            var lines = output.Trim().Split('\n');
            Assert.Contains(lines, l => l.StartsWith($"{file}:2: $.defaultAction: unknown action", StringComparison.Ordinal));
            Assert.Contains(lines, l => l.StartsWith($"{file}:3: $.syscalls[0].args[0].index:", StringComparison.Ordinal));
        }
        finally { File.Delete(file); }
    }

    [Fact]
    public void ValidateReportsLibseccompRefusals()
    {
        string file = Path.Combine(Path.GetTempPath(), $"eexist-{Guid.NewGuid():N}.json");
        File.WriteAllText(file, """
            {"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
            {"names":["prctl"],"action":"SCMP_ACT_ERRNO","errnoRet":1,"args":[{"index":0,"value":2,"op":"SCMP_CMP_EQ"}]},
            {"names":["prctl"],"action":"SCMP_ACT_ERRNO","errnoRet":2,"args":[{"index":0,"value":2,"op":"SCMP_CMP_EQ"}]}]}
            """);
        try
        {
            var (code, output, _) = Run("validate", file);
            Assert.Equal(1, code);
            Assert.Contains($"{file}:3: $.syscalls[1]:", output);
            Assert.Contains("EEXIST", output);
        }
        finally { File.Delete(file); }
    }

    [Fact]
    public void ExplainNamesTheActionAndTheDecidingRule()
    {
        var (code, output, _) = Run("explain", TestPaths.Fixture("seed-libseccomp-example.json"), "--syscall", "write", "--args", "1,0x1000,513");
        Assert.Equal(0, code);
        Assert.Contains("action: KillProcess", output);
        (code, output, _) = Run("explain", TestPaths.Fixture("seed-libseccomp-example.json"), "--syscall", "write", "--args", "2,0,1");
        Assert.Equal(0, code);
        Assert.Contains("action: ERRNO(9 EBADF)", output);
        Assert.Contains("arg0 != 0x1", output);
        Assert.Contains("$.syscalls[3]", output);
        (code, output, _) = Run("explain", "runtime/default", "--syscall", "mount", "--caps", "SYS_ADMIN");
        Assert.Equal(0, code);
        Assert.Contains("action: Allow", output);
        (code, output, _) = Run("explain", "runtime/default", "--syscall", "getpid", "--arch", "i386");
        Assert.Contains("action: Allow", output);
    }

    [Fact]
    public void CompileReportsHashSizeAndJson()
    {
        var (code, output, _) = Run("compile", "runtime/default");
        Assert.Equal(0, code);
        Assert.Matches("hash: [0-9a-f]{64}", output);
        Assert.Contains("bytes", output);
        (code, output, _) = Run("compile", TestPaths.Fixture("seed-libseccomp-example.json"), "--json");
        Assert.Equal(0, code);
        using var doc = System.Text.Json.JsonDocument.Parse(output);
        Assert.Equal(64, doc.RootElement.GetProperty("hash").GetString()!.Length);
        Assert.True(doc.RootElement.GetProperty("arches").GetArrayLength() >= 1);
    }

    [Fact]
    public void UsageErrorsExitWithTwo()
    {
        Assert.Equal(2, Run().Code);
        Assert.Equal(2, Run("frobnicate").Code);
        Assert.Equal(2, Run("explain", "strict").Code);
        Assert.Equal(2, Run("explain", "strict", "--syscall", "read", "--args", "x").Code);
        Assert.Equal(1, Run("validate", "/nonexistent/profile.json").Code);
    }
}
