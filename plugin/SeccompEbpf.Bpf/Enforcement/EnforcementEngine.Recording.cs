using Microsoft.Extensions.Logging;
using SeccompEbpf.Bpf.Interop;
using SeccompEbpf.Profiles.Parsing;
using SeccompEbpf.Profiles.Syscalls;

namespace SeccompEbpf.Bpf.Enforcement;

/// <summary>The syscalls a recording container attempted since its recording started (or was reset), whatever its policy decided.</summary>
/// <param name="CgroupId">The bound cgroup.</param>
/// <param name="Syscalls">Numbers per ABI (x86_64, i386, x32 without its 0x40000000 bit), ascending.</param>
/// <param name="OutOfRange">Some syscall number at or above 512 was attempted; the bitmap cannot say which.</param>
/// <param name="Arguments">What `record --with-args` recorded (RecordArguments), in the order asked; empty when nothing was asked.</param>
public sealed record SyscallRecording(ulong CgroupId, IReadOnlyDictionary<SyscallArch, IReadOnlyList<uint>> Syscalls, bool OutOfRange,
    IReadOnlyList<RecordedArgument>? Arguments = null)
{
    /// <summary>The name of a recorded number of <paramref name="arch"/>'s table (x32 numbers are recorded without their bit), or null.</summary>
    public static string? NameOf(SyscallArch arch, uint nr) => SyscallTables.NameOf(arch, arch == SyscallArch.X32 ? nr | SyscallTable.X32Bit : nr);
}

/// <summary>One argument of one syscall whose values a recording collects (`record --with-args NAME:INDEX`).</summary>
public sealed record ArgumentToRecord(string Syscall, int Index)
{
    /// <summary>At most this many per recording (SC_RECORD_ARG_SLOTS).</summary>
    public const int MaxSyscalls = RecordArgsValue.Slots;

    /// <summary>At most this many distinct values per argument (SC_RECORD_ARG_VALUES); more set Overflow.</summary>
    public const int MaxValues = RecordArgSlot.Values;

    /// <summary>The problem with a set of arguments to record, or null: unknown syscall, index outside 0..5, a syscall twice, too many.</summary>
    public static string? Problem(IReadOnlyList<ArgumentToRecord> arguments)
    {
        if (arguments.Count > MaxSyscalls)
            return $"at most {MaxSyscalls} syscalls can have their arguments recorded, not {arguments.Count}";
        foreach (var a in arguments)
        {
            if (!SyscallTables.IsKnownAnywhere(a.Syscall))
                return $"unknown syscall \"{a.Syscall}\" (no x86_64, i386 or x32 syscall has that name)";
            if (a.Index is < 0 or > 5)
                return $"argument index {a.Index} of {a.Syscall} is outside 0..5";
        }
        // one index per syscall: values of two arguments recorded apart cannot say which pairs occurred together
        if (arguments.GroupBy(a => a.Syscall, StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1) is { } twice)
            return $"{twice.Key} is named twice: one argument per syscall can be recorded";
        return null;
    }
}


public sealed partial class EnforcementEngine
{
    private static readonly SyscallArch[] RecordTables = [SyscallArch.X86_64, SyscallArch.I386, SyscallArch.X32]; // SC_RECORD_* order

