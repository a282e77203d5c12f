using System.Formats.Tar;
using System.Security.Cryptography;
using System.Text.Json;

namespace SeccompEbpf.E2E.Tests.Containerd;

/// <summary>Builds a docker-archive image from the host's static busybox, so tests need no registry.</summary>
internal static class OfflineImage
{
    public const string BusyboxPath = "/bin/busybox";
    private static readonly string[] Applets = ["sh", "sleep", "cat", "echo", "true", "false", "ls", "ps", "grep", "kill", "touch", "rm", "mkdir", "id", "uname", "wc", "head", "date", "env"];

    /// <summary>Writes an image tar tagged <paramref name="tag"/> whose entrypoint is <paramref name="entrypoint"/>.</summary>
    public static void Write(string path, string tag, string[] entrypoint, IReadOnlyDictionary<string, string>? extraFiles = null)
    {
        if (!File.Exists(BusyboxPath))
            throw new InvalidOperationException($"{BusyboxPath} is missing: install Debian's busybox-static (./test.sh does)");

        var layer = BuildLayer(extraFiles);
        var layerDigest = Convert.ToHexStringLower(SHA256.HashData(layer));
        var config = JsonSerializer.SerializeToUtf8Bytes(new Dictionary<string, object>
        {
            ["architecture"] = "amd64",
            ["os"] = "linux",
            ["config"] = new Dictionary<string, object> { ["Entrypoint"] = entrypoint, ["Env"] = new[] { "PATH=/bin" } },
            ["rootfs"] = new Dictionary<string, object> { ["type"] = "layers", ["diff_ids"] = new[] { $"sha256:{layerDigest}" } },
        });
        var configName = Convert.ToHexStringLower(SHA256.HashData(config)) + ".json";
        var manifest = JsonSerializer.SerializeToUtf8Bytes(new[]
        {
            new Dictionary<string, object> { ["Config"] = configName, ["RepoTags"] = new[] { tag }, ["Layers"] = new[] { $"{layerDigest}/layer.tar" } },
        });

        using var file = File.Create(path);
        using var tar = new TarWriter(file, TarEntryFormat.Pax);
        AddFile(tar, $"{layerDigest}/layer.tar", layer, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
        AddFile(tar, configName, config, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
        AddFile(tar, "manifest.json", manifest, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
    }

    private static byte[] BuildLayer(IReadOnlyDictionary<string, string>? extraFiles)
    {
        const UnixFileMode Executable = (UnixFileMode)0b111_101_101;
        using var buffer = new MemoryStream();
        using (var tar = new TarWriter(buffer, TarEntryFormat.Pax, leaveOpen: true))
        {
            foreach (var dir in new[] { "bin", "tmp", "proc", "sys", "dev", "etc" })
                tar.WriteEntry(new PaxTarEntry(TarEntryType.Directory, dir + "/") { Mode = (UnixFileMode)0b111_101_101 });
            AddFile(tar, "bin/busybox", File.ReadAllBytes(BusyboxPath), Executable);
            foreach (var applet in Applets)
                tar.WriteEntry(new PaxTarEntry(TarEntryType.SymbolicLink, $"bin/{applet}") { LinkName = "busybox", Mode = (UnixFileMode)0b111_111_111 });
            foreach (var (inImage, onHost) in extraFiles ?? new Dictionary<string, string>())
                AddFile(tar, inImage.TrimStart('/'), File.ReadAllBytes(onHost), Executable);
        }
        return buffer.ToArray();
    }

    private static void AddFile(TarWriter tar, string name, byte[] content, UnixFileMode mode)
    {
        var entry = new PaxTarEntry(TarEntryType.RegularFile, name) { Mode = mode, DataStream = new MemoryStream(content) };
        tar.WriteEntry(entry);
    }
}
