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
