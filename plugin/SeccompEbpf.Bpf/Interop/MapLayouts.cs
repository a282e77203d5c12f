using System.Runtime.InteropServices;

namespace SeccompEbpf.Bpf.Interop;

// Mirrors of bpf/seccomp.h, byte for byte (BtfLayoutTests checks sizes against the object's BTF).

[StructLayout(LayoutKind.Sequential, Pack = 1)]
internal struct ScAction
{
    public byte Kind;
    public byte Flags;
    public ushort Data;

    internal const byte Degraded = 0x01;
    internal const byte Prevent = 0x02;
}

[StructLayout(LayoutKind.Sequential)]
internal struct BindingValue
{
    public uint Slot;
    public byte Mode;
    public byte Flags;
    public ushort Level;

    /// <summary>SC_BINDING_FROM_GATE: the exec gate bound an unadmitted container to its fallback profile.</summary>
    internal const byte FromGate = 0x1;

    /// <summary>SC_BINDING_RECORDING: sys_enter sets the syscall's bit in recordings[cgroup].</summary>
    internal const byte Recording = 0x2;

    /// <summary>SC_BINDING_SHADOW: sys_enter also evaluates shadows[cgroup] and reports where it differs.</summary>
    internal const byte Shadow = 0x4;

    /// <summary>SC_BINDING_RECORD_ARGS: with Recording, sys_enter also records chosen arguments in record_args[cgroup].</summary>
    internal const byte RecordArgs = 0x8;
}

/// <summary>struct shadow: the shadow profile's slot and what it would have done differently (bpf/lib/shadow.h).</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct ShadowValue
{
    public uint Slot;
    public uint Pad;
    public ulong Differences;
    public ulong Denials;
}

/// <summary>struct recording: the syscalls a recording container attempted, one bit per number per table (bpf/lib/record.h).</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct RecordingValue
{
    internal const int Syscalls = 512; // SC_RECORD_NRS
    internal const int Tables = 3;     // SC_RECORD_TABLES: x86_64, i386, x32 (SC_RECORD_*)
    public Words Bits;
    public ulong OutOfRange;

    internal readonly bool IsSet(int table, uint nr) => (Bits[table * (Syscalls / 64) + (int)(nr / 64)] & (1UL << (int)(nr % 64))) != 0;

    [System.Runtime.CompilerServices.InlineArray(Tables * Syscalls / 64)]
    internal struct Words
    {
        private ulong _element;
    }
}

/// <summary>struct record_arg_slot: one syscall's argument and the distinct values seen (bpf/lib/record.h).</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct RecordArgSlot
{
    internal const int Values = 16;         // SC_RECORD_ARG_VALUES
    internal const uint None = 0xffffffff;  // SC_RECORD_ARG_NONE
    public Numbers Nr;                      // per SC_RECORD_* table
    public uint Index;
    public ulong Claimed;
    public ulong Ready;
    public ulong Overflow;
    public ValueArray ValuesSeen;

    [System.Runtime.CompilerServices.InlineArray(RecordingValue.Tables)]
    internal struct Numbers
    {
        private uint _element;
    }

    [System.Runtime.CompilerServices.InlineArray(Values)]
    internal struct ValueArray
    {
        private ulong _element;
    }
}

/// <summary>struct record_args: the `record --with-args` slots of one recording container.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct RecordArgsValue
{
    internal const int Slots = 4; // SC_RECORD_ARG_SLOTS
    public SlotArray Slot;

    [System.Runtime.CompilerServices.InlineArray(Slots)]
    internal struct SlotArray
    {
        private RecordArgSlot _element;
    }
}

[StructLayout(LayoutKind.Sequential)]
internal unsafe struct SlotValue
{
    public ScAction BadArchAction;
    public uint SyscallEntries;
    public uint RuleEntries;
    public uint ArchEntries;
    public uint Variant;
    public fixed byte Hash[64];
}

[StructLayout(LayoutKind.Sequential)]
internal record struct ArchKey(uint Slot, uint AuditArch);

[StructLayout(LayoutKind.Sequential)]
internal struct ArchValue
{
    public ScAction DefaultAction;
    public ScAction EnosysAction;
    public uint EnosysFromNr;

    internal const uint NoEnosys = 0xffffffff;
}

[StructLayout(LayoutKind.Sequential)]
internal record struct SyscallKey(uint Slot, uint AuditArch, uint Nr);

[StructLayout(LayoutKind.Sequential)]
internal struct SyscallValue
{
    public ScAction Fallback;
    public uint RuleCount;
    public uint FirstRule;
}

[StructLayout(LayoutKind.Sequential)]
internal record struct RuleKey(uint Slot, uint Index);

