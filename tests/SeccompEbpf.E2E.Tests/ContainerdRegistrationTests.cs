using SeccompEbpf.E2E.Tests.Containerd;

namespace SeccompEbpf.E2E.Tests;

/// <summary>scripts/containerd-nri.sh, the part of install.sh that registers the plugin with containerd.</summary>
public sealed class ContainerdRegistrationTests : IDisposable
{
    private static readonly string Script = Path.Join(TestPaths.RepoRoot, "scripts", "containerd-nri.sh");
    private readonly string _dir = Directory.CreateTempSubdirectory("sebpf-reg-").FullName;
    private string Config => Path.Join(_dir, "config.toml");

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private async Task<string> RunAsync(params string[] args) => (await Exec.RunAsync("bash", [Script, .. args])).Trim();

    [Fact]
    public async Task Containerd_1_7_config_without_nri_section_gets_one_enabled_and_a_backup()
    {
        const string original = "version = 2\n\n[plugins]\n  [plugins.\"io.containerd.grpc.v1.cri\"]\n    sandbox_image = \"pause\"\n";
        File.WriteAllText(Config, original);

        Assert.Equal("changed", await RunAsync("enable", Config, "--external"));
        var text = File.ReadAllText(Config);
        Assert.StartsWith(original, text);
        Assert.Contains("[plugins.\"io.containerd.nri.v1.nri\"]\n  disable = false\n  disable_connections = false", text);
        Assert.Equal(original, File.ReadAllText(Config + ".seccomp-ebpf.orig"));

        Assert.Equal("unchanged", await RunAsync("enable", Config, "--external"));
        Assert.Equal(text, File.ReadAllText(Config));
    }

    [Fact]
    public async Task Disabled_nri_section_is_enabled_and_other_sections_keep_their_disable_keys()
    {
        File.WriteAllText(Config, "version = 2\n[plugins.\"io.containerd.nri.v1.nri\"]\n  disable = true\n  disable_connections = true\n  socket_path = \"/x.sock\"\n[plugins.\"other\"]\n  disable = true\n");

        Assert.Equal("changed", await RunAsync("enable", Config, "--external"));
        Assert.Equal(
            "version = 2\n[plugins.\"io.containerd.nri.v1.nri\"]\n  disable = false\n  disable_connections = false\n  socket_path = \"/x.sock\"\n[plugins.\"other\"]\n  disable = true\n",
            File.ReadAllText(Config));
    }

    [Fact]
    public async Task Preinstalled_mode_leaves_disable_connections_alone()
    {
        File.WriteAllText(Config, "version = 2\n[plugins.\"io.containerd.nri.v1.nri\"]\n  disable_connections = true\n");
        Assert.Equal("changed", await RunAsync("enable", Config));
        Assert.Equal("version = 2\n[plugins.\"io.containerd.nri.v1.nri\"]\n  disable = false\n  disable_connections = true\n", File.ReadAllText(Config));
    }

    [Fact]
    public async Task Containerd_2_config_is_left_intact()
    {
        const string v3 = "version = 3\n[plugins.'io.containerd.cri.v1.images']\n  snapshotter = \"overlayfs\"\n";
        File.WriteAllText(Config, v3);
        Assert.Equal("unchanged", await RunAsync("enable", Config, "--external"));
        Assert.Equal(v3, File.ReadAllText(Config));
        Assert.False(File.Exists(Config + ".seccomp-ebpf.orig"));
    }