    /// <summary>
    /// Starts recording the syscalls of a bound cgroup (and its descendants) with an empty set; a recording already
    /// running starts over. The recording lasts until StopRecording or Unbind, across rebinds and engine restarts.
    /// </summary>
    /// <exception cref="InvalidOperationException">The cgroup is not bound: only managed containers pass through the recorder.</exception>
    public void StartRecording(ulong cgroupId)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        lock (_gate)
        {
            AdoptGateBindings();
            if (!_bindings.TryGetValue(cgroupId, out var binding) || !_maps.Bindings.TryLookup(cgroupId, out BindingValue value))
                throw new InvalidOperationException($"cgroup {cgroupId} is not bound: only a managed container can be recorded");
            // the empty set first, then the flag: a task never sees the flag without a bitmap to set
            _maps.Recordings.Update(cgroupId, default(RecordingValue));
            AttachPrograms(); // a binding its kernel seccomp floor covers runs no program until something records it
            if (!binding.Recording)
            {
                SetBindingFlag(cgroupId, value, BindingValue.Recording);
                _bindings[cgroupId] = binding with { Recording = true };
            }
        }
        _logger.LogInformation("recording the syscalls of cgroup {CgroupId} (from an empty set)", cgroupId);
    }

    /// <summary>
    /// Starts recording (from an empty set) the values of the given arguments on a recording cgroup, replacing what
    /// it recorded of arguments before; an empty list stops recording arguments. Stops with the recording.
    /// </summary>
    /// <exception cref="ArgumentException">The arguments are not valid (<see cref="ArgumentToRecord.Problem"/>).</exception>
    /// <exception cref="InvalidOperationException">The cgroup does not record.</exception>
    public void RecordArguments(ulong cgroupId, IReadOnlyList<ArgumentToRecord> arguments)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (ArgumentToRecord.Problem(arguments) is { } problem)
            throw new ArgumentException(problem, nameof(arguments));
        var fresh = default(RecordArgsValue);
        for (int s = 0; s < RecordArgsValue.Slots; s++)
            for (int table = 0; table < RecordTables.Length; table++)
                fresh.Slot[s].Nr[table] = RecordArgSlot.None;
        for (int s = 0; s < arguments.Count; s++)
        {
            fresh.Slot[s].Index = (uint)arguments[s].Index;
            for (int table = 0; table < RecordTables.Length; table++)
                if (SyscallTables.Resolve(RecordTables[table], arguments[s].Syscall) is { } nr)
                    fresh.Slot[s].Nr[table] = nr & ~SyscallTable.X32Bit;
        }
        lock (_gate)
        {
            if (!_bindings.TryGetValue(cgroupId, out var binding) || !binding.Recording || !_maps.Bindings.TryLookup(cgroupId, out BindingValue value))
                throw new InvalidOperationException($"cgroup {cgroupId} does not record: arguments are recorded along with its syscalls");
            if (arguments.Count == 0)
            {
                if (binding.RecordArgs)
                    ClearBindingFlag(cgroupId, BindingValue.RecordArgs);
                _bindings[cgroupId] = binding with { RecordArgs = false };
                _maps.RecordArgs.Delete(cgroupId);
                return;
            }
            // the empty sets first, then the flag: a task never sees the flag without slots to fill
            _maps.RecordArgs.Update(cgroupId, fresh);
            if (!binding.RecordArgs)
            {
                SetBindingFlag(cgroupId, value, BindingValue.RecordArgs);
                _bindings[cgroupId] = binding with { RecordArgs = true };
            }
        }
        _logger.LogInformation("recording arguments {Arguments} of cgroup {CgroupId}", string.Join(",", arguments.Select(a => $"{a.Syscall}:{a.Index}")), cgroupId);
    }

    /// <summary>Stops recording; the set recorded so far is gone. Unknown or non-recording cgroups are ignored.</summary>
    public void StopRecording(ulong cgroupId)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        lock (_gate)
        {
            if (!_bindings.TryGetValue(cgroupId, out var binding) || !binding.Recording)
                return;
            ClearBindingFlag(cgroupId, (byte)(BindingValue.Recording | BindingValue.RecordArgs));
            _bindings[cgroupId] = binding with { Recording = false, RecordArgs = false };
            _maps.Recordings.Delete(cgroupId);
            _maps.RecordArgs.Delete(cgroupId);
            DetachProgramsIfUnneeded();
        }
        _logger.LogInformation("stopped recording the syscalls of cgroup {CgroupId}", cgroupId);
    }

    /// <summary>What the cgroup's recording holds now, or null when it is not recording.</summary>
    public SyscallRecording? ReadRecording(ulong cgroupId)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        RecordingValue value;
        RecordArgsValue args = default;
        bool withArgs;
        lock (_gate)
        {
            if (!_bindings.TryGetValue(cgroupId, out var binding) || !binding.Recording || !_maps.Recordings.TryLookup(cgroupId, out value))
                return null;
            withArgs = binding.RecordArgs && _maps.RecordArgs.TryLookup(cgroupId, out args);
        }
        var syscalls = new Dictionary<SyscallArch, IReadOnlyList<uint>>();
        for (int table = 0; table < RecordTables.Length; table++)
        {
            var numbers = new List<uint>();
            for (uint nr = 0; nr < RecordingValue.Syscalls; nr++)
                if (value.IsSet(table, nr))
                    numbers.Add(nr);
            syscalls[RecordTables[table]] = numbers;
        }
        return new SyscallRecording(cgroupId, syscalls, value.OutOfRange != 0, withArgs ? ArgumentsOf(args) : []);
    }

    private static List<RecordedArgument> ArgumentsOf(RecordArgsValue args)
    {
        var result = new List<RecordedArgument>();
        for (int s = 0; s < RecordArgsValue.Slots; s++)
        {
            var slot = args.Slot[s];
            string? name = null;
            for (int table = 0; table < RecordTables.Length && name is null; table++)
                if (slot.Nr[table] != RecordArgSlot.None)
                    name = SyscallRecording.NameOf(RecordTables[table], slot.Nr[table]);
            if (name is null)
                continue; // an unused slot
            // only published entries (their ready bit): a claimed one may not be written yet; duplicates of a race fold here
            var values = new SortedSet<ulong>();
            for (int i = 0; i < RecordArgSlot.Values; i++)
                if ((slot.Ready & (1UL << i)) != 0)
                    values.Add(slot.ValuesSeen[i]);
            result.Add(new RecordedArgument(name, (int)slot.Index, values.ToList(), slot.Overflow != 0));
        }
        return result;
    }
}
