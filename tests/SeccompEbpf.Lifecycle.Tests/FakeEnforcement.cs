using SeccompEbpf.Bpf.Enforcement;
using SeccompEbpf.Lifecycle;
using SeccompEbpf.Profiles.Compiled;

namespace SeccompEbpf.Lifecycle.Tests;

/// <summary>One call the controller made on the engine.</summary>
internal sealed record EngineCall(string Operation, ulong CgroupId, string? ProfileHash = null, EnforcementMode? Mode = null, string? FloorHash = null);

/// <summary>
/// Stands in for the BPF engine: keeps bindings in a dictionary, records every call, and throws at Bind/Rebind when
/// told to (a refusal, a rule-table limit, a BPF error), so the controller's handling of each outcome can be checked.
/// </summary>
internal sealed class FakeEnforcement : IEnforcement
{
    private readonly Lock _lock = new();
    private readonly Dictionary<ulong, BindingInfo> _bindings = [];
    private readonly List<EngineCall> _calls = [];

    /// <summary>Thrown by the next Bind or Rebind (and every one after, until cleared).</summary>
    public Exception? ThrowAtBind { get; set; }

    public IReadOnlyList<EngineCall> Calls
    {
        get
        {
            lock (_lock)
                return _calls.ToList();
        }
    }

    public IReadOnlyList<BindingInfo> Bindings
    {
        get
        {
            lock (_lock)
                return _bindings.Values.OrderBy(b => b.CgroupId).ToList();
        }
    }

    public BindingInfo? BindingOf(ulong cgroupId)
    {
        lock (_lock)
            return _bindings.GetValueOrDefault(cgroupId);
    }

    /// <summary>A binding found in pinned state when the engine opened, as after a daemon restart.</summary>
    public void Adopt(ulong cgroupId, string profileHash, EnforcementMode mode = EnforcementMode.Enforce)
    {
        lock (_lock)
            _bindings[cgroupId] = new BindingInfo(cgroupId, profileHash, mode, Adopted: true, Degraded: false);
    }

    public void ClearCalls()
    {
        lock (_lock)
            _calls.Clear();
    }

    public BindingReport Bind(ulong cgroupId, CompiledProfile profile, EnforcementMode mode, SeccompFloor? floor) => BindCore("bind", cgroupId, profile, mode, floor);

    public BindingReport Rebind(ulong cgroupId, CompiledProfile profile, EnforcementMode mode, SeccompFloor? floor) => BindCore("rebind", cgroupId, profile, mode, floor);

    private BindingReport BindCore(string operation, ulong cgroupId, CompiledProfile profile, EnforcementMode mode, SeccompFloor? floor)
    {
        lock (_lock)
        {
            _calls.Add(new EngineCall(operation, cgroupId, profile.Hash, mode, floor?.Profile.Hash));
            if (ThrowAtBind is { } e)
                throw e;
            // As the real engine: Bind and Rebind both replace whatever the cgroup had, and a recording or a shadow goes on.
            _bindings.TryGetValue(cgroupId, out var previous);
            _bindings[cgroupId] = new BindingInfo(cgroupId, profile.Hash, mode, Adopted: false, Degraded: false, Recording: previous?.Recording == true, ShadowHash: previous?.ShadowHash);
            return new BindingReport(cgroupId, profile.Hash, mode, []);
        }
    }

    public void Unbind(ulong cgroupId)
    {
        lock (_lock)
        {
            _calls.Add(new EngineCall("unbind", cgroupId));
            _bindings.Remove(cgroupId);
            RecordedArguments.Remove(cgroupId); // as the engine's Unbind drops record_args
        }
    }

    public void StartRecording(ulong cgroupId)
    {
        lock (_lock)
        {
            _calls.Add(new EngineCall("record", cgroupId));
            if (!_bindings.TryGetValue(cgroupId, out var binding))
                throw new InvalidOperationException($"cgroup {cgroupId} is not bound: only a managed container can be recorded");
            _bindings[cgroupId] = binding with { Recording = true };
        }
    }

    /// <summary>The arguments RecordArguments was last given per cgroup (dropped when the recording stops).</summary>
    public Dictionary<ulong, IReadOnlyList<ArgumentToRecord>> RecordedArguments { get; } = [];

    public void RecordArguments(ulong cgroupId, IReadOnlyList<ArgumentToRecord> arguments)
    {
        lock (_lock)
        {
            _calls.Add(new EngineCall("record-args", cgroupId));
            if (ArgumentToRecord.Problem(arguments) is { } problem)
                throw new ArgumentException(problem, nameof(arguments));
            if (!_bindings.TryGetValue(cgroupId, out var binding) || !binding.Recording)
                throw new InvalidOperationException($"cgroup {cgroupId} does not record");
            if (arguments.Count == 0)
                RecordedArguments.Remove(cgroupId);
            else
                RecordedArguments[cgroupId] = arguments;
        }
    }

    public void StopRecording(ulong cgroupId)
    {
        lock (_lock)
        {
            _calls.Add(new EngineCall("stop-recording", cgroupId));
            if (_bindings.TryGetValue(cgroupId, out var binding))
                _bindings[cgroupId] = binding with { Recording = false };
            RecordedArguments.Remove(cgroupId);
        }
    }

    public SyscallRecording? ReadRecording(ulong cgroupId)
    {
        lock (_lock)
            return _bindings.TryGetValue(cgroupId, out var binding) && binding.Recording
                ? new SyscallRecording(cgroupId, new Dictionary<SeccompEbpf.Profiles.Syscalls.SyscallArch, IReadOnlyList<uint>>
                    { [SeccompEbpf.Profiles.Syscalls.SyscallArch.X86_64] = [0, 1, 231] }, OutOfRange: false,
                    RecordedArguments.TryGetValue(cgroupId, out var arguments)
                        ? arguments.Select(a => new SeccompEbpf.Profiles.Parsing.RecordedArgument(a.Syscall, a.Index, [], false)).ToList() : [])
                : null;
    }

    /// <summary>Thrown by the next SetShadow (and every one after, until cleared).</summary>
    public Exception? ThrowAtShadow { get; set; }

    /// <summary>What ReadShadow reports for a shadowed cgroup (differences, denials).</summary>
    public (ulong Differences, ulong Denials) ShadowCountsToReport { get; set; } = (3, 2);

    public BindingReport SetShadow(ulong cgroupId, CompiledProfile profile)
    {
        lock (_lock)
        {
            _calls.Add(new EngineCall("shadow", cgroupId, profile.Hash));
            if (ThrowAtShadow is { } e)
                throw e;
            if (!_bindings.TryGetValue(cgroupId, out var binding))
                throw new InvalidOperationException($"cgroup {cgroupId} is not bound: a shadow is evaluated beside a bound profile");
            _bindings[cgroupId] = binding with { ShadowHash = profile.Hash };
            return new BindingReport(cgroupId, profile.Hash, EnforcementMode.Enforce, []);
        }
    }

    public void ClearShadow(ulong cgroupId)
    {
        lock (_lock)
        {
            if (!_bindings.TryGetValue(cgroupId, out var binding) || binding.ShadowHash is null)
                return;
            _calls.Add(new EngineCall("clear-shadow", cgroupId));
            _bindings[cgroupId] = binding with { ShadowHash = null };
        }
    }

    public ShadowCounts? ReadShadow(ulong cgroupId)
    {
        lock (_lock)
            return _bindings.TryGetValue(cgroupId, out var binding) && binding.ShadowHash is { } hash
                ? new ShadowCounts(cgroupId, hash, ShadowCountsToReport.Differences, ShadowCountsToReport.Denials)
                : null;
    }
}
