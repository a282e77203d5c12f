using System.Diagnostics;

namespace SeccompEbpf.Daemon.Benchmarks;

/// <summary>
/// Real container stand-ins: one cgroup v2 directory per "container" under a scratch cgroup of this run, each holding a
/// sleeping process. The daemon resolves the process's cgroup from /proc/PID/cgroup and binds its id, as it does for
/// runc's containers.
/// </summary>
internal sealed class ScratchCgroups : IDisposable
{
    private readonly List<(string Directory, Process Process)> _members = [];

    private ScratchCgroups(string root) => Root = root;

    /// <summary>The scratch cgroup's directory under the cgroup2 mount.</summary>
    public string Root { get; }

    public int Count => _members.Count;

    public static ScratchCgroups Create()
    {
        string root = Path.Join(Cgroup2Mount(), $"seccomp-ebpf-bench-{Environment.ProcessId}");
        Directory.CreateDirectory(root);
        return new ScratchCgroups(root);
    }

    /// <summary>The pid of member <paramref name="index"/>, creating members up to it (a cgroup and a sleeping process each).</summary>
    public int PidOf(int index)
    {
        while (_members.Count <= index)
        {
            string directory = Path.Join(Root, $"c{_members.Count}");
            Directory.CreateDirectory(directory);
            var process = Process.Start(new ProcessStartInfo("sleep", "3600") { UseShellExecute = false })
                ?? throw new InvalidOperationException("could not start sleep");
            File.WriteAllText(Path.Join(directory, "cgroup.procs"), process.Id.ToString());
            _members.Add((directory, process));
        }

        return _members[index].Process.Id;
    }

    public void Dispose()
    {
        foreach (var (_, process) in _members)
        {
            try
            {
                process.Kill();
                process.WaitForExit(2000);
            }
            catch (InvalidOperationException)
            {
            }
        }

        foreach (var (directory, _) in _members)
        {
            TryRemove(directory);
        }

        TryRemove(Root);
    }

    private static void TryRemove(string directory)
    {
        // A cgroup whose last process just exited may still be busy for a moment.
        for (int attempt = 0; attempt < 50; attempt++)
        {
            try
            {
                Directory.Delete(directory);
                return;
            }
            catch (IOException) when (Directory.Exists(directory))
            {
                Thread.Sleep(20);
            }
            catch (DirectoryNotFoundException)
            {
                return;
            }
        }

        Console.Error.WriteLine($"warning: could not remove scratch cgroup {directory}");
    }

    private static string Cgroup2Mount()
    {
        foreach (string line in File.ReadLines("/proc/self/mountinfo"))
        {
            int separator = line.IndexOf(" - ", StringComparison.Ordinal);
            if (separator >= 0 && line[(separator + 3)..].StartsWith("cgroup2 ", StringComparison.Ordinal))
            {
                return line[..separator].Split(' ')[4];
            }
        }

        throw new IOException("no cgroup2 file system is mounted (see /proc/self/mountinfo)");
    }
}
