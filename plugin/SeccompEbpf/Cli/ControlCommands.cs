using System.Text.Json;
using SeccompEbpf.Control;

namespace SeccompEbpf.Cli;

/// <summary><c>ps</c>, <c>events</c> and <c>apply</c>: thin clients of the daemon's control socket.</summary>
internal static class ControlCommands
{
    public static async Task<int> PsAsync(string[] args, TextWriter stdout, TextWriter stderr)
    {
        var json = false;
        var socket = ControlJson.DefaultSocketPath;
        for (var i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--json": json = true; break;
                case "--socket" when i + 1 < args.Length: socket = args[++i]; break;
                default: return Usage(stderr, "ps", args[i], "ps [--json] [--socket PATH]");
            }
        }
        return await RequestAsync(socket, new ControlRequest("ps"), stderr, reply =>
        {
            if (json)
            {
                stdout.WriteLine(JsonSerializer.Serialize(reply.Result, ControlJson.Options));
                return;
            }
            var containers = reply.Result!.Value.Deserialize<List<ContainerView>>(ControlJson.Options) ?? [];
            PrintContainers(stdout, containers);
        });
    }

    public static async Task<int> EventsAsync(string[] args, TextWriter stdout, TextWriter stderr)
    {
        bool json = false, follow = false;
        string? pod = null, container = null;
        var socket = ControlJson.DefaultSocketPath;
        for (var i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--json": json = true; break;
                case "-f" or "--follow": follow = true; break;
                case "--pod" when i + 1 < args.Length: pod = args[++i]; break;
                case "--container" when i + 1 < args.Length: container = args[++i]; break;
                case "--socket" when i + 1 < args.Length: socket = args[++i]; break;
                default: return Usage(stderr, "events", args[i], "events [-f] [--pod NS/NAME] [--container NAME] [--json]");
            }
        }
        if (pod is not null && !pod.Contains('/'))
            return Usage(stderr, "events", pod, "--pod takes NAMESPACE/NAME");
        return await RequestAsync(socket, new ControlRequest("events", follow, pod, container), stderr, reply =>
        {
            if (json)
            {
                stdout.WriteLine(JsonSerializer.Serialize(reply.Result, ControlJson.Options));
                return;
            }
            var e = reply.Result!.Value.Deserialize<SyscallEventView>(ControlJson.Options)!;
            stdout.WriteLine($"{e.Time:HH:mm:ss.fff} {e.Namespace}/{e.Pod} {e.Container} pid {e.Pid} ({e.Comm}) {e.Syscall}({string.Join(", ", e.Args.Select(a => "0x" + a.ToString("x")))}) {e.Arch} → {e.Action}{(e.Mode is "audit" or "shadow" ? $" ({e.Mode})" : "")}");
        });
    }

    public static async Task<int> ApplyAsync(string[] args, TextWriter stdout, TextWriter stderr)
    {
        string? pod = null, container = null, profile = null, mode = null, shadow = null;
        bool noShadow = false, promote = false;
        var socket = ControlJson.DefaultSocketPath;
        const string Synopsis = "apply (--pod NS/NAME | --container ID) (--profile REF | --mode enforce|audit|off | --shadow REF | --no-shadow | --promote-shadow)";
        for (var i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--pod" when i + 1 < args.Length: pod = args[++i]; break;
                case "--container" when i + 1 < args.Length: container = args[++i]; break;
                case "--profile" when i + 1 < args.Length: profile = args[++i]; break;
                case "--mode" when i + 1 < args.Length: mode = args[++i]; break;
                case "--shadow" when i + 1 < args.Length: shadow = args[++i]; break;
                case "--no-shadow": noShadow = true; break;
                case "--promote-shadow": promote = true; break;
                case "--socket" when i + 1 < args.Length: socket = args[++i]; break;
                default: return Usage(stderr, "apply", args[i], Synopsis);
            }
        }
        if ((pod is null) == (container is null) || (profile is null && mode is null && shadow is null && !noShadow && !promote))
            return Usage(stderr, "apply", null, Synopsis);
        return await RequestAsync(socket, new ControlRequest("apply", Pod: pod, Container: container, Profile: profile, Mode: mode, Shadow: shadow, NoShadow: noShadow, PromoteShadow: promote), stderr, reply =>
        {
            var result = reply.Result!.Value.Deserialize<ApplyResultView>(ControlJson.Options)!;
            PrintContainers(stdout, result.Containers);
        });
    }

    internal static async Task<int> RequestAsync(string socket, ControlRequest request, TextWriter stderr, Action<ControlReply> onReply)
    {
        using var cancel = new CancellationTokenSource();
        // removed when the request is over: `record` makes several requests and waits in between, and a Ctrl-C then
        // must not reach a handler whose token source is disposed (Cancel would throw and take the CLI down)
        ConsoleCancelEventHandler onCancel = (_, e) => { e.Cancel = true; cancel.Cancel(); };
        Console.CancelKeyPress += onCancel;
        try
        {
            var encoded = ControlClient.Encode(request);
            await using var client = await ControlClient.ConnectAsync(socket, cancel.Token).ConfigureAwait(false);
            await client.SendAsync(encoded, cancel.Token).ConfigureAwait(false);
            await foreach (var reply in client.RepliesAsync(cancel.Token).ConfigureAwait(false))
            {
                if (!reply.Ok)
                {
                    stderr.WriteLine($"seccomp-ebpf {request.Verb}: {reply.Error}");
                    return 1;
                }
                onReply(reply);
            }
            return 0;
        }
        catch (ControlUnavailableException e)
        {
            stderr.WriteLine($"seccomp-ebpf {request.Verb}: {e.Message}");
            return 1;
        }
        catch (Exception e) when (e is IOException or System.Net.Sockets.SocketException)
        {
            stderr.WriteLine($"seccomp-ebpf {request.Verb}: the daemon at {socket} closed the connection: {e.Message}");
            return 1;
        }
        catch (OperationCanceledException)
        {
            return 0;
        }
        finally
        {
            Console.CancelKeyPress -= onCancel;
        }
    }

    private static void PrintContainers(TextWriter stdout, IReadOnlyList<ContainerView> containers)
    {
        stdout.WriteLine($"{"NAMESPACE/POD",-32} {"CONTAINER",-16} {"ID",-13} {"PROFILE",-20} {"MODE",-8} {"STATE",-10} DECISIONS");
        foreach (var c in containers)
        {
            var decisions = string.Join(" ", c.Decisions.Where(d => d.Value > 0).Select(d => $"{d.Key}={d.Value}"));
            stdout.WriteLine($"{c.Namespace + "/" + c.Pod,-32} {c.Container,-16} {c.ContainerId[..Math.Min(12, c.ContainerId.Length)],-13} {c.Profile ?? "-",-20} {c.Mode,-8} {c.State,-10} {decisions}");
            if (c.Recording is { } recording)
            {
                stdout.WriteLine($"    recording since {(recording.Since is { } since ? since.ToString("u", System.Globalization.CultureInfo.InvariantCulture) : "before the daemon's last restart")} (seccomp-ebpf record reads it){(c.Exactness?.Summary.EndsWith("no sys_enter", StringComparison.Ordinal) == true ? "; sys_enter is attached for the recording" : "")}");
                if (recording.Arguments is { Count: > 0 } arguments)
                    stdout.WriteLine("    with the values of " + string.Join(", ", arguments.Select(a => $"{a.Syscall}:{a.Index} ({a.Values}{(a.Overflow ? "+, more than the recording holds" : "")} so far)")));
            }
            if (c.Shadow is { } shadow)
                stdout.WriteLine(shadow.Denials is { } denials
                    ? $"    shadow {shadow.Profile}: {denials} would-be denial(s), {shadow.Differences} difference(s) so far (events marked shadow)"
                    : $"    shadow {shadow.Profile}: {shadow.Problem ?? "not in place"}");
            if (c.Reason is not null)
                stdout.WriteLine($"    reason: {c.Reason}");
            if (c.UnprotectedGap is { } gap)
                stdout.WriteLine($"    created while no daemon followed the runtime: {gap.Execs} exec(s), "
                                 + (gap.BoundTo is { } fallback ? $"bound to fallback profile {fallback}" : $"{gap.Denied} denied")
                                 + $" by the exec gate ({gap.Gate})");
            if (c.Exactness is { } x)
            {
                stdout.WriteLine($"    {x.Arch}: {x.Summary}");
                if (x.AfterEntry > 0)
                    stdout.WriteLine($"    after entry: {Names(x.AfterEntrySyscalls)}");
                if (x.NotPrevented > 0)
                    stdout.WriteLine($"    not prevented: {Names(x.NotPreventedSyscalls)}");
                if (x.FloorDiffersSyscalls is { Count: > 0 } differs)
                    stdout.WriteLine($"    kernel seccomp answers differently from the profile: {Names(differs)}");
            }
            foreach (var line in c.Enforcement)
                stdout.WriteLine($"    {line.Action,-14} {line.Mechanism}{(line.Exact ? "" : " (not exact)")}{(line.Note is null ? "" : ": " + line.Note)}{(line.Syscalls.Count > 0 ? $" [{string.Join(",", line.Syscalls.Take(8))}{(line.Syscalls.Count > 8 ? ",…" : "")}]" : "")}");
        }
    }

    private static string Names(IReadOnlyList<string> names, int max = 24)
        => string.Join(",", names.Take(max)) + (names.Count > max ? $",… ({names.Count - max} more; ps --json lists all)" : "");

    internal static int Usage(TextWriter stderr, string verb, string? bad, string synopsis)
    {
        if (bad is not null)
            stderr.WriteLine($"seccomp-ebpf {verb}: unexpected argument '{bad}'");
        stderr.WriteLine($"usage: seccomp-ebpf {synopsis}");
        return 2;
    }
}
