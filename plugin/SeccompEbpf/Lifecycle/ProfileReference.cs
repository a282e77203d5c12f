using System.Text.RegularExpressions;

namespace SeccompEbpf.Lifecycle;

/// <summary>Where a profile reference points: a built-in profile or a JSON file.</summary>
internal abstract record ProfileLocation
{
    /// <summary>One of the profiles compiled into the daemon.</summary>
    public sealed record Builtin(string Name) : ProfileLocation;

    /// <summary>A profile file on disk, under <paramref name="Root"/>: every read checks the resolved path against the resolved root again.</summary>
    public sealed record File(string Path, string Root) : ProfileLocation;
}

/// <summary>Turns the reference written in an annotation into a location, refusing anything that escapes its root.</summary>
internal static partial class ProfileReference
{
    public const string LocalhostPrefix = "localhost/";
    public const int MaxReferenceLength = 1024;
    public static readonly IReadOnlyList<string> BuiltinNames = ["runtime/default", "unconfined", "audit", "strict"];

    /// <param name="reference">A built-in name, <c>NAME</c> (profileDirectory/NAME.json) or <c>localhost/RELATIVE/PATH</c> (under the kubelet seccomp root).</param>
    /// <exception cref="PolicySelectionException">The reference is malformed or escapes its root.</exception>
    public static ProfileLocation Resolve(string reference, string profileDirectory, string kubeletSeccompRoot)
    {
        // Longer than any path the kernel resolves: refuse before the value reaches a path and every later message.
        if (reference.Length > MaxReferenceLength)
            throw new PolicySelectionException($"profile reference \"{PolicyAnnotations.Echo(reference)}\" is longer than {MaxReferenceLength} characters");
        if (reference == "docker/default")
            return new ProfileLocation.Builtin("runtime/default");
        if (BuiltinNames.Contains(reference))
            return new ProfileLocation.Builtin(reference);
        if (reference.StartsWith(LocalhostPrefix, StringComparison.Ordinal))
            return new ProfileLocation.File(UnderRoot(reference[LocalhostPrefix.Length..], kubeletSeccompRoot, reference), kubeletSeccompRoot);
        if (!ProfileName().IsMatch(reference))
            throw new PolicySelectionException(
                $"profile reference \"{PolicyAnnotations.Echo(reference)}\" is not a built-in ({string.Join(", ", BuiltinNames)}), a profile name " +
                $"([A-Za-z0-9._-]+, read from {profileDirectory}/NAME.json) or localhost/PATH");
        return new ProfileLocation.File(UnderRoot(reference + ".json", profileDirectory, reference), profileDirectory);
    }

    private static string UnderRoot(string relative, string root, string reference)
    {
        if (relative.Length == 0 || Path.IsPathRooted(relative))
            throw new PolicySelectionException($"profile reference \"{PolicyAnnotations.Echo(reference)}\": the path must be relative to {root}");
        var fullRoot = Path.TrimEndingDirectorySeparator(Path.GetFullPath(root));
        var full = Path.GetFullPath(Path.Join(fullRoot, relative));
        if (!full.StartsWith(fullRoot + "/", StringComparison.Ordinal))
            throw new PolicySelectionException($"profile reference \"{PolicyAnnotations.Echo(reference)}\" escapes {fullRoot}");
        // A symlink inside the root may still point out of it.
        var resolved = ResolveLinks(full);
        var resolvedRoot = ResolveLinks(fullRoot);
        if (!resolved.StartsWith(resolvedRoot + "/", StringComparison.Ordinal))
            throw new PolicySelectionException($"profile reference \"{PolicyAnnotations.Echo(reference)}\" resolves to {resolved}, outside {resolvedRoot}");
        return full;
    }

    // A path that does not exist yet resolves to itself; it is checked again when it is read.
    private static string ResolveLinks(string path) => Profiles.Parsing.ProfileFile.RealPathOf(path) ?? path;

    [GeneratedRegex("^[A-Za-z0-9._-]+$")]
    private static partial Regex ProfileName();
}
