using System.Text;
using SeccompEbpf.Profiles.Compilation;
using SeccompEbpf.Profiles.Model;
using SeccompEbpf.Profiles.Parsing;

namespace SeccompEbpf.Profiles.Tests;

/// <summary>The parser gets arbitrary bytes: it must answer with diagnostics, never crash, hang or grow without bound.</summary>
public class HostileInputTests
{
    private static void AssertHandled(byte[] input)
    {
        ProfileParseResult result;
        try { result = ProfileParser.Parse(input); }
        catch (Exception ex) { throw new Xunit.Sdk.XunitException($"parser threw {ex.GetType().Name}: {ex.Message} on input {Describe(input)}"); }
        Assert.True(result.Profile is not null || result.HasErrors, "a refused profile must say why");
        foreach (var d in result.Diagnostics)
        {
            Assert.False(string.IsNullOrWhiteSpace(d.Message));
            Assert.True(d.Message.Length < 600, $"diagnostic too long: {d.Message[..Math.Min(100, d.Message.Length)]}...");
            Assert.StartsWith("$", d.Path);
        }
        Assert.True(result.Diagnostics.Count <= 1000, "diagnostics are bounded");
        if (result.Profile is not null)
        {
            try { ProfileCompiler.Compile(result.Profile, CompileContext.Default); }
            catch (ProfileException) { }
        }
    }

    private static string Describe(byte[] input) => input.Length > 200 ? Encoding.UTF8.GetString(input, 0, 200) + "..." : Encoding.UTF8.GetString(input);

    [Fact]
    public void RandomBytesAndMutatedProfilesAreHandled()
    {
        var rng = new Random(4242);
        string seed = File.ReadAllText(TestPaths.Fixture("docker-default.json"));
        byte[] seedBytes = Encoding.UTF8.GetBytes(seed);
        string[] tokens = ["{", "}", "[", "]", ",", ":", "\"", "null", "true", "-1", "1e999", "18446744073709551616", "\"SCMP_ACT_ERRNO\"", "\"args\"", "\\u0000", "0.5"];
        for (int i = 0; i < 1500; i++)
        {
            byte[] input;
            switch (i % 3)
            {
                case 0:
                    input = new byte[rng.Next(0, 256)];
                    rng.NextBytes(input);
                    break;
                case 1:
                    input = (byte[])seedBytes.Clone();
                    for (int m = 0; m < 1 + rng.Next(8); m++) input[rng.Next(input.Length)] = (byte)rng.Next(256);
                    break;
                default:
                    var sb = new StringBuilder(seed);
                    for (int m = 0; m < 1 + rng.Next(6); m++)
                    {
                        int at = rng.Next(sb.Length);
                        if (rng.Next(2) == 0) sb.Insert(at, tokens[rng.Next(tokens.Length)]);
                        else sb.Remove(at, Math.Min(rng.Next(1, 20), sb.Length - at));
                    }
                    input = Encoding.UTF8.GetBytes(sb.ToString());
                    break;
            }
            AssertHandled(input);
        }
    }

    [Fact]
    public void DeepNestingIsRefusedWithADiagnostic()
    {
        string deep = new string('[', 100_000) + new string(']', 100_000);
        var result = ProfileParser.Parse(deep);
        Assert.True(result.HasErrors);
        Assert.Contains("depth", result.Diagnostics[0].Message, StringComparison.OrdinalIgnoreCase);
        string deepObject = "{\"defaultAction\":" + string.Concat(Enumerable.Repeat("{\"a\":", 5000)) + "1" + new string('}', 5001);
        Assert.True(ProfileParser.Parse(deepObject).HasErrors);
    }

    [Fact]
    public void HugeInputsAreBounded()
    {
        var tooBig = new byte[ProfileParser.MaxProfileBytes + 1];
        Array.Fill(tooBig, (byte)' ');
        var result = ProfileParser.Parse(tooBig);
        Assert.Contains("limit", result.Diagnostics.Single().Message);

        // 200k syscall entries fit in the byte limit but exceed the entry limit.
        string many = "{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"syscalls\":[" + string.Join(",", Enumerable.Repeat("{}", 200_000)) + "]}";
        var manyResult = ProfileParser.Parse(many);
        Assert.True(manyResult.HasErrors);
        Assert.Contains(manyResult.Diagnostics, d => d.Message.Contains("limit"));

        // Thousands of names on one rule are fine, and thousands of bad entries give bounded diagnostics.
        string names = "{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"syscalls\":[{\"names\":[" + string.Join(",", Enumerable.Repeat("\"read\"", 20_000)) + "],\"action\":\"SCMP_ACT_ALLOW\"}]}";
        Assert.False(ProfileParser.Parse(names).HasErrors);
        string bad = "{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"syscalls\":[" + string.Join(",", Enumerable.Repeat("{\"names\":[1],\"action\":2}", 20_000)) + "]}";
        var badResult = ProfileParser.Parse(bad);
        Assert.True(badResult.HasErrors);
        Assert.True(badResult.Diagnostics.Count <= 1000);
    }

    [Fact]
    public void MillionsOfTinyValuesAreRefusedWithBoundedAllocation()
    {
        // ~2 million values in under 4 MiB: the tree would cost far more than the input.
        string flood = "{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"x\":[" + string.Join(",", Enumerable.Repeat("0", 2_000_000)) + "]}";
        byte[] bytes = Encoding.UTF8.GetBytes(flood);
        long before = GC.GetAllocatedBytesForCurrentThread();
        var result = ProfileParser.Parse(bytes);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.True(result.HasErrors);
        Assert.Contains("JSON values", result.Diagnostics.Single().Message);
        Assert.True(allocated < 128L << 20, $"parsing allocated {allocated >> 20} MiB");
    }

    [Fact]
    public void PathologicalOverlapIsRefusedOrCompiledNeverHangs()
    {
        // 40 overlapping conditional rules on one syscall: the flattener must either compile or refuse clearly.
        var rules = Enumerable.Range(0, 40).Select(i =>
            $"{{\"names\":[\"prctl\"],\"action\":\"SCMP_ACT_ERRNO\",\"errnoRet\":{i + 1},\"args\":[{{\"index\":{i % 6},\"value\":{i},\"op\":\"SCMP_CMP_GT\"}},{{\"index\":{(i + 1) % 6},\"value\":{i * 7},\"op\":\"SCMP_CMP_LE\"}}]}}");
        var profile = ProfileParser.ParseOrThrow("{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[" + string.Join(",", rules) + "]}");
        try
        {
            var compiled = ProfileCompiler.Compile(profile, CompileContext.Default);
            Assert.True(compiled.Profile.MaxRulesPerSyscall > 0);
        }
        catch (ProfileException ex)
        {
            Assert.Contains("prctl", ex.Message);
        }
    }
}
