using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging;
using Nri.Pkg.Api.V1Alpha1;
using SeccompEbpf.Bpf.Enforcement;
using SeccompEbpf.Profiles.Compilation;
using SeccompEbpf.Profiles.Model;
using SeccompEbpf.Profiles.Parsing;

namespace SeccompEbpf.Daemon;

/// <summary>
/// Learns a container's kernel seccomp floor, the <c>linux.seccomp</c> of its OCI spec that runc installs before the
/// entrypoint runs: from the NRI request where the runtime passes it (<c>LinuxContainer.seccomp_policy</c>, containerd
/// 2.3 and later), otherwise from the runtime v2 task bundle's <c>config.json</c>, which exists from CRI StartContainer
/// on (the shim writes it when the task is created, before NRI StartContainer). A floor that is missing, unreadable or
/// malformed is no floor: logged, never a failure of the container.
/// </summary>
internal sealed partial class SeccompFloorReader(IReadOnlyList<string> bundleRoots, ILogger<SeccompFloorReader> logger)
{
    /// <summary>containerd's default state directory's task bundles; the CRI namespace is k8s.io.</summary>
    public static readonly string DefaultBundleRoot = "/run/containerd/io.containerd.runtime.v2.task/k8s.io";

    // Containers of one pod security profile share the same floor: compiled once per content.
    private readonly ConcurrentDictionary<string, SeccompFloor?> _compiled = new(StringComparer.Ordinal);

    /// <summary>The floor of a started container (its init <paramref name="pid"/> waits in the bundle's runtime), or null.</summary>
    public SeccompFloor? Read(Container container, int pid)
    {
        try
        {
            // Sources name the kind, not the file: plans (and their explanations) are shared by every container with
            // the same floor content. The file is logged per container.
            if (container.Linux?.SeccompPolicy is { } policy && !string.IsNullOrEmpty(policy.DefaultAction))
                return Compile(FromNri(policy).ToJsonString(), "NRI seccomp_policy", container);
            if (BundleConfig(container.Id, pid) is not { } path)
            {
                LogNoBundle(container.Name, container.Id, pid);
                return null;
            }
            if (SeccompOfSpec(File.ReadAllBytes(path), out _) is not { } seccomp)
                return null; // unconfined: no kernel seccomp filter
            LogBundle(container.Name, container.Id, path);
            return Compile(seccomp, "task bundle config.json", container);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // whatever goes wrong reading someone else's file, the container is planned without a floor, never failed
            LogUnreadable(container.Name, container.Id, e.Message);
            return null;
        }
    }

    /// <summary>
    /// The task bundle's config.json. The shim that serves the container runs in its pod's sandbox bundle directory
    /// (containerd starts shims there), and the container's bundle is that directory's sibling named by the container
    /// id; the init process is the shim's child. That holds for any containerd state directory; the configured roots
    /// are the fallback.
    /// </summary>
    internal string? BundleConfig(string containerId, int pid)
    {
        if (containerId.Length == 0 || containerId.Contains('/') || containerId.Contains(".."))
            return null;
        if (pid > 0 && ParentOf(pid) is int shim && shim > 1)
        {
            try
            {
                var cwd = Directory.ResolveLinkTarget($"/proc/{shim}/cwd", returnFinalTarget: false)?.FullName;
                if (cwd is not null && Path.GetDirectoryName(cwd) is { } tasks && Path.Combine(tasks, containerId, "config.json") is var derived && File.Exists(derived))
                    return derived;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // the shim is gone or unreadable: the configured roots decide
            }
        }
        return bundleRoots.Select(root => Path.Combine(root, containerId, "config.json")).FirstOrDefault(File.Exists);
    }

    /// <summary>The <c>linux.seccomp</c> object of an OCI runtime spec as JSON text, or null when it has none; <paramref name="isSpec"/>: the document is a spec at all (has ociVersion or linux).</summary>
    /// <exception cref="JsonException">Not JSON.</exception>
    internal static string? SeccompOfSpec(byte[] utf8, out bool isSpec)
    {
        using var document = JsonDocument.Parse(utf8);
        var root = document.RootElement;
        isSpec = root.ValueKind == JsonValueKind.Object && (root.TryGetProperty("ociVersion", out _) || root.TryGetProperty("linux", out _));
        if (!isSpec || !root.TryGetProperty("linux", out var linux) || linux.ValueKind != JsonValueKind.Object
            || !linux.TryGetProperty("seccomp", out var seccomp) || seccomp.ValueKind != JsonValueKind.Object)
            return null;
        return seccomp.GetRawText();
    }

