using System.Buffers.Binary;
using SeccompEbpf.Profiles.Compiled;

namespace SeccompEbpf.Profiles.Compilation;

/// <summary>The canonical byte encoding of a compiled profile; its SHA-256 is the profile hash (layout in docs/compiled-profile.md).</summary>
public static class CompiledProfileEncoding
{
    private static ReadOnlySpan<byte> Magic => "SECCOMP-EBPF-COMPILED-1\n"u8;

    /// <summary>Encodes arches by AuditArch and syscalls by Nr, so equal profiles encode (and hash) equally.</summary>
    public static byte[] Encode(CompiledProfile profile)
    {
        var buffer = new List<byte>(4096);
        buffer.AddRange(Magic.ToArray());
        Action(buffer, profile.BadArchAction);
        U32(buffer, (uint)profile.Arches.Count);
        foreach (var arch in profile.Arches.OrderBy(a => a.AuditArch))
        {
            U32(buffer, arch.AuditArch);
            Action(buffer, arch.DefaultAction);
            U32(buffer, arch.EnosysFromNr ?? uint.MaxValue);
            buffer.Add(arch.EnosysFromNr.HasValue ? (byte)1 : (byte)0);
            U32(buffer, (uint)arch.Syscalls.Count);
            foreach (var sys in arch.Syscalls.OrderBy(s => s.Nr))
            {
                U32(buffer, sys.Nr);
                Action(buffer, sys.Fallback);
                U32(buffer, (uint)sys.Rules.Count);
                foreach (var rule in sys.Rules)
                {
                    Action(buffer, rule.Action);
                    buffer.Add((byte)rule.Checks.Count);
                    foreach (var check in rule.Checks)
                    {
                        buffer.Add(check.Index);
                        buffer.Add((byte)check.Op);
                        U64(buffer, check.Value);
                        U64(buffer, check.Op == CompareOp.MaskedEqual ? check.Datum : 0);
                    }
                }
            }
        }
        return [.. buffer];
    }

    private static void Action(List<byte> b, CompiledAction a)
    {
        b.Add((byte)a.Kind);
        Span<byte> s = stackalloc byte[2];
        BinaryPrimitives.WriteUInt16LittleEndian(s, a.Data);
        b.AddRange(s.ToArray());
    }

    private static void U32(List<byte> b, uint v)
    {
        Span<byte> s = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(s, v);
        b.AddRange(s.ToArray());
    }

    private static void U64(List<byte> b, ulong v)
    {
        Span<byte> s = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(s, v);
        b.AddRange(s.ToArray());
    }
}
