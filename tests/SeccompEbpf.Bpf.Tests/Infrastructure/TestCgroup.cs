using SeccompEbpf.Bpf.Probing;

namespace SeccompEbpf.Bpf.Tests.Infrastructure;

/// <summary>A cgroup v2 directory for one test, removed (with its children and processes) on dispose.</summary>
internal sealed class TestCgroup : IDisposable
{
    private readonly bool _owned;

    private TestCgroup(string path, bool owned)
    {
        Path = path;
        _owned = owned;
        Directory.CreateDirectory(path);
        Id = CgroupFs.IdOf(path);
    }

    internal string Path { get; }
    internal ulong Id { get; }

    internal static TestCgroup Create(string label)
        => new(System.IO.Path.Combine(CgroupFs.Cgroup2Mount(), $"seccomp-ebpf-test-{label}-{Guid.NewGuid():N}"[..48]), owned: true);

    internal TestCgroup Child(string name) => new(System.IO.Path.Combine(Path, name), owned: false);

    public void Dispose()
    {
        if (_owned)
            Remove(Path);
    }

    private static void Remove(string path)
    {
        if (!Directory.Exists(path))
            return;
        foreach (var child in Directory.EnumerateDirectories(path))
            Remove(child);
        foreach (var line in File.ReadAllLines(System.IO.Path.Combine(path, "cgroup.procs")))
            if (int.TryParse(line, out int pid))
                try { System.Diagnostics.Process.GetProcessById(pid).Kill(); } catch (ArgumentException) { } catch (InvalidOperationException) { }
        for (int attempt = 0; ; attempt++)
        {
            try
            {
                Directory.Delete(path);
                return;
            }
            catch (IOException) when (attempt < 50)
            {
                Thread.Sleep(20); // killed processes leave the cgroup asynchronously
            }
        }
    }
}
