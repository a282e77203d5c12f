using Microsoft.Extensions.Logging;
using SeccompEbpf.Bpf.Interop;
using SeccompEbpf.Bpf.Enforcement;
using SeccompEbpf.Bpf.Probing;
using SeccompEbpf.Lifecycle;
using SeccompEbpf.Profiles.Compiled;
using SeccompEbpf.Nri;

namespace SeccompEbpf.Daemon;

/// <summary>
/// The daemon's side of the fail-closed exec gate (bpf/lib/gate.h): configures it at start, admits every container
/// and sandbox it sees through NRI, vouches for the node while it follows the runtime, and reports what the gate
/// recorded while no daemon did. Never throws into the NRI path: a gate failure is logged and the gate stays as it was.
/// </summary>
internal sealed partial class ExecGateKeeper : IDisposable
{
    // Renewed every second; a daemon that stops renewing (crash, hang, dropped by the runtime) shuts the gate within this.
    private static readonly TimeSpan VouchValidity = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan VouchRenewal = TimeSpan.FromSeconds(1);

    private readonly EnforcementEngine? _engine;
    private readonly ExecGateMode _mode;
    private readonly string? _fallbackReference;
    private CompiledProfile? _fallback; // gate mode profile: the version armed in the kernel
    private readonly ILogger<ExecGateKeeper> _logger;
    private readonly Lock _lock = new();
    private readonly List<ulong> _parents = [];
    private readonly Dictionary<ulong, ExecGateRecord> _unreported = [];
    private readonly Dictionary<string, ulong> _sandboxes = new(StringComparer.Ordinal);
    private readonly Timer _vouch;
    private bool _vouching;

    /// <exception cref="GateConfigurationException">Gate mode profile, and its fallback profile cannot be loaded or enforced.</exception>
    public ExecGateKeeper(EngineHost engine, ProfileStore profiles, DaemonOptions options, ILogger<ExecGateKeeper> logger)
    {
        _engine = engine.Engine;
        _mode = options.Gate.ParsedMode;
        _fallbackReference = _mode == ExecGateMode.Profile ? options.Gate.Profile : null;
        _logger = logger;
        _vouch = new Timer(_ => Renew(), null, Timeout.Infinite, Timeout.Infinite);
        if (_engine is null)
            return;
        string mount = CgroupFs.Mount;
        foreach (var relative in options.Gate.ContainerCgroupParents)
        {
            var path = Path.Join(mount, relative);
            if (Directory.Exists(path))
                _parents.Add(CgroupFs.IdOf(path));
        }
        if (_fallbackReference is not null)
        {
            // A fallback that cannot be armed is a configuration error: the gate the operator asked for would not exist.
            try
            {
                _fallback = profiles.Get(_fallbackReference).Compiled;
                var report = _engine.ConfigureExecGate(_mode, _parents, _fallback);
                LogFallbackArmed(_fallbackReference, _fallback.Hash[..12], report?.Exactness?.ToString() ?? "not planned");
            }
            catch (Exception e) when (e is PolicySelectionException or EnforcementRefusedException or ArgumentException or BpfException)
            {
                throw new GateConfigurationException($"gate.profile \"{_fallbackReference}\": {e.Message}", e);
            }
            profiles.Changed += OnProfileChanged;
        }
        else
        {
            Guard("configuring the exec gate", () => _engine.ConfigureExecGate(_mode, _parents));
        }
        Guard("reading the exec gate's records", () =>
        {
            foreach (var record in _engine.DrainExecGateRecords())
            {
                _unreported[record.CgroupId] = record;
                LogRecorded(record.CgroupId, record.Execs, record.Denied, record.LastPid, record.LastComm);
            }
        });
    }

    /// <summary>The configured mode, as the configuration spells it.</summary>
    public string Mode => _mode switch { ExecGateMode.DenyExec => "deny-exec", ExecGateMode.Log => "log", ExecGateMode.Profile => "profile", _ => "off" };

    /// <summary>The fallback profile of gate mode profile (its reference), else null.</summary>
    public string? FallbackProfile => _fallbackReference;

    // An edit of the fallback profile re-arms the gate with the new version; a failure keeps the last good one armed.
    private void OnProfileChanged(LoadedProfile loaded)
    {
        if (loaded.Reference != _fallbackReference || _engine is null)
            return;
        lock (_lock)
        {
            Guard($"re-arming the fallback profile {loaded.Reference}", () =>
            {
                _engine.ConfigureExecGate(_mode, _parents, loaded.Compiled);
                _fallback = loaded.Compiled;
                LogFallbackArmed(loaded.Reference, loaded.Compiled.Hash[..12], "re-armed after an edit");
            });
        }
    }

    /// <summary>What the gate recorded for a cgroup while no daemon vouched (for ps), once matched to a container.</summary>
    public ExecGateRecord? RecordOf(ulong cgroupId)
    {
        lock (_lock)
            return _unreported.GetValueOrDefault(cgroupId);
    }

    /// <summary>NRI connection steps: vouch only while synchronized with the runtime.</summary>
    public void OnConnectionState(NriConnectionState state)
    {
        switch (state)
        {
            case NriConnectionState.Synchronized:
                lock (_lock)
                    _vouching = true;
                Renew();
                _vouch.Change(VouchRenewal, VouchRenewal);
                break;
            case NriConnectionState.Disconnected:
                lock (_lock)
                    _vouching = false;
                _vouch.Change(Timeout.Infinite, Timeout.Infinite);
                Guard("withdrawing the vouch", () => _engine?.VouchExecGate(TimeSpan.Zero));
                break;
        }
    }

