using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using SeccompEbpf.Bpf.Enforcement;
using SeccompEbpf.Daemon;
using SeccompEbpf.Profiles.BuiltIns;
using SeccompEbpf.Profiles.Compilation;
using SeccompEbpf.Profiles.Compiled;
using SeccompEbpf.Profiles.Parsing;

namespace SeccompEbpf.Lifecycle;

/// <summary>A profile compiled and ready to bind; <see cref="Version"/> grows with every accepted edit.</summary>
internal sealed record LoadedProfile(string Reference, ProfileLocation Location, CompiledProfile Compiled, int Version, IReadOnlyList<string> Warnings);

/// <summary>
/// Resolves profile references to compiled profiles, caches them, and watches the profile directory and the kubelet
/// seccomp root: an edit that compiles replaces the profile (and <see cref="Changed"/> fires); an edit that does not
/// is logged and the last good version stays in force.
/// </summary>
internal sealed partial class ProfileStore : IDisposable
{
    private readonly PolicyOptions _options;
    private readonly CompileContext _context;
    private readonly ILogger<ProfileStore> _logger;
    private readonly ConcurrentDictionary<string, LoadedProfile> _loaded = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, CancellationTokenSource> _pendingReloads = new(StringComparer.Ordinal);
    private readonly List<FileSystemWatcher> _watchers = [];
    private readonly Lock _loadLock = new();
    private readonly ConfigMapProfileSources _configMaps;
    private readonly Lock _configMapLock = new();

    public ProfileStore(PolicyOptions options, CompileContext context, ILogger<ProfileStore> logger)
    {
        _options = options;
        _context = context;
        _logger = logger;
        _configMaps = new ConfigMapProfileSources(logger);
        Watch(options.ProfileDirectory);
        Watch(options.KubeletSeccompRoot);
    }

    /// <summary>Raised (on a thread-pool thread) after an edited profile compiled; containers using it should rebind.</summary>
    public event Action<LoadedProfile>? Changed;

    /// <summary>Raised when an edit was rejected; the previous version stays in force.</summary>
    public event Action<string, string>? Rejected;

    /// <summary>Raised when a <c>configmap/NAME</c> profile in use disappeared (key or ConfigMap deleted); the message says from where.</summary>
    public event Action<string, string>? ConfigMapProfileRemoved;

    /// <summary>Where the ConfigMap profile <paramref name="reference"/> currently comes from, if anywhere.</summary>
    public ConfigMapProfileSource? ConfigMapSourceOf(string reference) => _configMaps.SourceOf(reference);

    /// <summary>
    /// The compiled profile for <paramref name="reference"/>: ready when the profile directory or a built-in was loaded
    /// ahead (<see cref="Preload"/>), else loaded now. A load takes no lock: a slow file never holds up containers that
    /// reference other profiles (two first uses of one reference may both load it; the first stored wins).
    /// </summary>
    /// <exception cref="PolicySelectionException">Unknown, unreadable, invalid or escaping reference; the message says which.</exception>
    public LoadedProfile Get(string reference)
    {
        if (_loaded.TryGetValue(reference, out var cached))
            return cached;
        var location = (ProfileLocation?)ConfigMapProfileSources.Resolve(reference)
            ?? ProfileReference.Resolve(reference, _options.ProfileDirectory, _options.KubeletSeccompRoot);
        var loaded = Load(reference, location, version: 1);
        return _loaded.GetOrAdd(reference, loaded);
    }

    /// <summary>
    /// Loads, validates and compiles the built-ins and every NAME.json of the profile directory in the background, so the
    /// NRI handlers find them ready: reading and compiling a large profile belongs to when files change, not to a
    /// container's start. A profile that fails here is logged and fails again, with its reason, when a container uses it.
    /// </summary>
    public Task Preload() => Task.Run(() =>
    {
        var names = new List<string>(ProfileReference.BuiltinNames);
        try
        {
            if (Directory.Exists(_options.ProfileDirectory))
                names.AddRange(Directory.EnumerateFiles(_options.ProfileDirectory, "*.json").Select(f => Path.GetFileNameWithoutExtension(f)!));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            LogPreloadFailed(_options.ProfileDirectory, e.Message);
        }
        foreach (var name in names)
            PreloadOne(name);
        LogPreloaded(_loaded.Count);
    });

    private void PreloadOne(string reference)
    {
        if (_loaded.ContainsKey(reference))
            return;
        try
        {
            Get(reference);
        }
        catch (PolicySelectionException e)
        {
            LogPreloadFailed(reference, e.Message);
        }
    }

    /// <summary>References loaded so far (for status and reloads).</summary>
    public IReadOnlyCollection<LoadedProfile> Loaded => _loaded.Values.ToArray();

    private LoadedProfile Load(string reference, ProfileLocation location, int version)
    {
        switch (location)
        {
            case ProfileLocation.Builtin builtin:
            {
                var result = BuiltInProfiles.Compile(builtin.Name, _context);
                return new LoadedProfile(reference, location, result.Profile, version, result.Warnings);
            }
            case ProfileLocation.File file:
            {
                // Checked on every load and reload: a symlink swapped in since the reference was resolved may lead out of the root.
                byte[] bytes;
                try
                {
                    bytes = ProfileFile.ReadAllBytes(file.Path, file.Root);
                }
                catch (ProfileFileException e)
                {
                    throw new PolicySelectionException($"profile \"{PolicyAnnotations.Echo(reference)}\" cannot be read: {e.Message}");
                }
                return Compile(reference, location, version, ProfileParser.Parse(bytes), file.Path);
            }
            case ConfigMapProfileLocation configMap:
            {
                var source = _configMaps.Get(reference, configMap);
                return Compile(reference, location, version, ProfileParser.Parse(source.Json), source.Describe());
            }
            default:
                throw new InvalidOperationException($"unknown profile location {location}");
        }
    }

