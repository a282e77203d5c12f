using System.Text.RegularExpressions;

namespace SeccompEbpf.E2E.Tests.Containerd;

/// <summary>A containerd release as <c>containerd --version</c> prints it, and the config version it reads natively.</summary>
public sealed partial record ContainerdVersion(int Major, int Minor, int Patch, string Text)
{
    /// <summary>2.x reads version 3 configs (split CRI plugins); 1.x reads version 2.</summary>
    public int ConfigVersion => Major >= 2 ? 3 : 2;

    public override string ToString() => Text;

    /// <summary>Parses "containerd github.com/containerd/containerd/v2 2.1.9+unknown " or "containerd containerd.io 1.7.24~ds1 ...".</summary>
    public static ContainerdVersion Parse(string versionOutput)
    {
        var match = VersionPattern().Match(versionOutput);
        if (!match.Success)
            throw new FormatException($"no version in containerd --version output: '{versionOutput.Trim()}'");
        return new ContainerdVersion(int.Parse(match.Groups[1].Value), int.Parse(match.Groups[2].Value), int.Parse(match.Groups[3].Value), match.Value);
    }

    [GeneratedRegex(@"\bv?(\d+)\.(\d+)\.(\d+)\S*")]
    private static partial Regex VersionPattern();
}
