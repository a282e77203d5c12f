namespace SeccompEbpf.Profiles.Tests;

internal static class TestPaths
{
    /// <summary>The folder holding SeccompEbpf.sln.</summary>
    public static string RepoRoot { get; } = FindRepoRoot();

    /// <summary>../shared/fixtures/profiles next to the repo root (CI keeps shared/ at the same relative place).</summary>
    public static string ProfileFixtures => Path.GetFullPath(Path.Combine(RepoRoot, "..", "shared", "fixtures", "profiles"));

    public static string OracleBinary => Path.Combine(RepoRoot, "tests", "native", "bin", "seccomp-oracle");

    public static string Fixture(string name)
    {
        string path = Path.Combine(ProfileFixtures, name);
        Assert.True(File.Exists(path), $"fixture {path} is missing: shared/ must sit next to the repository root");
        return path;
    }

    private static string FindRepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "SeccompEbpf.sln"))) return dir.FullName;
        throw new InvalidOperationException($"SeccompEbpf.sln not found above {AppContext.BaseDirectory}");
    }
}
