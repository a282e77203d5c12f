using System.Collections.Concurrent;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Logging;
using SeccompEbpf.Profiles.Compilation;
using SeccompEbpf.Profiles.Parsing;

namespace SeccompEbpf.Lifecycle;

/// <summary>A profile kept in a Kubernetes ConfigMap key; referenced as <c>configmap/NAME</c>.</summary>
internal sealed record ConfigMapProfileLocation(string Name) : ProfileLocation;

/// <summary>One profile as a ConfigMap provides it: key NAME or NAME.json of ConfigMap <see cref="ConfigMap"/>.</summary>
internal sealed record ConfigMapProfileSource(string Name, string Namespace, string ConfigMap, string? ConfigMapUid, string Key, string Json)
{
    public string Describe() => $"configmap {Namespace}/{ConfigMap} key {Key}";
}

// The second profile source: ConfigMaps labelled seccomp-ebpf.io/profiles=true, fed by the Kubernetes ConfigMap watch.
// A plain NAME keeps meaning the profile directory; only the explicit configmap/ prefix reaches ConfigMaps, so a
// reference never changes source because a file or a key appeared elsewhere.
internal sealed partial class ProfileStore
{
    public const string ConfigMapPrefix = "configmap/";
    private readonly ConcurrentDictionary<string, ConfigMapProfileSource> _configMapSources = new(StringComparer.Ordinal);
    private readonly Lock _configMapLock = new();
    private string? _configMapNamespace;

    /// <summary>Raised when a <c>configmap/NAME</c> profile in use disappeared (key or ConfigMap deleted); the message says from where.</summary>
    public event Action<string, string>? ConfigMapProfileRemoved;

    /// <summary>Where the ConfigMap profile <paramref name="reference"/> currently comes from, if anywhere.</summary>
    public ConfigMapProfileSource? ConfigMapSourceOf(string reference) =>
        reference.StartsWith(ConfigMapPrefix, StringComparison.Ordinal) ? _configMapSources.GetValueOrDefault(reference[ConfigMapPrefix.Length..]) : null;

    /// <summary>Profile name of a ConfigMap key: the key without a trailing <c>.json</c>.</summary>
    public static string ProfileNameOfKey(string key) => key.EndsWith(".json", StringComparison.Ordinal) ? key[..^5] : key;

    private static ConfigMapProfileLocation? ResolveConfigMap(string reference)
    {
        if (!reference.StartsWith(ConfigMapPrefix, StringComparison.Ordinal))
            return null;
        var name = reference[ConfigMapPrefix.Length..];
        if (!ConfigMapProfileName().IsMatch(name))
            throw new PolicySelectionException($"profile reference \"{PolicyAnnotations.Echo(reference)}\": the name after configmap/ must be a ConfigMap key ([A-Za-z0-9._-]+, without .json)");
        return new ConfigMapProfileLocation(name);
    }

    private LoadedProfile LoadConfigMap(string reference, ConfigMapProfileLocation location, int version)
    {
        if (!_configMapSources.TryGetValue(location.Name, out var source))
        {
            var where = _configMapNamespace is null ? "(the Kubernetes ConfigMap watch is off)" : $"in namespace {_configMapNamespace}";
            throw new PolicySelectionException(
                $"profile \"{PolicyAnnotations.Echo(reference)}\" not found: no ConfigMap labelled seccomp-ebpf.io/profiles=true {where} has the key {location.Name} or {location.Name}.json");
        }
        var parsed = ProfileParser.Parse(source.Json);
        if (parsed.HasErrors || parsed.Profile is null)
        {
            var errors = parsed.Diagnostics.Where(d => d.Severity == Profiles.Model.DiagnosticSeverity.Error).Take(5).Select(d => d.Format(source.Describe()));
            throw new PolicySelectionException($"profile \"{PolicyAnnotations.Echo(reference)}\" is invalid: {string.Join("; ", errors)}");
        }
        try
        {
            var compiled = ProfileCompiler.Compile(parsed.Profile, _context);
            CheckBpfLimits(reference, compiled.Profile);
            var warnings = parsed.Diagnostics.Where(d => d.Severity == Profiles.Model.DiagnosticSeverity.Warning).Select(d => d.Format(source.Describe()))
                .Concat(compiled.Warnings).ToList();
            return new LoadedProfile(reference, location, compiled.Profile, version, warnings);
        }
        catch (Profiles.Model.ProfileException e)
        {
            throw new PolicySelectionException($"profile \"{PolicyAnnotations.Echo(reference)}\" cannot be compiled: {e.Message}");
        }
    }

    /// <summary>
    /// Replaces every ConfigMap-provided profile with <paramref name="sources"/> (the watch's current view). Profiles in
    /// use are recompiled: a good edit fires <see cref="Changed"/>, a bad one <see cref="Rejected"/> (the last good
    /// version stays), a removal <see cref="ConfigMapProfileRemoved"/>.
    /// </summary>
    public void ReplaceConfigMapProfiles(string @namespace, IEnumerable<ConfigMapProfileSource> sources)
    {
        lock (_configMapLock)
        {
            _configMapNamespace = @namespace;
            var next = new Dictionary<string, ConfigMapProfileSource>(StringComparer.Ordinal);
            foreach (var source in sources.OrderBy(s => s.ConfigMap, StringComparer.Ordinal).ThenBy(s => s.Key, StringComparer.Ordinal))
            {
                if (!ConfigMapProfileName().IsMatch(source.Name))
                {
                    LogConfigMapKeyIgnored(source.Describe(), "the key is not a profile name ([A-Za-z0-9._-]+)");
                    continue;
                }
                if (next.TryGetValue(source.Name, out var first))
                {
                    LogConfigMapKeyIgnored(source.Describe(), $"profile configmap/{source.Name} is already provided by {first.Describe()}");
                    continue;
                }
                next[source.Name] = source;
            }
            var previous = _configMapSources.ToDictionary(StringComparer.Ordinal);
            foreach (var name in previous.Keys.Where(n => !next.ContainsKey(n)))
                _configMapSources.TryRemove(name, out _);
            foreach (var (name, source) in next)
                _configMapSources[name] = source;

            foreach (var current in _loaded.Values.Where(l => l.Location is ConfigMapProfileLocation).ToList())
            {
                var name = ((ConfigMapProfileLocation)current.Location).Name;
                var was = previous.GetValueOrDefault(name);
                if (!next.TryGetValue(name, out var now))
                {
                    _loaded.TryRemove(KeyValuePair.Create(current.Reference, current));
                    var from = was?.Describe() ?? $"namespace {@namespace}";
                    LogConfigMapProfileRemoved(current.Reference, from, current.Version);
                    ConfigMapProfileRemoved?.Invoke(current.Reference, $"profile {current.Reference} was removed from {from}");
                    continue;
                }
                if (was is not null && was.Json == now.Json)
                    continue;
                ReloadOne(current, now.Describe());
            }
        }
    }

    [GeneratedRegex("^[A-Za-z0-9._-]+$")]
    private static partial Regex ConfigMapProfileName();

    [LoggerMessage(Level = LogLevel.Warning, Message = "Ignoring {Source}: {Problem}")]
    private partial void LogConfigMapKeyIgnored(string source, string problem);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Profile {Profile} (version {Version}) was removed from {Source}")]
    private partial void LogConfigMapProfileRemoved(string profile, string source, int version);
}
