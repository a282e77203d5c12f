using System.Buffers.Binary;
using System.Diagnostics;

namespace SeccompEbpf.Bpf.Tests.Infrastructure;

/// <summary>One case of a batch: a syscall number as x86_64 seccomp sees it and all six arguments.</summary>
internal readonly record struct BatchCall(uint Nr, ulong[] Args);

/// <summary>What a batched syscall did: returned (ret, errno), or never returned because the process died.</summary>
internal readonly record struct BatchResult(long Ret, long Errno);

/// <summary>How a batch process ended: the results of the calls that returned, and the signal that ended it (0 for a normal exit).</summary>
internal sealed record BatchOutcome(IReadOnlyList<BatchResult> Results, int ExitCode, int Signal)
{
    /// <summary>All calls returned.</summary>
    internal bool Complete(int count) => Results.Count == count;
}

/// <summary>
/// tests/native/syscall-batch: set up outside any bound cgroup, moved into one while blocked on its go channel,
/// then it runs only the batch's syscalls. Results come back through a shared file, so the process makes no
/// syscall of its own that a profile could judge.
/// </summary>
internal sealed class SyscallBatch : IDisposable
{
    private const ulong Magic = 0x3148435441424353; // "SCBATCH1"
    private const int HeaderBytes = 32, CaseBytes = 56, ResultBytes = 16;
    private readonly Process _process;
    private readonly string _file;
    private readonly int _count;

    private SyscallBatch(Process process, string file, int count, int pid)
    {
        _process = process;
        _file = file;
        _count = count;
        Pid = pid;
    }

    internal int Pid { get; }

    /// <summary>Writes the batch file, starts the process and waits until it is blocked reading its go channel.</summary>
    internal static SyscallBatch Start(IReadOnlyList<BatchCall> calls)
    {
        string directory = Directory.Exists("/dev/shm") ? "/dev/shm" : Path.GetTempPath();
        string file = Path.Combine(directory, $"seccomp-ebpf-batch-{Guid.NewGuid():N}");
        var bytes = new byte[HeaderBytes + calls.Count * (CaseBytes + ResultBytes)];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, Magic);
        BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(8), (ulong)calls.Count);
        for (int i = 0; i < calls.Count; i++)
        {
            var span = bytes.AsSpan(HeaderBytes + i * CaseBytes);
            BinaryPrimitives.WriteUInt64LittleEndian(span, calls[i].Nr);
            for (int a = 0; a < 6; a++)
                BinaryPrimitives.WriteUInt64LittleEndian(span[(8 + 8 * a)..], a < calls[i].Args.Length ? calls[i].Args[a] : 0);
        }
        File.WriteAllBytes(file, bytes);

        var info = new ProcessStartInfo(SyscallDriver.BinaryPath("syscall-batch"))
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        info.ArgumentList.Add(file);
        var process = Process.Start(info)!;
        string? ready = process.StandardOutput.ReadLine();
        if (ready is null || !ready.StartsWith("ready ", StringComparison.Ordinal))
        {
            process.WaitForExit();
            File.Delete(file);
            throw new InvalidOperationException($"syscall-batch did not start (exit {process.ExitCode}): {ready} {process.StandardError.ReadToEnd()}");
        }
        var batch = new SyscallBatch(process, file, calls.Count, int.Parse(ready["ready ".Length..]));
        batch.WaitUntilBlockedOnGo();
        return batch;
    }

    // The read of the go channel must have entered the kernel before the process joins a bound cgroup: a syscall
    // is judged at entry, so that read is not judged, and every later one is a case (or exit_group).
    private void WaitUntilBlockedOnGo()
    {
        var watch = Stopwatch.StartNew();
        while (true)
        {
            string state;
            try
            {
                state = File.ReadAllText($"/proc/{Pid}/syscall");
            }
            catch (IOException)
            {
                state = "";
            }
            // "0 0x384 ..." = read(900, ...)
            if (state.StartsWith("0 0x384 ", StringComparison.Ordinal))
                return;
            if (_process.HasExited)
                throw new InvalidOperationException($"syscall-batch exited ({_process.ExitCode}) before blocking on its go channel");
            if (watch.Elapsed > TimeSpan.FromSeconds(60))
                throw new TimeoutException($"syscall-batch {Pid} did not block on its go channel within 60 s (/proc/{Pid}/syscall: {state.Trim()})");
            Thread.Sleep(watch.ElapsedMilliseconds < 20 ? 0 : 1);
        }
    }

    /// <summary>Moves the (blocked) process into the cgroup.</summary>
    internal void MoveInto(TestCgroup cgroup) => File.WriteAllText(Path.Combine(cgroup.Path, "cgroup.procs"), $"{Pid}\n");

    /// <summary>Releases the process into its batch.</summary>
    internal void Go()
    {
        _process.StandardInput.Write('g');
        _process.StandardInput.Flush();
    }

    /// <summary>Waits until the process ended (or finished every call and is stuck behind a denied exit) and reads the results.</summary>
    internal BatchOutcome WaitForOutcome()
    {
        var watch = Stopwatch.StartNew();
        while (!_process.WaitForExit(TimeSpan.FromMilliseconds(50)))
        {
            // exit_group can be denied by the profile under test: then the process spins once its batch is done
            if (Completed() == _count && watch.Elapsed > TimeSpan.FromSeconds(2))
            {
                _process.Kill();
                _process.WaitForExit();
                return new BatchOutcome(ReadResults(), 0, 0);
            }
            if (watch.Elapsed > TimeSpan.FromSeconds(120))
                throw new TimeoutException($"syscall-batch {Pid} did not finish within 120 s (deadlock guard); {Completed()} of {_count} calls returned");
        }
        int exit = _process.ExitCode;
        // .NET reports death by signal n as 128 + n
        return new BatchOutcome(ReadResults(), exit, exit > 128 ? exit - 128 : 0);
    }

    private int Completed()
    {
        using var stream = new FileStream(_file, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        Span<byte> completed = stackalloc byte[8];
        stream.Position = 16;
        stream.ReadExactly(completed);
        return (int)BinaryPrimitives.ReadUInt64LittleEndian(completed);
    }

    private List<BatchResult> ReadResults()
    {
        byte[] bytes = File.ReadAllBytes(_file);
        int completed = (int)BinaryPrimitives.ReadUInt64LittleEndian(bytes.AsSpan(16));
        if (completed > _count)
            throw new InvalidDataException($"syscall-batch reports {completed} completed calls of {_count}");
        var results = new List<BatchResult>(completed);
        int offset = HeaderBytes + _count * CaseBytes;
        for (int i = 0; i < completed; i++)
            results.Add(new BatchResult(
                BinaryPrimitives.ReadInt64LittleEndian(bytes.AsSpan(offset + i * ResultBytes)),
                BinaryPrimitives.ReadInt64LittleEndian(bytes.AsSpan(offset + i * ResultBytes + 8))));
        return results;
    }

    public void Dispose()
    {
        try
        {
            if (!_process.HasExited)
                _process.Kill();
            _process.WaitForExit();
        }
        catch (InvalidOperationException)
        {
        }
        _process.Dispose();
        File.Delete(_file);
    }
}
