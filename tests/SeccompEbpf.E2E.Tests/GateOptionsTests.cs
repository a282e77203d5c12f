using SeccompEbpf.Bpf.Enforcement;
using SeccompEbpf.Daemon;

namespace SeccompEbpf.E2E.Tests;

/// <summary>gate.mode and gate.profile: the fallback profile belongs to mode profile, and to it alone.</summary>
public sealed class GateOptionsTests
{
    private static DaemonOptions Bind(string json) => DaemonOptionsJson.Bind(json);

    [Fact]
    public void Profile_mode_takes_its_fallback_reference()
    {
        var options = Bind("""{"gate":{"mode":"profile","profile":"runtime/default"}}""");
        Assert.Empty(options.Validate());
        Assert.Equal(ExecGateMode.Profile, options.Gate.ParsedMode);
        Assert.Equal("runtime/default", options.Gate.Profile);
    }

    [Theory]
    [InlineData("""{"gate":{"mode":"profile"}}""", "gate.profile: gate.mode \"profile\" needs the fallback profile's reference")]
    [InlineData("""{"gate":{"mode":"log","profile":"runtime/default"}}""", "gate.profile: only used with gate.mode \"profile\", not \"log\"")]
    [InlineData("""{"gate":{"mode":"profile","profile":"unconfined"}}""", "gate.profile: \"unconfined\" is not a profile the gate can bind")]
    [InlineData("""{"gate":{"mode":"fallback"}}""", "gate.mode: \"fallback\" must be off, log, deny-exec or profile")]
    public void Misconfigurations_are_named(string json, string problem)
        => Assert.Contains(Bind(json).Validate(), p => p.StartsWith(problem, StringComparison.Ordinal));
}