    [Fact]
    public async Task Containerd_2_default_config_with_nri_disabled_is_switched_on_as_containerd_2_reads_it()
    {
        // containerd 2.x's own `config default` (single-quoted section names), with NRI turned off by an admin.
        var containerd2 = Containerd2Binary();
        var generated = await Exec.RunAsync(containerd2, ["config", "default"]);
        Assert.Contains("[plugins.'io.containerd.nri.v1.nri']", generated);
        var disabled = SetNriKeys(generated, "true");
        File.WriteAllText(Config, disabled);
        Assert.Contains("disable = true", NriSection(await DumpAsync(containerd2)));

        Assert.Equal("changed", await RunAsync("enable", Config, "--external"));
        Assert.Equal(SetNriKeys(generated, "false"), File.ReadAllText(Config));
        var dumped = NriSection(await DumpAsync(containerd2));
        Assert.Contains("disable = false", dumped);
        Assert.Contains("disable_connections = false", dumped);
        Assert.Equal(disabled, File.ReadAllText(Config + ".seccomp-ebpf.orig"));
        Assert.Equal("unchanged", await RunAsync("enable", Config, "--external"));
    }

    [Theory]
    [InlineData("1.7")]
    [InlineData("2")]
    public async Task Restrict_oom_sets_the_cri_runtime_key_as_containerd_reads_it(string release)
    {
        // Each release's own `config default`: 1.7 has the key (false) in its CRI section, 2.x has it under cri.v1.runtime.
        var containerd = release == "2" ? Containerd2Binary() : "containerd";
        var generated = await Exec.RunAsync(containerd, ["config", "default"]);
        File.WriteAllText(Config, generated);
        Assert.Contains("restrict_oom_score_adj = false", await DumpAsync(containerd));

        Assert.Equal("changed", await RunAsync("restrict-oom", Config));
        var dumped = await DumpAsync(containerd);
        Assert.Contains("restrict_oom_score_adj = true", dumped);
        Assert.DoesNotContain("restrict_oom_score_adj = false", dumped);
        Assert.Equal(generated, File.ReadAllText(Config + ".seccomp-ebpf.orig"));
        Assert.Equal("unchanged", await RunAsync("restrict-oom", Config));
    }

    private static string Containerd2Binary()
    {
        var dir = Environment.GetEnvironmentVariable("SECCOMP_EBPF_CONTAINERD2_BIN");
        if (string.IsNullOrEmpty(dir) || !File.Exists(Path.Join(dir, "containerd")))
            throw new InvalidOperationException("SECCOMP_EBPF_CONTAINERD2_BIN must name the bin directory of containerd 2.x (scripts/install-containerd2.sh prints it; ./test.sh sets it)");
        return Path.Join(dir, "containerd");
    }

    private Task<string> DumpAsync(string containerd) => Exec.RunAsync(containerd, ["--config", Config, "config", "dump"]);

    // Sets disable and disable_connections inside the NRI section only.
    private static string SetNriKeys(string toml, string value)
    {
        var inNri = false;
        return string.Join('\n', toml.Split('\n').Select(line =>
        {
            if (line.TrimStart().StartsWith('['))
                inNri = line.Contains("io.containerd.nri.v1.nri", StringComparison.Ordinal);
            var key = line.Split('=')[0].Trim();
            return inNri && key is "disable" or "disable_connections" ? line[..(line.IndexOf('=') + 1)] + " " + value : line;
        }));
    }

    private static string NriSection(string toml) =>
        string.Join('\n', toml.Split('\n').SkipWhile(l => !l.Contains("io.containerd.nri.v1.nri", StringComparison.Ordinal)).Skip(1)
            .TakeWhile(l => !l.TrimStart().StartsWith('[')));

    [Fact]
    public async Task Restore_puts_back_the_original_and_removes_a_generated_config()
    {
        const string original = "version = 2\n[plugins.\"io.containerd.nri.v1.nri\"]\n  disable = true\n";
        File.WriteAllText(Config, original);
        await RunAsync("enable", Config);
        Assert.Equal("changed", await RunAsync("restore", Config));
        Assert.Equal(original, File.ReadAllText(Config));

        File.Delete(Config);
        Assert.Equal("changed", await RunAsync("enable", Config, "--external"));
        Assert.Contains("disable = false", File.ReadAllText(Config));
        Assert.Equal("changed", await RunAsync("restore", Config));
        Assert.False(File.Exists(Config));
    }
}
