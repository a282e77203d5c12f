using SeccompEbpf.Bpf.Enforcement;
using SeccompEbpf.Daemon;

namespace SeccompEbpf.E2E.Tests;

/// <summary>enforcement.onUnenforceable: the default keeps real allowlists running; refuse stays the strict choice.</summary>
public sealed class EnforcementOptionsTests
{
    private static DaemonOptions Bind(string json) => DaemonOptionsJson.Bind(json);

    [Fact]
    public void The_default_logs_the_unpreventable_default_action()
    {
        var options = Bind("{}");
        Assert.Empty(options.Validate());
        Assert.Equal("log-unpreventable-default", options.Enforcement.OnUnenforceable);
        Assert.Equal(UnenforceablePolicy.LogUnpreventableDefault, EngineHost.PolicyOf(options.Enforcement.OnUnenforceable));
        Assert.Equal(UnenforceablePolicy.LogUnpreventableDefault, options.Enforcement.OnUnenforceablePolicy);
    }

    [Theory]
    [InlineData("log-unpreventable-default", UnenforceablePolicy.LogUnpreventableDefault)]
    [InlineData("refuse", UnenforceablePolicy.Refuse)]
    [InlineData("degrade-to-kill", UnenforceablePolicy.DegradeToKill)]
    [InlineData("degrade-to-log", UnenforceablePolicy.DegradeToLog)]
    public void Every_value_maps_to_its_policy(string value, UnenforceablePolicy policy)
    {
        var options = Bind($$$"""{"enforcement":{"onUnenforceable":"{{{value}}}"}}""");
        Assert.Empty(options.Validate());
        Assert.Equal(policy, EngineHost.PolicyOf(options.Enforcement.OnUnenforceable));
    }

    [Theory]
    [InlineData("Veto", "Veto")]
    [InlineData("StartUnmanaged", "StartUnmanaged")]
    [InlineData("veto", "Veto")] // the binder always took any case; files that rely on it keep working
    public void Policy_on_invalid_policy_takes_its_documented_values(string value, string action)
    {
        var options = Bind($$$"""{"policy":{"onInvalidPolicy":"{{{value}}}"}}""");
        Assert.Empty(options.Validate());
        Assert.Equal(action, options.Policy.OnInvalidPolicy.ToString());
    }

    [Theory]
    [InlineData("Vetoo")]
    [InlineData("7")] // the binder would take a number as an enum value that is neither choice
    public void Policy_on_invalid_policy_outside_the_set_names_the_key_and_the_choices(string value)
        => Assert.Equal($"policy.onInvalidPolicy: \"{value}\" must be Veto or StartUnmanaged",
            Assert.ThrowsAny<InvalidOperationException>(() => Bind($$$"""{"policy":{"onInvalidPolicy":"{{{value}}}"}}""")).Message);

    [Fact]
    public void An_unknown_value_is_named_with_the_choices()
        => Assert.Contains("enforcement.onUnenforceable: \"shrug\" must be log-unpreventable-default, refuse, degrade-to-kill or degrade-to-log",
            Bind("""{"enforcement":{"onUnenforceable":"shrug"}}""").Validate());
}