[StructLayout(LayoutKind.Sequential, Size = 24)]
internal struct ArgCheckValue
{
    public ulong Value;
    public ulong Datum;
    public byte Index;
    public byte Op;
}

[StructLayout(LayoutKind.Sequential)]
internal struct RuleValue
{
    public const int MaxChecks = 6;
    public ArgChecks Checks;
    public uint CheckCount;
    public ScAction Action;

    [System.Runtime.CompilerServices.InlineArray(MaxChecks)]
    public struct ArgChecks
    {
        private ArgCheckValue _first;
    }
}

[StructLayout(LayoutKind.Sequential)]
internal struct SettingsValue
{
    public ulong BindingLevels;
    public uint EventsPerSecond;
    public uint Flags;

    internal const uint LsmPrevention = 0x1;
}

/// <summary>struct allow_bitmap: bit nr set when the slot allows syscall nr (below 512) unconditionally.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct AllowBitmap
{
    internal const int Syscalls = 512;   // SC_ALLOW_BITMAP_NRS
    internal const uint MaxSlotId = 4096; // SC_ALLOW_BITMAP_SLOTS: the map has (MaxSlotId + 1) * 2 entries
    public Words Bits;

    internal void Set(uint nr) => Bits[(int)(nr / 64)] |= 1UL << (int)(nr % 64);

    internal readonly bool IsSet(uint nr) => (Bits[(int)(nr / 64)] & (1UL << (int)(nr % 64))) != 0;

    /// <summary>The map key of a slot's bitmap for x86_64 (i386: + 1), as allowed_unconditionally computes it.</summary>
    internal static uint KeyOf(uint slot, bool i386) => slot * 2 + (i386 ? 1u : 0u);

    [System.Runtime.CompilerServices.InlineArray(Syscalls / 64)]
    internal struct Words
    {
        private ulong _element;
    }
}

/// <summary>Keys of binding_generation (SC_GEN_*).</summary>
internal static class BindingGeneration
{
    internal const uint Engine = 0;
    internal const uint Bpf = 1;
}

[StructLayout(LayoutKind.Sequential)]
internal struct GateParent
{
    public ulong Id;
    public uint Level;
    public uint Pad;
}

[StructLayout(LayoutKind.Sequential)]
internal struct GateConfig
{
    public uint Mode;
    public uint Parents;
    public ulong VouchedUntilNs;
    public GateParents Parent;

    internal const int MaxParents = 4;

    [System.Runtime.CompilerServices.InlineArray(MaxParents)]
    internal struct GateParents
    {
        private GateParent _element;
    }
}

[StructLayout(LayoutKind.Sequential)]
internal unsafe struct GateRecordValue
{
    public ulong Execs;
    public ulong Denied;
    public ulong FirstNs;
    public ulong LastNs;
    public uint LastPid;
    public uint Flags;
    public fixed byte Comm[16];

    /// <summary>SC_GATE_RECORD_BOUND: the gate bound the cgroup to the fallback profile.</summary>
    internal const uint Bound = 0x1;
}

[StructLayout(LayoutKind.Sequential)]
internal struct GateFallbackValue
{
    public uint Slot;
    public uint Pad;
}

[StructLayout(LayoutKind.Sequential)]
internal struct RateValue
{
    public ulong WindowStartNs;
    public ulong Emitted;
    public ulong Dropped;
}

[StructLayout(LayoutKind.Sequential)]
internal struct VerdictValue
{
    public uint Nr;
    public int Error;
}

[StructLayout(LayoutKind.Sequential)]
internal unsafe struct ScEvent
{
    public ulong TimestampNs;
    public ulong CgroupId;
    public ulong BoundCgroupId;
    public uint Pid;
    public uint Tid;
    public uint AuditArch;
    public uint Nr;
    public fixed ulong Args[6];
    public byte Action;
    public byte Mode;
    public ushort Data;
    public ushort Rule;
    public ushort Flags;
    public fixed byte Comm[16];
}

/// <summary>Indexes of the per-CPU counters array (enum sc_counter).</summary>
internal static class CounterIndex
{
    internal const int ActionBase = 0;
    internal const int Lookups = 8; // per-task cache misses; index 9 is reserved (managed syscalls = sum of decisions)
    internal const int Events = 10;
    internal const int RingBufferDrops = 11;
    internal const int RateDrops = 12;
    internal const int LsmDenials = 13;
    internal const int Signals = 14;
    internal const int Audited = 15;
    internal const int NoSlot = 16;
    internal const int RulesTruncated = 17;
    internal const int SignalFailures = 18;
    internal const int Count = 19;
}