    /// <summary>A container or sandbox seen through NRI: its execs are never gated. Learns its runtime's cgroup parent.</summary>
    public void Admit(ulong cgroupId, string? cgroupPath, PodRecord? pod, string container)
    {
        if (_engine is null || cgroupId == 0)
            return;
        Guard("admitting a cgroup", () =>
        {
            _engine.AdmitToExecGate(cgroupId);
            LearnParent(cgroupPath);
        });
        ExecGateRecord? record;
        lock (_lock)
            record = _unreported.GetValueOrDefault(cgroupId);
        if (record is not null)
            LogGap(pod?.Namespace ?? "", pod?.Name ?? "", container, cgroupId, record.Execs, record.Denied, Mode, record.BoundToFallback ? _fallbackReference ?? "?" : "none");
    }

    /// <summary>A pod's sandbox (pause) process: its cgroup is admitted like a container's. Returns the cgroup id, or 0.</summary>
    public ulong AdmitSandbox(string podId, int pid, PodRecord pod)
    {
        if (_engine is null || pid <= 0)
            return 0;
        string path;
        ulong cgroup;
        try
        {
            path = CgroupFs.DirectoryOf(pid);
            cgroup = CgroupFs.IdOf(path);
        }
        catch (Exception e) when (e is IOException or InvalidOperationException or UnauthorizedAccessException)
        {
            return 0; // the sandbox is already gone
        }
        lock (_lock)
            _sandboxes[podId] = cgroup;
        Admit(cgroup, path, pod, "(sandbox)");
        return cgroup;
    }

    /// <summary>The pod is removed: its sandbox cgroup is forgotten.</summary>
    public void ForgetSandbox(string podId)
    {
        ulong cgroup;
        lock (_lock)
        {
            if (!_sandboxes.Remove(podId, out cgroup))
                return;
        }
        Forget(cgroup);
    }

    /// <summary>Its container is gone.</summary>
    public void Forget(ulong cgroupId)
    {
        if (_engine is null || cgroupId == 0)
            return;
        Guard("forgetting a cgroup", () => _engine.ForgetInExecGate(cgroupId));
        lock (_lock)
            _unreported.Remove(cgroupId);
    }

    /// <summary>After Synchronize: admitted cgroups the runtime no longer has are dropped.</summary>
    public void Retain(IReadOnlyCollection<ulong> live)
    {
        if (_engine is null)
            return;
        Guard("reconciling admitted cgroups", () =>
        {
            foreach (var stale in _engine.ExecGateAdmitted().Where(id => !live.Contains(id)))
                _engine.ForgetInExecGate(stale);
        });
    }

    public void Dispose()
    {
        _vouch.Dispose();
        // A stopping daemon stops vouching at once: the gate shuts now, not when the vouch runs out.
        Guard("withdrawing the vouch", () => _engine?.VouchExecGate(TimeSpan.Zero));
    }

    private void Renew()
    {
        lock (_lock)
        {
            if (!_vouching)
                return;
        }
        Guard("renewing the vouch", () => _engine?.VouchExecGate(VouchValidity));
    }

    // The top-level directory below the cgroup2 mount (kubepods, k8s.io, ...) of a container's cgroup.
    private void LearnParent(string? cgroupPath)
    {
        if (cgroupPath is null)
            return;
        string mount = CgroupFs.Mount.TrimEnd('/');
        if (!cgroupPath.StartsWith(mount + "/", StringComparison.Ordinal))
            return;
        var parts = cgroupPath[(mount.Length + 1)..].Split('/', StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length < 2)
            return; // a container directly below the root has no parent to gate by
        ulong parent = CgroupFs.IdOf(Path.Join(mount, parts[0]));
        lock (_lock)
        {
            if (_parents.Contains(parent) || _parents.Count >= 4)
                return;
            _parents.Add(parent);
            _engine!.ConfigureExecGate(_mode, _parents, _fallback);
        }
    }

    private void Guard(string what, Action action)
    {
        try
        {
            action();
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            LogFailed(what, e.Message);
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Exec gate: cgroup {CgroupId} exec'd {Execs} time(s) while no daemon admitted it ({Denied} denied; last pid {Pid} {Comm})")]
    private partial void LogRecorded(ulong cgroupId, ulong execs, ulong denied, int pid, string comm);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Exec gate: pod {PodNamespace}/{Pod} container {Container} (cgroup {CgroupId}) was created while no daemon followed the runtime: {Execs} exec(s), {Denied} denied, bound by the gate to fallback profile {Fallback} (gate {Mode})")]
    private partial void LogGap(string podNamespace, string pod, string container, ulong cgroupId, ulong execs, ulong denied, string mode, string fallback);

    [LoggerMessage(Level = LogLevel.Information, Message = "Exec gate: fallback profile {Profile} ({Hash}) armed for containers no daemon admitted: {Exactness}")]
    private partial void LogFallbackArmed(string profile, string hash, string exactness);

    [LoggerMessage(Level = LogLevel.Error, Message = "Exec gate: {What} failed: {Reason}")]
    private partial void LogFailed(string what, string reason);
}

/// <summary>The gate's configuration cannot be put in force (its fallback profile cannot be loaded or enforced).</summary>
internal sealed class GateConfigurationException(string message, Exception inner) : Exception(message, inner);