    /// <summary>A parsed profile compiled and checked against the BPF limits; <paramref name="source"/> names it in diagnostics.</summary>
    private LoadedProfile Compile(string reference, ProfileLocation location, int version, Profiles.Model.ProfileParseResult parsed, string source)
    {
        if (parsed.HasErrors || parsed.Profile is null)
        {
            var errors = parsed.Diagnostics.Where(d => d.Severity == Profiles.Model.DiagnosticSeverity.Error).Take(5).Select(d => d.Format(source));
            throw new PolicySelectionException($"profile \"{PolicyAnnotations.Echo(reference)}\" is invalid: {string.Join("; ", errors)}");
        }
        try
        {
            var compiled = ProfileCompiler.Compile(parsed.Profile, _context);
            CheckBpfLimits(reference, compiled.Profile);
            var warnings = parsed.Diagnostics.Where(d => d.Severity == Profiles.Model.DiagnosticSeverity.Warning).Select(d => d.Format(source))
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
            var (previous, next) = _configMaps.Replace(@namespace, sources);
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

    // Refused here, when the profile is loaded or edited, rather than by the engine when a container starts: a veto at
    // CreateContainer or a rejected reload instead of a bind that fails on the handler path.
    private static void CheckBpfLimits(string reference, CompiledProfile compiled)
    {
        var problems = BpfLimits.Check(compiled);
        if (problems.Count > 0)
            throw new PolicySelectionException(
                $"profile \"{PolicyAnnotations.Echo(reference)}\" exceeds the BPF evaluator's limits: {string.Join("; ", problems.Take(3).Select(p => p.Message))}" +
                (problems.Count > 3 ? $"; and {problems.Count - 3} more" : ""));
    }

    private void Watch(string directory)
    {
        if (!Directory.Exists(directory))
            return;
        var watcher = new FileSystemWatcher(directory)
        {
            IncludeSubdirectories = true,
            NotifyFilter = NotifyFilters.FileName | NotifyFilters.LastWrite | NotifyFilters.Size | NotifyFilters.CreationTime,
        };
        watcher.Changed += (_, e) => ScheduleReload(e.FullPath);
        watcher.Created += (_, e) => ScheduleReload(e.FullPath);
        watcher.Deleted += (_, e) => ScheduleReload(e.FullPath);
        watcher.Renamed += (_, e) => ScheduleReload(e.FullPath);
        watcher.EnableRaisingEvents = true;
        _watchers.Add(watcher);
    }

    // Editors write in several steps (truncate, write, rename): wait until the file has been quiet for a moment.
    private void ScheduleReload(string path)
    {
        var debounce = new CancellationTokenSource();
        var previous = _pendingReloads.AddOrUpdate(path, debounce, (_, old) => { old.Cancel(); return debounce; });
        _ = Task.Delay(_options.ReloadDebounceMilliseconds, debounce.Token).ContinueWith(t =>
        {
            if (t.IsCanceled)
                return;
            _pendingReloads.TryRemove(KeyValuePair.Create(path, debounce));
            Reload(path);
        }, TaskScheduler.Default);
    }

    private void Reload(string path)
    {
        var reloaded = false;
        foreach (var current in _loaded.Values)
        {
            if (current.Location is ProfileLocation.File file && file.Path == path)
            {
                ReloadOne(current, path);
                reloaded = true;
            }
        }
        // A profile new to the directory is loaded now, before a container asks for it.
        if (!reloaded && path.EndsWith(".json", StringComparison.Ordinal)
            && Path.GetDirectoryName(path) == Path.TrimEndingDirectorySeparator(_options.ProfileDirectory) && File.Exists(path))
            PreloadOne(Path.GetFileNameWithoutExtension(path));
    }

    /// <summary>Recompiles one loaded profile from its source: a change replaces it, a broken edit leaves it in force.</summary>
    private void ReloadOne(LoadedProfile current, string source)
    {
        try
        {
            // Read and compiled outside the lock: only the swap is serialized (a slower, older reload must not win).
            var next = Load(current.Reference, current.Location, current.Version + 1);
            if (next.Compiled.Hash == current.Compiled.Hash)
                return;
            lock (_loadLock)
            {
                if (!_loaded.TryGetValue(current.Reference, out var latest) || latest.Version != current.Version)
                    return;
                _loaded[current.Reference] = next;
            }
            LogReloaded(current.Reference, source, next.Version, next.Compiled.Hash[..12]);
            Changed?.Invoke(next);
        }
        catch (Exception e) when (e is PolicySelectionException or IOException)
        {
            LogRejected(current.Reference, source, e.Message, current.Version);
            Rejected?.Invoke(current.Reference, e.Message);
        }
    }

    public void Dispose()
    {
        foreach (var watcher in _watchers)
            watcher.Dispose();
        foreach (var pending in _pendingReloads.Values)
            pending.Cancel();
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Profiles loaded ahead: {Count}")]
    private partial void LogPreloaded(int count);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Profile {Profile} could not be loaded ahead; containers that reference it will be refused: {Problem}")]
    private partial void LogPreloadFailed(string profile, string problem);

    [LoggerMessage(Level = LogLevel.Information, Message = "Profile {Profile} reloaded from {Path}: version {Version}, hash {Hash}")]
    private partial void LogReloaded(string profile, string path, int version, string hash);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Profile {Profile} (version {Version}) was removed from {Source}")]
    private partial void LogConfigMapProfileRemoved(string profile, string source, int version);

    [LoggerMessage(Level = LogLevel.Error, Message = "Profile {Profile}: edit of {Path} rejected, version {Version} stays in force: {Problem}")]
    private partial void LogRejected(string profile, string path, string problem, int version);
}
