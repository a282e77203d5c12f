using System.Globalization;
using System.Text.Json;
using SeccompEbpf.Bpf.Enforcement;
using SeccompEbpf.Control;
using SeccompEbpf.Profiles.Parsing;

namespace SeccompEbpf.Cli;

/// <summary><c>seccomp-ebpf record</c>: records a running container's syscalls and writes them as a seccomp profile (docs/recording.md).</summary>
internal static class RecordCommand
{
    private const string Synopsis = "record (--pod NS/NAME | --container ID) [--duration D] [--with-args [NAME:INDEX,...]] [--out FILE] [--socket PATH]";
    private static readonly TimeSpan DefaultDuration = TimeSpan.FromSeconds(10);

    /// <summary>What a bare --with-args records: personality's persona and clone's flags (argument 0 on x86_64 and i386).</summary>
    internal static readonly IReadOnlyList<ArgumentToRecord> DefaultArguments = [new("personality", 0), new("clone", 0)];

    public static async Task<int> RunAsync(string[] args, TextWriter stdout, TextWriter stderr)
    {
        string? pod = null, container = null, output = null;
        TimeSpan? duration = null;
        List<ArgumentToRecord>? withArgs = null;
        var socket = ControlJson.DefaultSocketPath;
        for (var i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--pod" when i + 1 < args.Length: pod = args[++i]; break;
                case "--container" when i + 1 < args.Length: container = args[++i]; break;
                case "--out" when i + 1 < args.Length: output = args[++i]; break;
                case "--socket" when i + 1 < args.Length: socket = args[++i]; break;
                case "--duration" when i + 1 < args.Length:
                    duration = ParseDuration(args[++i]);
                    if (duration is null)
                        return ControlCommands.Usage(stderr, "record", args[i], Synopsis + "\n  D: a number with s, m or h (30s, 5m), or ms");
                    break;
                case "--with-args":
                    withArgs ??= [];
                    // bare (last, or followed by another option): the default set
                    if (i + 1 >= args.Length || args[i + 1].StartsWith("--", StringComparison.Ordinal))
                        withArgs.AddRange(DefaultArguments.Where(d => !withArgs.Any(w => w.Syscall == d.Syscall)));
                    else if (ParseArguments(args[++i], withArgs) is { } bad)
                    {
                        stderr.WriteLine($"seccomp-ebpf record: --with-args: {bad}");
                        return ControlCommands.Usage(stderr, "record", null, Synopsis + "\n  NAME:INDEX: a syscall name and the argument (0..5) whose values to record, e.g. personality:0,clone:0");
                    }
                    break;
                default: return ControlCommands.Usage(stderr, "record", args[i], Synopsis);
            }
        }
        if ((pod is null) == (container is null))
            return ControlCommands.Usage(stderr, "record", null, Synopsis);
        if (withArgs is not null && ArgumentToRecord.Problem(withArgs) is { } problem)
        {
            stderr.WriteLine($"seccomp-ebpf record: --with-args: {problem}");
            return ControlCommands.Usage(stderr, "record", null, Synopsis);
        }

        List<RecordingStartView> started = [];
        int code = await ControlCommands.RequestAsync(socket, new ControlRequest("record-start", Pod: pod, Container: container, WithArgs: withArgs), stderr,
            reply => started = reply.Result!.Value.Deserialize<List<RecordingStartView>>(ControlJson.Options) ?? []).ConfigureAwait(false);
        if (code != 0)
            return code;
        if (started.Count == 0)
        {
            stderr.WriteLine($"seccomp-ebpf record: {pod ?? container} has no container to record");
            return 1;
        }

