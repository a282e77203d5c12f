namespace SeccompEbpf.Nri.Tests;

public sealed class OptionsTests
{
    private static Func<string, string?> Env(params (string Key, string Value)[] values)
        => key => values.FirstOrDefault(v => v.Key == key).Value;

    [Fact]
    public void PreInstalledEnvironmentGivesFdNameAndIndex()
    {
        var options = NriPluginOptions.FromEnvironment(
            Env(("NRI_PLUGIN_SOCKET", "3"), ("NRI_PLUGIN_NAME", "seccomp"), ("NRI_PLUGIN_IDX", "05")), "/opt/nri/plugins/05-seccomp", null);

        Assert.Equal(3, options.InheritedSocketFd);
        Assert.Equal("seccomp", options.Name);
        Assert.Equal("05", options.Index);
    }

    [Fact]
    public void NameAndIndexComeFromArgv0WhenTheEnvironmentHasNone()
    {
        var options = NriPluginOptions.FromEnvironment(Env(), "/opt/nri/plugins/20-seccomp-ebpf", "/run/x/nri.sock");

        Assert.Null(options.InheritedSocketFd);
        Assert.Equal("seccomp-ebpf", options.Name);
        Assert.Equal("20", options.Index);
        Assert.Equal("/run/x/nri.sock", options.SocketPath);
    }

    [Theory]
    [InlineData("/usr/bin/seccomp-ebpf")]
    [InlineData("1-x")]
    [InlineData("ab-x")]
    [InlineData("10-")]
    [InlineData("100-x")]
    public void Argv0NotOfTheFormNNNameKeepsTheDefaults(string argv0)
    {
        var options = NriPluginOptions.FromEnvironment(Env(), argv0, null);
        Assert.Equal("seccomp-ebpf", options.Name);
        Assert.Equal("10", options.Index);
        Assert.Equal("/var/run/nri/nri.sock", options.SocketPath);
    }

    [Fact]
    public void NonNumericSocketVariableIsAClearError()
    {
        var error = Assert.Throws<ArgumentException>(() => NriPluginOptions.FromEnvironment(Env(("NRI_PLUGIN_SOCKET", "three")), null, null));
        Assert.Contains("NRI_PLUGIN_SOCKET=\"three\"", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("5", "ok", "plugin index \"5\" must be exactly two digits")]
    [InlineData("10", "bad name", "plugin name \"bad name\" must match")]
    [InlineData("10", "", "plugin name \"\" must match")]
    public void InvalidIdentityIsRejectedBeforeConnecting(string index, string name, string expected)
    {
        var options = new NriPluginOptions { Index = index, Name = name };
        var error = Assert.Throws<ArgumentException>(() => new NriPlugin(new StartOnlyPlugin(), options, new TestLog().For<NriPlugin>()));
        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
    }
}
