using System.Diagnostics;
using System.Reflection;

namespace SeccompEbpf.Bpf.Tests.Infrastructure;

/// <summary>tests/native/syscall-driver: joins a cgroup, reports ready, runs its commands after Go().</summary>
internal sealed class SyscallDriver : IDisposable
{
    private readonly Process _process;

    internal static string BinaryPath(string name = "syscall-driver")
    {
        string dir = typeof(SyscallDriver).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == "NativeBinDirectory").Value!;
        string path = Path.Combine(dir, name);
        if (!File.Exists(path))
            throw new FileNotFoundException($"{path} is missing: run `make -C tests/native {name}`");
        return path;
    }

    private SyscallDriver(Process process, int pid, int tid)
    {
        _process = process;
        Pid = pid;
        Tid = tid;
    }

    internal int Pid { get; }
    internal int Tid { get; }

    /// <summary>Starts the driver in the cgroup and waits until it has joined it.</summary>
    internal static SyscallDriver Start(TestCgroup cgroup, params string[] commands) => StartBinary("syscall-driver", cgroup, commands);

    /// <summary>The i386 build: its syscalls enter through the compat path.</summary>
    internal static SyscallDriver Start32(TestCgroup cgroup, params string[] commands) => StartBinary("syscall-driver32", cgroup, commands);

    private static SyscallDriver StartBinary(string binary, TestCgroup cgroup, string[] commands)
    {
        var info = new ProcessStartInfo(BinaryPath(binary))
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        info.ArgumentList.Add(cgroup.Path);
        foreach (var command in commands)
            info.ArgumentList.Add(command);
        Process process;
        try
        {
            process = Process.Start(info)!;
        }
        catch (System.ComponentModel.Win32Exception e) when (e.NativeErrorCode == 8) // ENOEXEC
        {
            // Some machines of this kind run no i386 binaries: ./test.sh probes that and runs CompatArchTests in the
            // qemu tier instead. Running them here anyway must fail, and say why.
            throw new InvalidOperationException(
                $"this kernel cannot run {binary} (Exec format error: no IA32 emulation); the compat cases run in the vm tier (./test.sh)", e);
        }
        string? ready = process.StandardOutput.ReadLine();
        if (ready is null || !ready.StartsWith("ready ", StringComparison.Ordinal))
        {
            process.WaitForExit();
            throw new InvalidOperationException($"syscall-driver did not start: {ready} {process.StandardError.ReadToEnd()}");
        }
        var parts = ready.Split(' ');
        return new SyscallDriver(process, int.Parse(parts[1]), int.Parse(parts[2]));
    }

    internal void Go()
    {
        _process.StandardInput.WriteLine("go");
        _process.StandardInput.Flush();
    }

    /// <summary>Waits for exit; 128+n means killed by signal n (as .NET reports it).</summary>
    internal int WaitForExit()
    {
        if (!_process.WaitForExit(TimeSpan.FromSeconds(60)))
            throw new TimeoutException("syscall-driver did not finish within 60 s (deadlock guard)");
        return _process.ExitCode;
    }

    internal string? ReadLine() => _process.StandardOutput.ReadLine();

    internal void Signal(int signal)
    {
        if (Kill(Pid, signal) != 0)
            throw new InvalidOperationException($"kill({Pid}, {signal}) failed");
    }

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "kill")]
    private static extern int Kill(int pid, int signal);

    public void Dispose()
    {
        try
        {
            if (!_process.HasExited)
                _process.Kill();
        }
        catch (InvalidOperationException)
        {
        }
        _process.Dispose();
    }
}