        // A recording the annotation started holds everything since the container's first instruction: read it now
        // unless told to wait. One this command started needs some time to see anything.
        var wait = duration ?? (started.All(s => s.WasRecording) ? TimeSpan.Zero : DefaultDuration);
        if (wait > TimeSpan.Zero)
        {
            // Ctrl-C is taken before the line that invites it is written: a SIGINT right after the line must end the
            // wait, not be lost (inherited as ignored) or kill the command before it writes the recording.
            using var interrupted = new CancellationTokenSource();
            ConsoleCancelEventHandler onCancel = (_, e) => { e.Cancel = true; interrupted.Cancel(); };
            Console.CancelKeyPress += onCancel;
            stderr.WriteLine($"seccomp-ebpf record: recording {started.Count} container(s) for {wait.TotalSeconds.ToString(CultureInfo.InvariantCulture)} s (Ctrl-C ends it early)");
            try
            {
                await Task.Delay(wait, interrupted.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                // Ctrl-C: write what was recorded so far
            }
            finally
            {
                Console.CancelKeyPress -= onCancel;
            }
        }

        List<RecordingView> recordings = [];
        code = await ControlCommands.RequestAsync(socket, new ControlRequest("record-read", Pod: pod, Container: container), stderr,
            reply => recordings = reply.Result!.Value.Deserialize<List<RecordingView>>(ControlJson.Options) ?? []).ConfigureAwait(false);
        // what this command started, it stops (a container bound only to record becomes unmanaged again)
        foreach (var s in started.Where(s => !s.WasRecording))
            await ControlCommands.RequestAsync(socket, new ControlRequest("record-stop", Container: s.ContainerId), stderr, _ => { }).ConfigureAwait(false);
        // on a container that records on (the annotation), only the argument recording this command added ends
        if (withArgs is not null)
            foreach (var s in started.Where(s => s.WasRecording))
                await ControlCommands.RequestAsync(socket, new ControlRequest("record-stop-args", Container: s.ContainerId), stderr, _ => { }).ConfigureAwait(false);
        if (code != 0)
            return code;
        if (recordings.Count == 0)
        {
            stderr.WriteLine($"seccomp-ebpf record: {pod ?? container}: the recording ended before it could be read (the container stopped?)");
            return 1;
        }

        foreach (var recording in recordings)
        {
            string profile = RecordedProfileWriter.Write(recording.Syscalls, CommentOf(recording), recording.Arguments);
            int count = recording.Syscalls.Values.SelectMany(n => n).Distinct().Count();
            if (output is null)
            {
                stdout.Write(profile);
                continue;
            }
            string file = recordings.Count == 1 ? output : PerContainer(output, recording.Container);
            await File.WriteAllTextAsync(file, profile).ConfigureAwait(false);
            stderr.WriteLine($"seccomp-ebpf record: {recording.Namespace}/{recording.Pod} {recording.Container}: {count} syscalls → {file}");
        }
        return 0;
    }

    /// <summary>The profile's comment: what, when, from which container, under which policy.</summary>
    internal static string CommentOf(RecordingView r)
    {
        string since = r.Since is { } s ? s.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture) : "before the daemon's last restart";
        string perArch = string.Join("; ", r.Syscalls.Where(kv => kv.Value.Count > 0).Select(kv => $"{kv.Key}: {kv.Value.Count}"));
        return $"Recorded by seccomp-ebpf from container {r.Container} ({r.ContainerId[..Math.Min(12, r.ContainerId.Length)]}) of pod {r.Namespace}/{r.Pod}, "
               + $"from {since} to {r.ReadAt.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture)}, "
               + $"under {(r.Profile is null ? "no profile (the allow-all recording binding)" : $"profile {r.Profile}")}. "
               + $"Every syscall attempted is allowed here, including those the policy in force denied ({(perArch.Length == 0 ? "none recorded" : perArch)})."
               + (r.UnknownNumbers.Count > 0 ? $" Numbers without a name, left out: {string.Join(", ", r.UnknownNumbers)}." : "")
               + (r.OutOfRange ? " Some syscall number at or above 512 was attempted and could not be recorded." : "");
    }

    /// <summary>Adds "NAME:INDEX[,NAME:INDEX...]" to <paramref name="into"/>; the problem with the text, else null (Problem checks names and counts).</summary>
    internal static string? ParseArguments(string text, List<ArgumentToRecord> into)
    {
        foreach (string item in text.Split(',', StringSplitOptions.TrimEntries))
        {
            int colon = item.LastIndexOf(':');
            if (colon <= 0 || !int.TryParse(item.AsSpan(colon + 1), NumberStyles.None, CultureInfo.InvariantCulture, out int index))
                return $"\"{item}\" is not NAME:INDEX (a syscall name and an argument index 0..5)";
            into.Add(new ArgumentToRecord(item[..colon], index));
        }
        return null;
    }

    private static string PerContainer(string output, string container)
    {
        string extension = Path.GetExtension(output);
        return Path.ChangeExtension(output, null) + "." + container + (extension.Length > 0 ? extension : ".json");
    }

    internal static TimeSpan? ParseDuration(string text)
    {
        foreach (var (suffix, unit) in new[] { ("ms", 0.001), ("s", 1.0), ("m", 60.0), ("h", 3600.0) })
        {
            if (text.EndsWith(suffix, StringComparison.Ordinal)
                && double.TryParse(text[..^suffix.Length], NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out double value))
                return TimeSpan.FromSeconds(value * unit);
        }
        return double.TryParse(text, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out double seconds) ? TimeSpan.FromSeconds(seconds) : null;
    }
}
