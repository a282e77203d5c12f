using Microsoft.Extensions.Logging;
using SeccompEbpf.Bpf.Interop;
using SeccompEbpf.Profiles.Syscalls;

namespace SeccompEbpf.Bpf.Enforcement;

/// <summary>The syscalls a recording container attempted since its recording started (or was reset), whatever its policy decided.</summary>
/// <param name="CgroupId">The bound cgroup.</param>
/// <param name="Syscalls">Numbers per ABI (x86_64, i386, x32 without its 0x40000000 bit), ascending.</param>
/// <param name="OutOfRange">Some syscall number at or above 512 was attempted; the bitmap cannot say which.</param>
public sealed record SyscallRecording(ulong CgroupId, IReadOnlyDictionary<SyscallArch, IReadOnlyList<uint>> Syscalls, bool OutOfRange);

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
                value.Flags |= BindingValue.Recording;
                _maps.Bindings.Update(cgroupId, value);
                BindingsChanged();
                _bindings[cgroupId] = binding with { Recording = true };
            }
        }
        _logger.LogInformation("recording the syscalls of cgroup {CgroupId} (from an empty set)", cgroupId);
    }

    /// <summary>Stops recording; the set recorded so far is gone. Unknown or non-recording cgroups are ignored.</summary>
    public void StopRecording(ulong cgroupId)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        lock (_gate)
        {
            if (!_bindings.TryGetValue(cgroupId, out var binding) || !binding.Recording)
                return;
            ClearBindingFlag(cgroupId, BindingValue.Recording);
            _bindings[cgroupId] = binding with { Recording = false };
            _maps.Recordings.Delete(cgroupId);
            DetachProgramsIfUnneeded();
        }
        _logger.LogInformation("stopped recording the syscalls of cgroup {CgroupId}", cgroupId);
    }

    /// <summary>What the cgroup's recording holds now, or null when it is not recording.</summary>
    public SyscallRecording? ReadRecording(ulong cgroupId)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        RecordingValue value;
        lock (_gate)
        {
            if (!_bindings.TryGetValue(cgroupId, out var binding) || !binding.Recording || !_maps.Recordings.TryLookup(cgroupId, out value))
                return null;
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
        return new SyscallRecording(cgroupId, syscalls, value.OutOfRange != 0);
    }
}
