using System.Buffers;
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
        var buffer = new ArrayBufferWriter<byte>(16384);
        buffer.Write(Magic);
        Action(buffer, profile.BadArchAction);
        U32(buffer, (uint)profile.Arches.Count);
        foreach (var arch in profile.Arches.OrderBy(a => a.AuditArch))
        {
            U32(buffer, arch.AuditArch);
            Action(buffer, arch.DefaultAction);
            U32(buffer, arch.EnosysFromNr ?? uint.MaxValue);
            U8(buffer, arch.EnosysFromNr.HasValue ? (byte)1 : (byte)0);
            U32(buffer, (uint)arch.Syscalls.Count);
            foreach (var sys in arch.Syscalls.OrderBy(s => s.Nr))
            {
                U32(buffer, sys.Nr);
                Action(buffer, sys.Fallback);
                U32(buffer, (uint)sys.Rules.Count);
                foreach (var rule in sys.Rules)
                {
                    Action(buffer, rule.Action);
                    U8(buffer, (byte)rule.Checks.Count);
                    foreach (var check in rule.Checks)
                    {
                        U8(buffer, check.Index);
                        U8(buffer, (byte)check.Op);
                        U64(buffer, check.Value);
                        U64(buffer, check.Op == CompareOp.MaskedEqual ? check.Datum : 0);
                    }
                }
            }
        }
        return buffer.WrittenSpan.ToArray();
    }

    private static void Action(ArrayBufferWriter<byte> b, CompiledAction a)
    {
        U8(b, (byte)a.Kind);
        BinaryPrimitives.WriteUInt16LittleEndian(b.GetSpan(2), a.Data);
        b.Advance(2);
    }

    private static void U8(ArrayBufferWriter<byte> b, byte v)
    {
        b.GetSpan(1)[0] = v;
        b.Advance(1);
    }

    private static void U32(ArrayBufferWriter<byte> b, uint v)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(b.GetSpan(4), v);
        b.Advance(4);
    }

    private static void U64(ArrayBufferWriter<byte> b, ulong v)
    {
        BinaryPrimitives.WriteUInt64LittleEndian(b.GetSpan(8), v);
        b.Advance(8);
    }
}
