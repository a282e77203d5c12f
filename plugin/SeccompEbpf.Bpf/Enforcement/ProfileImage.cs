using SeccompEbpf.Bpf.Interop;

namespace SeccompEbpf.Bpf.Enforcement;

/// <summary>The map entries of one compiled profile, slot-independent; written into a slot by the engine.</summary>
internal sealed class ProfileImage
{
    internal required string Hash { get; init; }
    /// <summary>0: enforced as compiled; 1: degraded to KILL; 2: degraded to LOG; 3: audit (slots are shared only within a variant).</summary>
    /// <remarks><see cref="FloorBit"/> marks an image planned against a kernel seccomp floor (see <see cref="FloorHash"/>).</remarks>
    internal required uint Variant { get; init; }
    /// <summary>Set in Variant when the image was planned against a floor: it may lack entries the floor makes dead.</summary>
    internal const uint FloorBit = 0x10;
    /// <summary>The floor's profile hash when planned against one: such a slot serves only containers with that floor.</summary>
    internal string? FloorHash { get; init; }
    internal required ScAction BadArchAction { get; init; }
    internal List<(uint AuditArch, ArchValue Value)> Arches { get; } = [];
    internal List<(uint AuditArch, uint Nr, SyscallValue Value)> Syscalls { get; } = [];
    /// <summary>Rules by index; a syscall's rules are contiguous from its FirstRule.</summary>
    internal List<RuleValue> Rules { get; } = [];

    internal string SlotKey => FloorHash is null ? $"{Hash}/{Variant}" : $"{Hash}/{Variant}/{FloorHash}";
}
