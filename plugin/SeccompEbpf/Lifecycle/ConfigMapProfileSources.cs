using System.Collections.Concurrent;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Logging;

namespace SeccompEbpf.Lifecycle;

/// <summary>A profile kept in a Kubernetes ConfigMap key; referenced as <c>configmap/NAME</c>.</summary>
internal sealed record ConfigMapProfileLocation(string Name) : ProfileLocation;

/// <summary>One profile as a ConfigMap provides it: key NAME or NAME.json of ConfigMap <see cref="ConfigMap"/>.</summary>
internal sealed record ConfigMapProfileSource(string Name, string Namespace, string ConfigMap, string? ConfigMapUid, string Key, string Json)
{
    public string Describe() => $"configmap {Namespace}/{ConfigMap} key {Key}";
}

/// <summary>
/// The second profile source of the <see cref="ProfileStore"/>: the keys of ConfigMaps labelled
/// seccomp-ebpf.io/profiles=true, as the Kubernetes ConfigMap watch last listed them. A plain NAME keeps meaning the
/// profile directory; only the explicit <c>configmap/</c> prefix reaches ConfigMaps, so a reference never changes
/// source because a file or a key appeared elsewhere.
/// </summary>
internal sealed partial class ConfigMapProfileSources(ILogger logger)
{
    public const string Prefix = "configmap/";
    private readonly ConcurrentDictionary<string, ConfigMapProfileSource> _sources = new(StringComparer.Ordinal);
    private volatile string? _namespace;

    /// <summary>Profile name of a ConfigMap key: the key without a trailing <c>.json</c>.</summary>
    public static string ProfileNameOfKey(string key) => key.EndsWith(".json", StringComparison.Ordinal) ? key[..^5] : key;

    /// <summary>The location of a <c>configmap/NAME</c> reference; null for references of other sources.</summary>
    /// <exception cref="PolicySelectionException">The name after the prefix cannot be a ConfigMap key.</exception>
    public static ConfigMapProfileLocation? Resolve(string reference)
    {
        if (!reference.StartsWith(Prefix, StringComparison.Ordinal))
            return null;
        var name = reference[Prefix.Length..];
        if (!ProfileName().IsMatch(name))
            throw new PolicySelectionException($"profile reference \"{PolicyAnnotations.Echo(reference)}\": the name after configmap/ must be a ConfigMap key ([A-Za-z0-9._-]+, without .json)");
        return new ConfigMapProfileLocation(name);
    }

    /// <summary>Where the ConfigMap profile <paramref name="reference"/> currently comes from, if anywhere.</summary>
    public ConfigMapProfileSource? SourceOf(string reference) =>
        reference.StartsWith(Prefix, StringComparison.Ordinal) ? _sources.GetValueOrDefault(reference[Prefix.Length..]) : null;

    /// <summary>The current source of <paramref name="location"/>.</summary>
    /// <exception cref="PolicySelectionException">No listed ConfigMap has the key; the message says where it was looked for.</exception>
    public ConfigMapProfileSource Get(string reference, ConfigMapProfileLocation location)
    {
        if (_sources.TryGetValue(location.Name, out var source))
            return source;
        var where = _namespace is { } ns ? $"in namespace {ns}" : "(the Kubernetes ConfigMap watch is off)";
        throw new PolicySelectionException(
            $"profile \"{PolicyAnnotations.Echo(reference)}\" not found: no ConfigMap labelled seccomp-ebpf.io/profiles=true {where} has the key {location.Name} or {location.Name}.json");
    }

    /// <summary>
    /// Replaces every source with <paramref name="sources"/> (the watch's current view of <paramref name="namespace"/>);
    /// keys that are not profile names, and second providers of a name, are logged and ignored. Not thread-safe: the
    /// store serializes callers.
    /// </summary>
    /// <returns>The sources before and after, by profile name.</returns>
    public (IReadOnlyDictionary<string, ConfigMapProfileSource> Previous, IReadOnlyDictionary<string, ConfigMapProfileSource> Next) Replace(
        string @namespace, IEnumerable<ConfigMapProfileSource> sources)
    {
        _namespace = @namespace;
        var next = new Dictionary<string, ConfigMapProfileSource>(StringComparer.Ordinal);
        foreach (var source in sources.OrderBy(s => s.ConfigMap, StringComparer.Ordinal).ThenBy(s => s.Key, StringComparer.Ordinal))
        {
            if (!ProfileName().IsMatch(source.Name))
            {
                LogKeyIgnored(source.Describe(), "the key is not a profile name ([A-Za-z0-9._-]+)");
                continue;
            }
            if (next.TryGetValue(source.Name, out var first))
            {
                LogKeyIgnored(source.Describe(), $"profile configmap/{source.Name} is already provided by {first.Describe()}");
                continue;
            }
            next[source.Name] = source;
        }
        var previous = _sources.ToDictionary(StringComparer.Ordinal);
        foreach (var name in previous.Keys.Where(n => !next.ContainsKey(n)))
            _sources.TryRemove(name, out _);
        foreach (var (name, source) in next)
            _sources[name] = source;
        return (previous, next);
    }

    [GeneratedRegex("^[A-Za-z0-9._-]+$")]
    private static partial Regex ProfileName();

    [LoggerMessage(Level = LogLevel.Warning, Message = "Ignoring {Source}: {Problem}")]
    private partial void LogKeyIgnored(string source, string problem);
}