    private static int? ParentOf(int pid)
    {
        try
        {
            // /proc/PID/stat: "pid (comm) state ppid ...", comm may hold spaces and parentheses
            string stat = File.ReadAllText($"/proc/{pid}/stat");
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            return int.TryParse(fields[1], out int ppid) ? ppid : null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or IndexOutOfRangeException or ArgumentOutOfRangeException)
        {
            return null;
        }
    }

    private SeccompFloor? Compile(string json, string source, Container container)
    {
        string key = Convert.ToHexStringLower(SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(json)));
        if (_compiled.TryGetValue(key, out var known))
            return known;
        SeccompFloor? floor = null;
        var parsed = ProfileParser.Parse(json);
        var errors = parsed.Diagnostics.Where(d => d.Severity == DiagnosticSeverity.Error).Select(d => d.Format(source)).ToList();
        if (parsed.Profile is null || errors.Count > 0)
            LogBadFloor(container.Name, container.Id, source, string.Join("; ", errors.Take(3)));
        else
        {
            try
            {
                floor = new SeccompFloor(ProfileCompiler.Compile(parsed.Profile, ContainerDefaults.CompileContext()).Profile, source);
            }
            catch (ProfileException e)
            {
                LogBadFloor(container.Name, container.Id, source, e.Message);
            }
        }
        if (_compiled.Count >= 64)
            _compiled.Clear();
        _compiled[key] = floor;
        return floor;
    }

    /// <summary>The NRI message in the OCI runtime-spec JSON form the profile parser reads.</summary>
    internal static JsonObject FromNri(LinuxSeccomp policy)
    {
        var json = new JsonObject { ["defaultAction"] = policy.DefaultAction };
        if (policy.DefaultErrno is { } errno)
            json["defaultErrnoRet"] = errno.Value;
        if (policy.Architectures.Count > 0)
            json["architectures"] = new JsonArray(policy.Architectures.Select(a => (JsonNode)a).ToArray());
        if (policy.Flags.Count > 0)
            json["flags"] = new JsonArray(policy.Flags.Select(f => (JsonNode)f).ToArray());
        var syscalls = new JsonArray();
        foreach (var syscall in policy.Syscalls)
        {
            var entry = new JsonObject
            {
                ["names"] = new JsonArray(syscall.Names.Select(n => (JsonNode)n).ToArray()),
                ["action"] = syscall.Action,
            };
            if (syscall.ErrnoRet is { } ret)
                entry["errnoRet"] = ret.Value;
            if (syscall.Args.Count > 0)
                entry["args"] = new JsonArray(syscall.Args.Select(a => (JsonNode)new JsonObject
                {
                    ["index"] = a.Index,
                    ["value"] = a.Value,
                    ["valueTwo"] = a.ValueTwo,
                    ["op"] = a.Op,
                }).ToArray());
            syscalls.Add(entry);
        }
        json["syscalls"] = syscalls;
        return json;
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "Container {Container} ({ContainerId}): kernel seccomp floor read from {Path}")]
    private partial void LogBundle(string container, string containerId, string path);

    [LoggerMessage(Level = LogLevel.Information, Message = "Container {Container} ({ContainerId}) pid {Pid}: no task bundle config.json found; planned without a kernel seccomp floor")]
    private partial void LogNoBundle(string container, string containerId, int pid);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Container {Container} ({ContainerId}): its kernel seccomp filter could not be read ({Reason}); planned without a floor")]
    private partial void LogUnreadable(string container, string containerId, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Container {Container} ({ContainerId}): its kernel seccomp filter from {Source} is not a profile this node can compile ({Reason}); planned without a floor")]
    private partial void LogBadFloor(string container, string containerId, string source, string reason);
}
